"""Template tags of the web UI: the global navigation by role, status badges, and the
dispatcher's drawn routes (an SVG map and an SVG timeline; no tile server is reachable).

`{% load ferry %}` in a template. The sections are also what the home page lists.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import time
from typing import Any

from django import template
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from core.roles import Role

register = template.Library()


# --- navigation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """A part of the UI one or more roles work in: what the main navigation links to."""

    key: str
    label: str
    url_name: str
    roles: frozenset[Role]  # empty: platform staff only
    summary: str
    namespace: str
    url_names: frozenset[str] = frozenset()  # the namespace's pages that belong here; empty: all

    def admits(self, user: Any) -> bool:
        if not self.roles:
            return bool(user.is_staff)
        return bool(getattr(user, "tenant_id", None)) and bool(self.roles & user.roles)

    def contains(self, namespace: str, url_name: str) -> bool:
        return namespace == self.namespace and (not self.url_names or url_name in self.url_names)


_LEARNER_PAGES = frozenset({"index", "problem", "lesson"})

SECTIONS: tuple[Section, ...] = (
    Section("dispatch", "Dispatch", "dispatch:index", frozenset({Role.DISPATCHER}),
            "Clinicians and visits of a day, Optimize Day, routes as they arrive.", "dispatch"),
    Section("review", "Review", "learning:review_queue", frozenset({Role.REVIEWER}),
            "The review queue, drafts and their diffs; approve, publish, roll back.", "learning",
            frozenset({"review_queue", "new_content", "new_version", "version"})),
    # Reviewers read the published catalogue too (the learning pages admit them).
    Section("learn", "Learn", "learning:index", frozenset({Role.LEARNER, Role.REVIEWER}),
            "Published lessons and problems; submit code and see the grade live.", "learning", _LEARNER_PAGES),
    Section("search", "Search", "learning:search", frozenset({Role.LEARNER, Role.REVIEWER}),
            "Search published lessons and problems.", "learning", frozenset({"search"})),
    Section("audit", "Audit", "audit:history", frozenset({Role.AUDITOR}),
            "The outbox history: filter, open an event, export CSV or JSON lines.", "audit"),
    Section("ops", "Ops", "ops:index", frozenset({Role.OPS}),
            "Outbox lag, queue depths, workers, dead letters, heal runs.", "ops"),
    Section("admin", "Admin", "admin:index", frozenset(),
            "Django admin: everything, including periodic schedules.", "admin"),
)


def sections_for(user: Any) -> list[Section]:
    """The sections `user` may open, in navigation order (none for strangers)."""
    if not getattr(user, "is_authenticated", False):
        return []
    return [section for section in SECTIONS if section.admits(user)]


def current_section(request: HttpRequest | None) -> str:
    """The key of the section the request's page belongs to ("" if none)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    namespace, url_name = match.namespace or "", match.url_name or ""
    return next((s.key for s in SECTIONS if s.contains(namespace, url_name)), "")


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    current: bool


@register.inclusion_tag("core/_nav.html", takes_context=True)
def main_nav(context: template.Context) -> dict[str, Any]:
    """The signed-in user's sections, the one of this page marked current."""
    request = context.get("request")
    user = context.get("user")
    here = current_section(request)
    return {"items": [NavItem(s.label, reverse(s.url_name), s.key == here) for s in sections_for(user)]}


# --- status badges --------------------------------------------------------------------------------

# Every status word the pages show, by tone (the stylesheet colours tones, not words).
_TONES = {
    "good": ("done", "passed", "succeeded", "completed", "approved", "approve", "ok", "live", "alive"),
    "bad": ("failed", "error", "timed_out", "dead", "lost", "rejected", "reject", "unreachable"),
    "busy": ("running", "relayed", "in_review"),
    "waiting": ("queued", "pending", "draft", "changes_requested", "request_changes", "retrying"),
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
    import json

    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


# --- dispatch: the route map and timeline ---------------------------------------------------------

# Colour-blind-safe palette (Okabe-Ito, darkened where needed for contrast on white).
ROUTE_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#8a6d00", "#56b4e9", "#6a3d9a", "#b15928",
                 "#1b7837", "#e7298a")


@register.filter
def route_colour(index: int) -> str:
    return ROUTE_COLOURS[int(index) % len(ROUTE_COLOURS)]


@register.simple_tag
def plan_history(plan: Any) -> list[Any]:
    """Every version of the day's plan, newest first (one query), for the plan's own tenant."""
    from core.dispatch.selectors import plan_versions

    return plan_versions(plan.tenant_id, plan.date) if plan is not None else []


@dataclass(frozen=True)
class _Projection:
    """Equirectangular projection of a small area onto a `width` x `height` box, centred,
    with a margin. A degree of longitude is shorter than one of latitude away from the
    equator, hence `factor`."""

    min_lat: float
    max_lat: float
    min_lon: float
    factor: float
    scale: float
    x0: float
    y0: float
    width: int
    height: int

    @classmethod
    def around(cls, points: Sequence[tuple[float, float]], width: int, margin: int = 14) -> _Projection:
        lats, lons = [p[0] for p in points], [p[1] for p in points]
        factor = math.cos(math.radians((min(lats) + max(lats)) / 2))
        x_span = max((max(lons) - min(lons)) * factor, 1e-4)
        y_span = max(max(lats) - min(lats), 1e-4)
        height = int(min(max(width * y_span / x_span, width * 0.45), width * 0.85))
        inner_w, inner_h = width - 2 * margin, height - 2 * margin
        scale = min(inner_w / x_span, inner_h / y_span)
        return cls(min(lats), max(lats), min(lons), factor, scale, margin + (inner_w - x_span * scale) / 2,
                   margin + (inner_h - y_span * scale) / 2, width, height)

    def point(self, lat: float, lon: float) -> tuple[float, float]:
        return (round(self.x0 + (lon - self.min_lon) * self.factor * self.scale, 1),
                round(self.y0 + (self.max_lat - lat) * self.scale, 1))


def _points(projection: _Projection, coordinates: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{x},{y}" for x, y in (projection.point(lat, lon) for lat, lon in coordinates))


@register.simple_tag
def route_map(board: Any, width: int = 640) -> SafeString:
    """The day drawn as SVG: each clinician's route from their start, in their colour;
    visits not routed as hollow grey circles, left-out visits as red crosses."""
    plan = board.plan
    routes = list(plan.routes) if plan else []
    starts = [(r.clinician.start_lat, r.clinician.start_lon) for r in routes]
    visits = [visit for visit, _ in board.visits]
    points = starts + [(v.lat, v.lon) for v in visits]
    if not points:
        return mark_safe("")
    projection = _Projection.around(points, width)
    routed = {stop.visit_id for route in routes for stop in route.stops}
    left_out = {item.visit_id for item in (plan.unassigned if plan else [])}
    shapes: list[SafeString] = []
    for index, route in enumerate(routes):
        shapes.append(_route_shapes(projection, route, ROUTE_COLOURS[index % len(ROUTE_COLOURS)]))
    for visit in visits:
        if visit.pk in routed:
            continue
        x, y = projection.point(visit.lat, visit.lon)
        if visit.pk in left_out:
            shapes.append(format_html(
                '<g class="left-out"><title>{} left out</title><path d="M{} {}l8 8m0 -8l-8 8" /></g>',
                visit.patient_ref, x - 4, y - 4))
        else:
            shapes.append(format_html('<circle class="unrouted" cx="{}" cy="{}" r="4"><title>{}</title></circle>',
                                      x, y, visit.patient_ref))
    return format_html(
        '<svg class="route-map" viewBox="0 0 {} {}" role="img" aria-labelledby="route-map-title">'
        '<title id="route-map-title">Map of {} visits{}</title>{}</svg>',
        projection.width, projection.height, len(visits),
        f" and {len(routes)} routes" if routes else "", mark_safe("".join(shapes)))  # noqa: S308 - escaped parts


def _route_shapes(projection: _Projection, route: Any, colour: str) -> SafeString:
    clinician = route.clinician
    home = (clinician.start_lat, clinician.start_lon)
    path = [home, *((s.visit.lat, s.visit.lon) for s in route.stops), home]
    hx, hy = projection.point(*home)
    stops = format_html_join("", '<circle cx="{}" cy="{}" r="4.5"><title>{} · {} {} to {}</title></circle>', (
        (*projection.point(s.visit.lat, s.visit.lon), s.sequence, s.visit.patient_ref,
         s.planned_start.strftime("%H:%M"), s.planned_departure.strftime("%H:%M")) for s in route.stops))
    return format_html(
        '<g class="route" style="--route: {}"><title>{}</title>'
        '<polyline points="{}" />'
        '<rect class="home" x="{}" y="{}" width="9" height="9"><title>{} starts here</title></rect>{}</g>',
        colour, clinician.name, _points(projection, path), hx - 4.5, hy - 4.5, clinician.name, stops)


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


@register.simple_tag
def route_timeline(plan: Any, width: int = 900) -> SafeString:
    """Each clinician's day as one SVG row on a shared hour scale: the shift, travel (a thin
    line), waiting for a window to open (dotted), and each visit from its start to departure."""
    routes = list(plan.routes) if plan else []
    if not routes:
        return mark_safe("")
    edges = [_minutes(t) for r in routes for t in (r.clinician.shift_start, r.clinician.shift_end)]
    edges += [_minutes(t) for r in routes for s in r.stops for t in (s.planned_arrival, s.planned_departure)]
    scale = _HourScale(min(edges) // 60 * 60, -(-max(edges) // 60) * 60, width)
    parts: list[SafeString] = [format_html(
        '<g class="hour"><line x1="{0}" x2="{0}" y1="{1}" y2="{2}" /><text x="{0}" y="12">{3}</text></g>',
        scale.x(m), _TOP - 4, _TOP + _ROW * len(routes), f"{m // 60:02d}:00")
        for m in range(scale.first, scale.last + 1, 60)]
    parts += [_lane(scale, row, route) for row, route in enumerate(routes)]
    return format_html('<svg class="route-timeline" viewBox="0 0 {} {}" role="img" aria-label="{}">{}</svg>',
                       width, _TOP + _ROW * len(routes) + 4, f"Timeline of {len(routes)} routes",
                       mark_safe("".join(parts)))  # noqa: S308 - escaped parts


_TOP, _ROW, _LABEL_W = 20, 26, 150


@dataclass(frozen=True)
class _HourScale:
    first: int  # minutes since midnight, on the hour
    last: int
    width: int

    def x(self, minutes: int) -> float:
        span = max(self.last - self.first, 60)
        return round(_LABEL_W + (self.width - _LABEL_W - 24) * (minutes - self.first) / span, 1)


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def _lane(scale: _HourScale, row: int, route: Any) -> SafeString:
    y = _TOP + row * _ROW
    clinician = route.clinician
    left, right = scale.x(_minutes(clinician.shift_start)), scale.x(_minutes(clinician.shift_end))
    parts: list[SafeString] = []
    previous: time | None = None
    for stop in route.stops:
        arrive, start, leave = (scale.x(_minutes(t)) for t in
                                (stop.planned_arrival, stop.planned_start, stop.planned_departure))
        if previous is not None:
            parts.append(format_html('<line class="travel" x1="{}" x2="{}" y1="{}" y2="{}" />',
                                     scale.x(_minutes(previous)), arrive, y + 11, y + 11))
        if start > arrive:
            parts.append(format_html('<line class="wait" x1="{}" x2="{}" y1="{}" y2="{}" />',
                                     arrive, start, y + 11, y + 11))
        parts.append(format_html(
            '<rect class="visit" x="{}" y="{}" width="{}" height="14" rx="2">'
            '<title>{}. {}: arrives {}, starts {}, leaves {}</title></rect>',
            start, y + 4, max(leave - start, 2), stop.sequence, stop.visit.patient_ref,
            _hhmm(stop.planned_arrival), _hhmm(stop.planned_start), _hhmm(stop.planned_departure)))
        previous = stop.planned_departure
    return format_html(
        '<g class="lane" style="--route: {}"><text class="who" x="0" y="{}">{}</text>'
        '<rect class="shift" x="{}" y="{}" width="{}" height="22" rx="3"><title>shift {} to {}</title></rect>{}</g>',
        ROUTE_COLOURS[row % len(ROUTE_COLOURS)], y + 15, clinician.name, left, y, right - left,
        _hhmm(clinician.shift_start), _hhmm(clinician.shift_end), mark_safe("".join(parts)))  # noqa: S308


# --- review: a version against the live one -------------------------------------------------------


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "del", "hunk" or "" (context)
    text: str


@register.simple_tag
def text_diff(old: str | None, new: str | None, context_lines: int = 3) -> list[DiffLine]:
    """A unified diff of two texts, line by line, for `{% text_diff a b as lines %}`."""
    import difflib

    lines: list[DiffLine] = []
    for line in difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(), lineterm="",
                                     n=context_lines):
        if line.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "")
        lines.append(DiffLine(kind, line))
    return lines


# --- audit: the export links follow the filter ----------------------------------------------------


@register.simple_tag
def export_query(form: Any) -> str:
    """The history filter as the export API reads it: only the fields given, times in ISO 8601
    with their offset. Empty for an unbound or invalid form (the export is then unfiltered,
    and the page shows the form's errors)."""
    from urllib.parse import urlencode

    if not form.is_bound or not form.is_valid():
        return ""
    params = {}
    for name, value in form.cleaned_data.items():
        if name == "before" or value in (None, ""):
            continue
        params[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return urlencode(params)
