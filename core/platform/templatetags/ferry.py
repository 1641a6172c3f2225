"""Template tags every page may use: status badges, durations for people, JSON for people,
links to an object's trace.

`{% load ferry %}` in a template.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.platform.channels import STREAM_PATH
from core.platform.roles import Role

register = template.Library()


# --- status badges --------------------------------------------------------------------------------

# Every status word the pages show, by tone (the stylesheet colours tones, not words).
_TONES = {
    "good": ("done", "passed", "succeeded", "completed", "approved", "approve", "ok", "live", "alive", "ready"),
    "bad": ("failed", "error", "timed_out", "dead", "lost", "rejected", "reject", "unreachable", "confirmed"),
    "busy": ("running", "relayed", "in_review", "building", "processing"),
    "waiting": ("queued", "pending", "draft", "changes_requested", "request_changes", "retrying", "open"),
}
TONE_OF = {word: tone for tone, words in _TONES.items() for word in words}


@register.filter
def tone(status: object) -> str:
    """The badge tone of a status word: good, bad, busy, waiting or neutral."""
    return TONE_OF.get(str(status), "neutral")


@register.simple_tag
def badge(status: object, label: object = None) -> SafeString:
    """A status badge: `{% badge run.status %}`."""
    word = str(status)
    return format_html('<span class="badge badge-{}" data-status="{}">{}</span>', tone(word), word,
                       str(label) if label is not None else word.replace("_", " "))


@register.filter
def age(seconds: object) -> str:
    """A duration for people: "0 s", "4.2 s", "3 min 5 s", "2 h 10 min" (as ops.js writes it)."""
    try:
        value = max(float(str(seconds)), 0.0)
    except ValueError:
        return "—"
    if value < 10:
        return f"{value:.1f} s" if value else "0 s"
    if value < 60:
        return f"{value:.0f} s"
    if value < 3600:
        return f"{int(value // 60)} min {int(value % 60)} s"
    return f"{int(value // 3600)} h {int(value % 3600 // 60)} min"


@register.filter
def pretty_json(value: object) -> str:
    """A JSON value as indented JSON text (payloads are JSON; Python's repr is not)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.simple_tag
def live_stream_url(position: object = None) -> str:
    """Where the page's EventSource connects (the live stream is served beside Django's URLs).
    Given the stream position its view read before its data (outbox.reader.current_position),
    the stream first replays every event committed after it, so nothing that happens between
    rendering and connecting is missed."""
    if position is None or position == "":
        return STREAM_PATH
    return f"{STREAM_PATH}?{urlencode({'last_event_id': str(position)})}"


# --- links to the trace page ----------------------------------------------------------------------

# Who may open the trace page (core/audit/views.py trace).
TRACE_READERS = frozenset({Role.AUDITOR, Role.OPS, Role.OPS_VIEWER})


@register.simple_tag(takes_context=True)
def may_trace(context: dict[str, Any]) -> bool:
    """Whether the signed-in user may open the trace page (`{% may_trace as tracer %}`)."""
    user = context.get("user")
    return bool(user is not None and getattr(user, "tenant_id", None) and TRACE_READERS & set(user.roles))


@register.simple_tag(takes_context=True)
def trace_link(context: dict[str, Any], aggregate_type: str, aggregate_id: object, label: str = "Trace") -> str:
    """A link to the whole path of an object's latest events (`{% trace_link "submission" s.id %}`),
    for users who may read traces; nothing for the others."""
    if not may_trace(context):
        return ""
    query = urlencode({"aggregate_type": aggregate_type, "aggregate_id": str(aggregate_id)})
    return format_html('<a class="trace-link small" href="{}?{}">{}</a>', reverse("audit:trace"), query, label)
