"""Template tags of the auditor's pages: export links that follow the filter. `{% load audit %}`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template

register = template.Library()


def _export_params(form: Any) -> dict[str, str]:
    """The history filter as the exports read it: only the fields given, times in ISO 8601
    with their offset. Empty for an unbound or invalid form (the export is then unfiltered,
    and the page shows the form's errors)."""
    if not form.is_bound or not form.is_valid():
        return {}
    params = {}
    for name, value in form.cleaned_data.items():
        if name == "before" or value in (None, ""):
            continue
        params[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return params


@register.simple_tag
def export_query(form: Any) -> str:
    """The filter as the streamed export's query string."""
    return urlencode(_export_params(form))


@register.simple_tag
def export_fields(form: Any) -> list[tuple[str, str]]:
    """The filter as hidden fields of the form that has an export made in the background."""
    return list(_export_params(form).items())
