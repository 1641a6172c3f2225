from __future__ import annotations

from typing import Any

from django import forms

from core.platform.errors import Invalid
from core.platform.forms import TimeWindowForm
from core.privacy.models import ReadKind
from core.privacy.selectors import ReadFilter
from outbox.models import Status
from outbox.selectors import PAYLOAD_FILTER_CHARS, HistoryFilter, PayloadMatch

BIGINT_MAX = 2**63 - 1


class HistoryFilterForm(TimeWindowForm):
    """The history page's filters."""

    event_type = forms.CharField(required=False, max_length=100, label="Event type")
    aggregate_type = forms.CharField(required=False, max_length=50, label="Aggregate type")
    aggregate_id = forms.CharField(required=False, max_length=64, label="Aggregate id")
    status = forms.ChoiceField(required=False, choices=[("", "any"), *Status.choices])
    actor_id = forms.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX, label="Actor id")
    payload = forms.CharField(required=False, max_length=PAYLOAD_FILTER_CHARS, label="Payload",
                              help_text='payload.KEY = VALUE; text with spaces in "double quotes"',
                              widget=forms.TextInput(attrs={"placeholder": "payload.visit_id = 42",
                                                            "aria-describedby": "help-payload"}))
    before = forms.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX, widget=forms.HiddenInput)

    def clean_payload(self) -> PayloadMatch | None:
        """`payload.KEY = VALUE` read (outbox.selectors.PayloadMatch), or None if left empty."""
        written: str = self.cleaned_data.get("payload") or ""
        if not written:
            return None
        try:
            return PayloadMatch.parse(written)
        except Invalid as refused:
            raise forms.ValidationError(refused.message) from None

    def filters(self) -> HistoryFilter:
        return HistoryFilter(**self.given(
            "since", "until", "event_type", "aggregate_type", "aggregate_id", "status", "actor_id", "payload"))


class ReadFilterForm(TimeWindowForm):
    """The read audit page's filters: who, what kind of read, about what, which visit."""

    user_id = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="User")
    kind = forms.ChoiceField(required=False, choices=[("", "any"), *ReadKind.choices])
    subject = forms.CharField(required=False, max_length=64, label="Subject (date or id)")
    visit_id = forms.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX, label="Visit id")
    before = forms.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX, widget=forms.HiddenInput)

    def __init__(self, data: Any, users: list[tuple[int, str]]) -> None:
        """`users`: (id, name) of the tenant's people, whom the User filter offers."""
        super().__init__(data)
        self.fields["user_id"].choices = [("", "anyone"), *users]  # type: ignore[attr-defined]

    def filters(self) -> ReadFilter:
        return ReadFilter(**self.given("since", "until", "user_id", "kind", "subject", "visit_id"))


class TraceForm(forms.Form):
    """What a trace page follows: an event's trace, a trace id (around a time), or an aggregate."""

    event = forms.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)
    trace = forms.CharField(required=False, max_length=64)
    at = forms.DateTimeField(required=False)
    aggregate_type = forms.CharField(required=False, max_length=50)
    aggregate_id = forms.CharField(required=False, max_length=64)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        given = [bool(data.get("event")), bool(data.get("trace")),
                 bool(data.get("aggregate_type") and data.get("aggregate_id"))]
        if sum(given) != 1:
            raise forms.ValidationError("Give one of: an event, a trace id, or an aggregate (its type and id).")
        return data
