"""The Ops page's charts: the agency's outbox figures over a range, drawn as server-rendered
SVG (no script needed to read them; ops.js only refreshes them while the page is open).

Each chart is plain geometry for the template (core/ops/templates/ops/_charts.html): lines
of points in a fixed viewBox, with the ticks of both axes. Steps with no events are drawn as
zero counts and as gaps in the latency lines (nothing was measured then).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from outbox.metrics import Point, Series

WIDTH, HEIGHT = 600, 180
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 10, 24
# Latency charts are drawn on a log scale, from 1 ms to 5 minutes (the buckets' span).
LATENCY_TICKS_MS = (1, 10, 100, 1000, 10_000, 100_000)
LATENCY_MAX_MS = 300_000


@dataclass(frozen=True)
class Line:
    label: str
    tone: str  # a CSS class: the line's colour
    segments: list[str]  # "x,y x,y ..." for each unbroken run of two points or more

    @property
    def dots(self) -> list[tuple[str, str]]:
        """Points standing alone (a polyline of one point draws nothing): drawn as dots."""
        alone = [segment.split(",", 1) for segment in self.segments if " " not in segment]
        return [(x, y) for x, y in alone]


@dataclass(frozen=True)
class Tick:
    at: float
    label: str
    anchor: str = "middle"  # where the label sits on the tick (SVG text-anchor)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    unit: str
    lines: list[Line]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    total: str  # a summary in words, for the chart's text alternative
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom_y: int = HEIGHT - BOTTOM
    right_x: int = WIDTH - RIGHT


def _steps(series: Series) -> list[datetime]:
    """Every step of the range, oldest first (aligned as the rollup query aligns them)."""
    step = series.range.step_s
    first = math.floor(series.since.timestamp() / step) * step
    last = series.until.timestamp()
    return [datetime.fromtimestamp(t, tz=series.since.tzinfo) for t in range(int(first), int(last) + 1, step)]


def _x(steps: list[datetime]) -> Callable[[int], float]:
    span = max(len(steps) - 1, 1)
    return lambda i: LEFT + (WIDTH - LEFT - RIGHT) * i / span


def _y_linear(top: float) -> Callable[[float], float]:
    return lambda v: HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * (v / top if top else 0)


def _y_log(v: float) -> float:
    share = math.log10(max(min(v, LATENCY_MAX_MS), 1)) / math.log10(LATENCY_MAX_MS)
    return HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * share


def _segments(values: list[float | None], x: Callable[[int], float], y: Callable[[float], float]) -> list[str]:
    runs: list[list[str]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(f"{x(i):.1f},{y(value):.1f}")
    return [" ".join(run) for run in runs if run]


def _x_ticks(steps: list[datetime], x: Callable[[int], float], span: timedelta) -> list[Tick]:
    fmt = "%H:%M" if span <= timedelta(days=1) else "%b %d"
    local = [timezone.localtime(s) for s in steps]
    last = len(steps) - 1
    return [Tick(x(i), local[i].strftime(fmt), "start" if i == 0 else "end" if i == last else "middle")
            for i in sorted({0, len(steps) // 2, last})]


def _nice_top(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _count_chart(key: str, title: str, steps: list[datetime], x: Callable[[int], float], span: timedelta,
                 lines: list[tuple[str, str, list[float]]]) -> Chart:
    top = _nice_top(max((v for _, _, values in lines for v in values), default=0))
    y = _y_linear(top)
    totals = ", ".join(f"{label} {int(sum(values)):,}" for label, _, values in lines)
    return Chart(key, title, "events per step", [Line(label, tone, _segments(list(values), x, y))
                                                  for label, tone, values in lines],
                 [Tick(y(v), f"{v:,.0f}") for v in (0, top / 2, top)], _x_ticks(steps, x, span), totals)


def charts(series: Series) -> list[Chart]:
    """Throughput, latency and completions by queue, for the Ops page."""
    steps = _steps(series)
    index = {s: i for i, s in enumerate(steps)}
    x = _x(steps)
    by_step: dict[int, Point] = {index[p.at]: p for p in series.points if p.at in index}

    def counts(pick: Callable[[Point], int]) -> list[float]:
        return [float(pick(by_step[i])) if i in by_step else 0.0 for i in range(len(steps))]

    def latency(q: float) -> list[float | None]:
        return [by_step[i].effect_ms(q) if i in by_step else None for i in range(len(steps))]

    def lag(q: float) -> list[float | None]:
        return [by_step[i].lag_ms(q) if i in by_step else None for i in range(len(steps))]

    span = series.range.span
    throughput = _count_chart("throughput", "Events", steps, x, span, [
        ("emitted", "tone-1", counts(lambda p: p.emitted)), ("completed", "tone-2", counts(lambda p: p.completed)),
        ("retried", "tone-3", counts(lambda p: p.retried)), ("dead", "tone-bad", counts(lambda p: p.dead))])
    effect_lines = [(f"p{round(q * 100)}", tone, latency(q)) for q, tone in ((0.5, "tone-1"), (0.95, "tone-3"),
                                                                              (0.99, "tone-bad"))]
    effect_lines.append(("relay lag p95", "tone-2", lag(0.95)))  # due -> relayed, the outbox's own share
    worst = max((v for v in effect_lines[2][2] if v is not None), default=None)
    latency_chart = Chart(
        "latency", "Commit → effect", "milliseconds, log scale; and the relay's lag",
        [Line(label, tone, _segments(values, x, _y_log)) for label, tone, values in effect_lines],
        [Tick(_y_log(ms), _ms(ms)) for ms in LATENCY_TICKS_MS], _x_ticks(steps, x, span),
        f"worst p99 in the range {_ms(worst)}" if worst is not None else "no completions in the range")
    queues = sorted(series.by_queue)
    by_queue = _count_chart("queues", "Completed by queue", steps, x, span, [
        (queue, f"tone-{n % 3 + 1}", [float(series.by_queue[queue].get(s, 0)) for s in steps])
        for n, queue in enumerate(queues)])
    return [throughput, latency_chart, by_queue]


def _ms(ms: float) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"
