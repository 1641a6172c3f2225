"""Timing a sequence of visits for one clinician, and which clinicians may serve a visit."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from solver.model import Break, Job, Problem, Vehicle
from solver.solution import Route, Stop, TakenBreak


def has_skills(vehicle: Vehicle, job: Job) -> bool:
    return job.required_skills <= vehicle.skills


def within_limits(vehicle: Vehicle, jobs: Sequence[Job]) -> bool:
    """True if the jobs fit the vehicle's capacity and visit count."""
    if vehicle.max_visits is not None and len(jobs) > vehicle.max_visits:
        return False
    return vehicle.capacity is None or sum(job.demand for job in jobs) <= vehicle.capacity


def time_route(problem: Problem, vehicle: Vehicle, jobs: Sequence[Job]) -> Route | None:
    """The earliest-start schedule of `jobs` in this order, or None if it is infeasible.

    Infeasible means: a window closes before the clinician can get there, a break cannot
    be fitted into its window, the return misses the shift end plus allowed overtime, or
    capacity / max visits are exceeded (skills are not checked here). Each service starts
    as early as its window allows; the clinician leaves home just in time for the first
    visit (so never waits there), and waits on site for later windows when early. A
    clinician with no visits stays put: no travel at all, no breaks.

    Breaks: every placement is tried (before leaving, in each gap between two services,
    after getting back) and the one that gets the clinician home earliest is kept. In a
    gap the clinician travels first and rests on arrival when the break window allows
    (so a wait absorbs the break), otherwise rests first.
    """
    if not jobs:
        return Route(vehicle.id, vehicle.shift_start, (), vehicle.shift_start, 0)
    if not within_limits(vehicle, jobs):
        return None
    best: _Timeline | None = None
    rests = breaks_in_order(vehicle)
    for placement in _placements(len(jobs), len(rests)):
        timeline = _timeline(problem, vehicle, jobs, list(zip(placement, rests, strict=True)))
        if timeline is not None and (best is None or timeline.arrival < best.arrival):
            best = timeline
    if best is None:
        return None
    return Route(
        vehicle_id=vehicle.id,
        departure=best.departure,
        stops=best.stops,
        arrival=best.arrival,
        travel=best.travel,
        breaks=best.breaks,
        overtime=max(0, best.arrival - vehicle.shift_end),
    )


def breaks_in_order(vehicle: Vehicle) -> list[Break]:
    """The vehicle's breaks in the order they are taken (and listed in its Route)."""
    return sorted(vehicle.breaks, key=lambda rest: (rest.window_start, rest.window_end))


@dataclass(frozen=True)
class _Timeline:
    departure: int
    stops: tuple[Stop, ...]
    arrival: int
    travel: int
    breaks: tuple[TakenBreak, ...]


# A placement gives each break (in the vehicle's order) a slot: -1 before leaving home,
# g in 0..n-1 on the way to the g-th visit, n on the way home, n + 1 after getting back.
Placement = tuple[int, ...]


def _placements(stop_count: int, break_count: int) -> list[Placement]:
    if break_count == 0:
        return [()]
    slots = range(-1, stop_count + 2)
    return list(itertools.combinations_with_replacement(slots, break_count))


def _timeline(
    problem: Problem, vehicle: Vehicle, jobs: Sequence[Job], rests: list[tuple[int, Break]]
) -> _Timeline | None:
    """Earliest times of the route with each break in its slot; None if infeasible."""
    taken: list[TakenBreak] = []
    clock, here, travel = vehicle.shift_start, vehicle.start_location, 0
    stops: list[Stop] = []
    for g, job in enumerate(jobs):
        leg = problem.travel[here][job.location]
        leg_end = _travel_with_breaks(clock, leg, [b for s, b in rests if s == g], taken)
        if leg_end is None:
            return None
        arrival, ready = leg_end
        start = max(ready, job.window_start)
        if start > job.window_end:
            return None
        stops.append(Stop(job.id, arrival, start - arrival, start, start + job.duration))
        clock, here, travel = start + job.duration, job.location, travel + leg
    leg = problem.travel[here][vehicle.return_location]
    home_rests = [b for s, b in rests if s == len(jobs)]
    leg_end = _travel_with_breaks(clock, leg, home_rests, taken, rest_on_arrival=False)
    if leg_end is None:
        return None
    arrival = leg_end[1]
    if arrival > vehicle.latest_return:
        return None
    first_leg = problem.travel[vehicle.start_location][jobs[0].location]
    if any(slot == 0 for slot, _ in rests):
        departure = vehicle.shift_start  # a break on the way: leave at the shift start
    else:
        # Leave just in time: the first visit still starts when it did, so every later
        # stop keeps its times, and there is no wait at the first visit.
        departure = stops[0].start - first_leg
        first = stops[0]
        stops[0] = Stop(first.job_id, first.start, 0, first.start, first.departure)
    before = [b for s, b in rests if s == -1]
    after = [b for s, b in rests if s == len(jobs) + 1]
    off_road = _off_road(before, vehicle.shift_start, departure, after, arrival)
    if off_road is None:
        return None
    breaks = sorted([*taken, *off_road], key=lambda t: t.start)  # the breaks' order, too
    return _Timeline(departure, tuple(stops), arrival, travel + leg, tuple(breaks))


def _travel_with_breaks(
    clock: int,
    leg: int,
    rests: list[Break],
    taken: list[TakenBreak],
    rest_on_arrival: bool = True,
) -> tuple[int, int] | None:
    """Travel `leg` from `clock` and take `rests` on the way: (arrival, ready) or None.

    `ready` is when the clinician can start serving (after any break taken on site).
    """
    if not rests:
        return clock + leg, clock + leg
    first = rests[0]
    if rest_on_arrival and max(clock + leg, first.window_start) <= first.window_end:
        arrival = clock + leg
        ready = _rest(arrival, rests, taken)
        return None if ready is None else (arrival, ready)
    ready = _rest(clock, rests, taken)
    return None if ready is None else (ready + leg, ready + leg)


def _rest(clock: int, rests: list[Break], taken: list[TakenBreak]) -> int | None:
    for rest in rests:
        start = max(clock, rest.window_start)
        if start > rest.window_end:
            return None
        taken.append(TakenBreak(start, start + rest.duration))
        clock = start + rest.duration
    return clock


def _off_road(
    before: list[Break], shift_start: int, departure: int, after: list[Break], arrival: int
) -> list[TakenBreak] | None:
    """Breaks taken before leaving home or after getting back, or None if they do not fit."""
    result: list[TakenBreak] = []
    clock = shift_start
    for rest in before:
        start = max(clock, rest.window_start)
        if start > rest.window_end or start + rest.duration > departure:
            return None
        result.append(TakenBreak(start, start + rest.duration))
        clock = start + rest.duration
    if _rest(arrival, after, result) is None:
        return None
    return result
