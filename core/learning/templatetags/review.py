"""Template tags of the reviewer's pages: a version against the live one. `{% load review %}`."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from django import template

register = template.Library()


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "del", "hunk" or "" (context)
    text: str


@register.simple_tag
def text_diff(old: str | None, new: str | None, context_lines: int = 3) -> list[DiffLine]:
    """A unified diff of two texts, line by line, for `{% text_diff a b as lines %}`."""
    lines: list[DiffLine] = []
    for line in difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(), lineterm="",
                                     n=context_lines):
        if line.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "")
        lines.append(DiffLine(kind, line))
    return lines


@register.filter
def points(reputations: dict[int, int] | None, user_id: int) -> int:
    """A person's reputation from the page's {user id: points} (0 when unknown)."""
    return (reputations or {}).get(user_id, 0)
