"""Turning a previous plan into a complete, feasible starting plan for today's problem.

The dispatcher edits a few visits and re-optimises: most of yesterday's plan is still
good. Repair keeps each clinician's previous order for the jobs that still exist and
still fit, then inserts the jobs the old plan lacks at their cheapest feasible position.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from solver.model import JobId, Problem, VehicleId
from solver.schedule import time_route
from solver.screening import Screening
from solver.solution import Solution

Plan = list[list[int]]  # per vehicle (problem order), job indices in visiting order
# A plan as an application stores it: each vehicle's job ids in visiting order.
PreviousRoutes = Mapping[VehicleId, Sequence[JobId]]


def repair_plan(
    problem: Problem, screening: Screening, previous: Solution | PreviousRoutes, deadline: float | None = None
) -> Plan:
    """A feasible plan as close to `previous` as cheap repairs allow.

    Jobs of `previous` that no longer exist, moved to a clinician who cannot serve them,
    or whose new window breaks the route are dropped from their route; then every
    routable job not yet planned is inserted greedily (highest priority first) where it
    adds the least travel. Jobs that fit nowhere stay out; the search may place them.
    Insertion stops at `deadline` (time.monotonic()): a plan unrelated to today's jobs
    would otherwise cost a quadratic Python loop; the search places what is left.
    """
    job_index = {job.id: i for i, job in enumerate(problem.jobs)}
    previous_routes = routes_of(previous)
    plan: Plan = []
    planned: set[int] = set()
    for v, vehicle in enumerate(problem.vehicles):
        wanted = [job_index[j] for j in previous_routes.get(vehicle.id, ()) if j in job_index]
        route = _keep_what_fits(problem, screening, v, wanted, planned)
        plan.append(route)
        planned.update(route)
    _insert_unplanned(problem, screening, plan, planned, deadline)
    return plan


def routes_of(previous: Solution | PreviousRoutes) -> PreviousRoutes:
    """Each vehicle's job ids in order, from a Solution or as given."""
    if isinstance(previous, Mapping):
        return previous
    return {route.vehicle_id: route.job_ids for route in previous.routes}


def _keep_what_fits(
    problem: Problem, screening: Screening, v: int, wanted: list[int], planned: set[int]
) -> list[int]:
    vehicle = problem.vehicles[v]
    route: list[int] = []
    for j in wanted:
        if j in planned or j in route or v not in screening.candidates.get(j, ()):
            continue
        if time_route(problem, vehicle, [problem.jobs[k] for k in [*route, j]]) is not None:
            route.append(j)
    return route


def _insert_unplanned(
    problem: Problem, screening: Screening, plan: Plan, planned: set[int], deadline: float | None
) -> None:
    unplanned = [j for j in screening.candidates if j not in planned]
    unplanned.sort(key=lambda j: (-problem.jobs[j].priority, problem.jobs[j].window_end))
    travel = [_route_travel(problem, v, route) for v, route in enumerate(plan)]
    for j in unplanned:
        if deadline is not None and time.monotonic() > deadline:
            return
        best = _cheapest_insertion(problem, screening, plan, travel, j)
        if best is not None:
            added, v, position = best
            plan[v].insert(position, j)
            travel[v] += added
            planned.add(j)


def _cheapest_insertion(
    problem: Problem, screening: Screening, plan: Plan, travel: list[int], j: int
) -> tuple[int, int, int] | None:
    """(added travel, vehicle, position) of the cheapest feasible insertion, or None."""
    best: tuple[int, int, int] | None = None
    for v in screening.candidates[j]:
        route = plan[v]
        for position in range(len(route) + 1):
            candidate = [*route[:position], j, *route[position:]]
            timed = time_route(problem, problem.vehicles[v], [problem.jobs[k] for k in candidate])
            if timed is not None and (best is None or timed.travel - travel[v] < best[0]):
                best = (timed.travel - travel[v], v, position)
    return best


def _route_travel(problem: Problem, v: int, route: list[int]) -> int:
    timed = time_route(problem, problem.vehicles[v], [problem.jobs[k] for k in route])
    return 0 if timed is None else timed.travel
