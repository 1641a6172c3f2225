"""Template tags of the site shell: the main navigation by role. `{% load shell %}`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template
from django.urls import reverse

from core.web.sections import current_section, sections_for

register = template.Library()


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    current: bool


@register.inclusion_tag("web/_nav.html", takes_context=True)
def main_nav(context: template.Context) -> dict[str, Any]:
    """The signed-in user's sections, the one of this page marked current."""
    request = context.get("request")
    user = context.get("user")
    here = current_section(request)
    return {"items": [NavItem(s.label, reverse(s.url_name), s.key == here) for s in sections_for(user)]}
