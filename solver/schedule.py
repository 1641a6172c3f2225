"""Timing a sequence of visits for one clinician, and which clinicians may serve a visit."""

from __future__ import annotations

from collections.abc import Sequence

from solver.model import Job, Problem, Vehicle
from solver.solution import Route, Stop


def has_skills(vehicle: Vehicle, job: Job) -> bool:
    return job.required_skills <= vehicle.skills


def within_limits(vehicle: Vehicle, jobs: Sequence[Job]) -> bool:
    """True if the jobs fit the vehicle's capacity and visit count."""
    if vehicle.max_visits is not None and len(jobs) > vehicle.max_visits:
        return False
    return vehicle.capacity is None or sum(job.demand for job in jobs) <= vehicle.capacity


def time_route(problem: Problem, vehicle: Vehicle, jobs: Sequence[Job]) -> Route | None:
    """The earliest-start schedule of `jobs` in this order, or None if it is infeasible.

    Infeasible means: a window closes before the clinician can get there, the return
    misses the shift end, or capacity / max visits are exceeded (skills are not checked
    here). Each service starts as early as its window allows; the clinician leaves home
    just in time for the first visit (so never waits there), and waits on site for later
    windows when early. A clinician with no visits stays put: no travel at all.
    """
    if not jobs:
        return Route(vehicle.id, vehicle.shift_start, (), vehicle.shift_start, 0)
    if not within_limits(vehicle, jobs):
        return None
    timed = _earliest_starts(problem, vehicle, jobs)
    if timed is None:
        return None
    stops, travel, clock, here = timed
    last_leg = problem.travel[here][vehicle.return_location]
    if clock + last_leg > vehicle.shift_end:
        return None
    return Route(
        vehicle_id=vehicle.id,
        departure=_departure(problem, vehicle, stops, jobs),
        stops=_without_first_wait(stops),
        arrival=clock + last_leg,
        travel=travel + last_leg,
    )


def _earliest_starts(
    problem: Problem, vehicle: Vehicle, jobs: Sequence[Job]
) -> tuple[list[Stop], int, int, int] | None:
    """Stops timed from the shift start; None if a window is missed.

    Returns (stops, travel so far, clock at the last departure, last location).
    """
    clock, here, travel = vehicle.shift_start, vehicle.start_location, 0
    stops = []
    for job in jobs:
        leg = problem.travel[here][job.location]
        arrival = clock + leg
        start = max(arrival, job.window_start)
        if start > job.window_end:
            return None
        stops.append(Stop(job.id, arrival, start - arrival, start, start + job.duration))
        clock, here, travel = start + job.duration, job.location, travel + leg
    return stops, travel, clock, here


def _departure(problem: Problem, vehicle: Vehicle, stops: list[Stop], jobs: Sequence[Job]) -> int:
    return stops[0].start - problem.travel[vehicle.start_location][jobs[0].location]


def _without_first_wait(stops: list[Stop]) -> tuple[Stop, ...]:
    # Leaving later by the first wait changes no service time: the first visit still
    # starts when its window opens, so every later stop keeps its times.
    if stops[0].wait == 0:
        return tuple(stops)
    first = stops[0]
    return (Stop(first.job_id, first.start, 0, first.start, first.departure), *stops[1:])
