"""Template tags of the dispatcher's pages: the day's routes drawn as an SVG map and an SVG
timeline (no tile server is reachable), and the plan's versions. `{% load routes %}`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import time
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from core.dispatch.selectors import plan_versions

register = template.Library()


# Colour-blind-safe palette (Okabe-Ito, darkened where needed for contrast on white).
ROUTE_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#8a6d00", "#56b4e9", "#6a3d9a", "#b15928",
                 "#1b7837", "#e7298a")


@register.filter
def route_class(index: int) -> str:
    """The class giving the index-th route its colour: `.route-N { --route: ... }` in ferry.css
    (a class, not a style attribute: the Content-Security-Policy allows no inline style)."""
    return f"route-{int(index) % len(ROUTE_COLOURS)}"


@register.simple_tag
def plan_history(plan: Any) -> list[Any]:
    """Every version of the day's plan, newest first (one query), for the plan's own tenant."""
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
        shapes.append(_route_shapes(projection, route, route_class(index)))
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


def _route_shapes(projection: _Projection, route: Any, css_class: str) -> SafeString:
    clinician = route.clinician
    home = (clinician.start_lat, clinician.start_lon)
    path = [home, *((s.visit.lat, s.visit.lon) for s in route.stops), home]
    hx, hy = projection.point(*home)
    stops = format_html_join("", '<circle cx="{}" cy="{}" r="4.5"><title>{} · {} {} to {}</title></circle>', (
        (*projection.point(s.visit.lat, s.visit.lon), s.sequence, s.visit.patient_ref,
         s.planned_start.strftime("%H:%M"), s.planned_departure.strftime("%H:%M")) for s in route.stops))
    return format_html(
        '<g class="route {}"><title>{}</title>'
        '<polyline points="{}" />'
        '<rect class="home" x="{}" y="{}" width="9" height="9"><title>{} starts here</title></rect>{}</g>',
        css_class, clinician.name, _points(projection, path), hx - 4.5, hy - 4.5, clinician.name, stops)


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
        '<g class="lane {}"><text class="who" x="0" y="{}">{}</text>'
        '<rect class="shift" x="{}" y="{}" width="{}" height="22" rx="3"><title>shift {} to {}</title></rect>{}</g>',
        route_class(row), y + 15, clinician.name, left, y, right - left,
        _hhmm(clinician.shift_start), _hhmm(clinician.shift_end), mark_safe("".join(parts)))  # noqa: S308
