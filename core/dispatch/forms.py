"""Forms of the dispatch pages. They check types; the write functions check the domain rules
and name the field, and `save_with` puts their message next to that field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms

from core.dispatch.models import Clinician, Priority, Skill, Visit
from core.platform.errors import DomainError

T = TypeVar("T")

SKILL_CHOICES = [("", "None"), *Skill.choices]


class _TimeInput(forms.TimeInput):
    input_type = "time"


class _DateInput(forms.DateInput):
    input_type = "date"


def _coordinate() -> forms.FloatField:
    return forms.FloatField(widget=forms.NumberInput(attrs={"step": "any"}))


class VisitForm(forms.Form):
    patient_ref = forms.CharField(label="Patient reference", max_length=64)
    date = forms.DateField(widget=_DateInput)
    window_start = forms.TimeField(label="Window opens", widget=_TimeInput)
    window_end = forms.TimeField(label="Window closes", widget=_TimeInput)
    duration_minutes = forms.IntegerField(label="Duration (minutes)")
    required_skill = forms.ChoiceField(choices=SKILL_CHOICES, required=False)
    priority = forms.TypedChoiceField(choices=Priority.choices, coerce=int, initial=Priority.ROUTINE)
    status = forms.ChoiceField(choices=Visit.Status.choices, initial=Visit.Status.SCHEDULED)
    lat = _coordinate()
    lon = _coordinate()
    preferred_clinicians = forms.TypedMultipleChoiceField(
        label="Preferred clinicians (the patient's usual ones)", coerce=int, required=False,
        widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, tenant_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["preferred_clinicians"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = list(Clinician.objects.filter(tenant_id=tenant_id).order_by("name", "id")
                             .values_list("id", "name"))

    def clean_preferred_clinicians(self) -> tuple[int, ...]:
        return tuple(self.cleaned_data["preferred_clinicians"])


class ClinicianForm(forms.Form):
    name = forms.CharField(max_length=200)
    skills = forms.MultipleChoiceField(choices=Skill.choices, required=False, widget=forms.CheckboxSelectMultiple)
    shift_start = forms.TimeField(widget=_TimeInput)
    shift_end = forms.TimeField(widget=_TimeInput)
    start_lat = _coordinate()
    start_lon = _coordinate()
    active = forms.BooleanField(required=False, initial=True)
    break_minutes = forms.IntegerField(label="Lunch break (minutes, empty or 0 for none)", required=False)
    break_start = forms.TimeField(label="Break may start from", widget=_TimeInput, required=False)
    break_end = forms.TimeField(label="Break must start by", widget=_TimeInput, required=False)
    max_overtime_minutes = forms.IntegerField(label="Overtime allowed (minutes)", required=False)

    def clean_break_minutes(self) -> int:
        return self.cleaned_data["break_minutes"] or 0

    def clean_max_overtime_minutes(self) -> int:
        return self.cleaned_data["max_overtime_minutes"] or 0


class SickForm(forms.Form):
    from_time = forms.TimeField(label="Out sick from", widget=_TimeInput)


class RunningOverForm(forms.Form):
    until = forms.TimeField(label="Runs over until", widget=_TimeInput)


def save_with(form: forms.Form, write: Callable[[dict[str, Any]], T]) -> T | None:
    """Call `write` with the cleaned data if the form is valid; None (errors on the form,
    under the field the domain error names) if it is not or the write refused it."""
    if not form.is_valid():
        return None
    try:
        return write(form.cleaned_data)
    except DomainError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return None


class ScheduleForm(forms.Form):
    """A recurring Optimize Day: cron in the agency's time zone, or every N minutes."""

    name = forms.CharField(max_length=100)
    cron = forms.CharField(required=False, max_length=100, label="Cron (minute hour day month weekday)",
                           help_text='In the agency\'s time zone, e.g. "0 17 * * 1-5": weekdays at 17:00.')
    every_minutes = forms.IntegerField(required=False, label="Or every N minutes")
    days_ahead = forms.IntegerField(initial=1, label="Optimize the day this many days after the run")
    priority = forms.IntegerField(initial=5, label="Priority (0 first, 9 last)")
    enabled = forms.BooleanField(required=False, initial=True)
