"""Form pieces pages of several apps share."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms


class TimeWindowForm(forms.Form):
    """A time window (From, Until) of a filter form (GET); errors are shown beside their field."""

    since = forms.DateTimeField(required=False, label="From",
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(required=False, label="Until",
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

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
            self.add_error("until", f"Must be after {self.fields['since'].label}.")
        return data

    def given(self, *fields: str) -> dict[str, Any]:
        """The cleaned values of `fields`, None where the field was left empty."""
        return {field: self.cleaned_data.get(field) or None for field in fields}
