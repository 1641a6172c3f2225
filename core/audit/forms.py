from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

from outbox.models import Status
from outbox.selectors import HistoryFilter

BIGINT_MAX = 2**63 - 1


class HistoryFilterForm(forms.Form):
    """The history page's filters (GET); errors are shown beside their field."""

    since = forms.DateTimeField(required=False, label="From",
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(required=False, label="Until",
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    event_type = forms.CharField(required=False, max_length=100, label="Event type")
    aggregate_type = forms.CharField(required=False, max_length=50, label="Aggregate type")
    aggregate_id = forms.CharField(required=False, max_length=64, label="Aggregate id")
    status = forms.ChoiceField(required=False, choices=[("", "any"), *Status.choices])
    actor_id = forms.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX, label="Actor id")
    before = forms.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX, widget=forms.HiddenInput)

    def clean_since(self) -> dt.datetime | None:
        return self._in_utc("since")

    def clean_until(self) -> dt.datetime | None:
        return self._in_utc("until")

    def _in_utc(self, field: str) -> dt.datetime | None:
        """The time in UTC: PostgreSQL accepts UTC offsets up to ±15:59 only, and a time near
        year 1 or 9999 may not survive the conversion."""
        value: dt.datetime | None = self.cleaned_data.get(field)
        if value is None:
            return None
        try:
            return value.astimezone(dt.UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError("Out of range.") from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            self.add_error("until", "Must be after From.")
        return data

    def filters(self) -> HistoryFilter:
        data = self.cleaned_data
        return HistoryFilter(**{field: data.get(field) or None for field in (
            "since", "until", "event_type", "aggregate_type", "aggregate_id", "status", "actor_id")})
