"""The ops pages' forms: the filter of a bulk action on dead letters."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from core.ops.models import BulkAction
from core.platform.forms import TimeWindowForm
from outbox.selectors import DeadLetterFilter

# A confirmation acts on the letters counted by a preview at most this old: past it, the
# operator looks again at what they are about to change.
PREVIEW_FRESH_S = 3600


class BulkActionForm(TimeWindowForm):
    """Which open dead letters (every field narrows, none is required), and what to do with them."""

    field_order = ("action", "event_type", "task_name", "fingerprint", "since", "until")

    action = forms.ChoiceField(choices=BulkAction.Kind.choices, initial=BulkAction.Kind.REDRIVE,
                               widget=forms.RadioSelect, required=False)
    event_type = forms.CharField(required=False, max_length=100, label="Event type")
    task_name = forms.CharField(required=False, max_length=200, label="Task")
    fingerprint = forms.RegexField(required=False, regex=r"^[0-9a-f]{32}$", label="Cause (fingerprint)",
                                   error_messages={"invalid": "Not a cause of the Dead letters by cause table."})
    since = forms.DateTimeField(required=False, label="Died from",
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(required=False, label="Died before",
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    # The moment the preview counted the letters: the confirmation acts on no later ones.
    as_of = forms.DateTimeField(required=False, widget=forms.HiddenInput)

    def clean_action(self) -> str:
        """Redrive unless discard is chosen (a link to the page names only the filter)."""
        return str(self.cleaned_data.get("action") or BulkAction.Kind.REDRIVE)

    def chosen(self, tenant_id: int, as_of: dt.datetime | None = None) -> DeadLetterFilter:
        data = self.cleaned_data
        return DeadLetterFilter(tenant_id, event_type=data.get("event_type") or None,
                                task_name=data.get("task_name") or None, fingerprint=data.get("fingerprint") or None,
                                since=data.get("since"), until=data.get("until"), as_of=as_of)

    def confirmed_as_of(self) -> dt.datetime | None:
        """The preview's moment, if it is recent enough to act on; None otherwise."""
        as_of: dt.datetime | None = self.cleaned_data.get("as_of")
        now = timezone.now()
        if as_of is None or not now - dt.timedelta(seconds=PREVIEW_FRESH_S) <= as_of <= now:
            return None
        return as_of
