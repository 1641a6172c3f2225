"""Large days by parts: improve a complete plan a few neighbouring routes at a time.

One OR-Tools local search over 1,000 visits is too slow to improve anything within
minutes (ADR 0026): each descent after a perturbation scans neighbourhoods of the whole
day. A search over ~100 visits and the dozen clinicians who serve them is the size the
solver is strong at. So a large day is planned in two steps:

1. a complete plan: a previous plan repaired, or OR-Tools' cheapest-insertion
   construction over the whole day;
2. until the deadline: pick a route (or the route nearest a visit still left out), add the
   routes whose centres are nearest until the part holds about `PART_JOBS` visits, add the
   left-out visits nearest those routes, and search that part alone, starting from its
   current routes. The part's search never returns worse than it started, so the whole
   plan only improves.

Every constraint carries over unchanged (skills, windows, shifts, breaks, overtime, pins,
preferences, disruption), because a part is an ordinary Problem of the part's own
clinicians and visits.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from solver.model import Job, Problem, VehicleId
from solver.ortools_model import PlanCosts
from solver.screening import Screening
from solver.warm_start import Plan

# Above this many routable jobs, solve() plans by parts. Measured (ADR 0026): at 400
# customers (Gehring-Homberger C1_4_1, 60 s) the whole-day search reaches the best known
# and parts left 8 out; at 500 visits and beyond, parts route more.
DECOMPOSE_ABOVE = 450
# The size of a part: visits, and at most this many clinicians.
PART_JOBS = 100
PART_MAX_VEHICLES = 14
# Seconds of search per part (less when the deadline is nearer).
PART_SECONDS = 3.0
# How often a part is centred on a visit still left out (while any is), rather than on the
# next route in a shuffled round.
UNPLANNED_SEED_SHARE = 0.9
MIN_PART_SECONDS = 1.0
# A part around a visit left out holds this many of the clinicians able to serve it.
ABLE_IN_PART = 5


@dataclass(frozen=True)
class Part:
    """A sub-problem: `vehicles` and `jobs` are the whole problem's indices, in part order."""

    problem: Problem
    screening: Screening
    plan: Plan
    plan_costs: PlanCosts | None
    vehicles: tuple[int, ...]
    jobs: tuple[int, ...]


# Searches one part until the deadline; returns its routes (part job indices) or None.
PartSearch = Callable[[Part, float], Sequence[Sequence[int]] | None]


@dataclass
class PartsReport:
    parts: int = 0
    improved: int = 0


def improve_by_parts(
    problem: Problem,
    screening: Screening,
    plan: Plan,
    plan_costs: PlanCosts | None,
    deadline: float,
    seed: int,
    search: PartSearch,
    improved: Callable[[], None] = lambda: None,
) -> PartsReport:
    """Improve `plan` in place, part by part, until `deadline` (time.monotonic()).

    `improved` is called after each part whose result was taken into the plan."""
    rng = random.Random(seed)  # noqa: S311 - a search seed, not a secret
    report = PartsReport()
    order: list[int] = []
    while deadline - time.monotonic() > MIN_PART_SECONDS:
        if not order:
            order = list(range(len(problem.vehicles)))
            rng.shuffle(order)
        centres = _centres(problem, plan)
        unplanned = sorted(set(screening.candidates) - {j for route in plan for j in route})
        target = None
        if unplanned and rng.random() < UNPLANNED_SEED_SHARE:
            target = rng.choice(unplanned)
            seed_vehicle = _nearest_vehicle(problem, screening, centres, target)
        else:
            seed_vehicle = order.pop()
        part = make_part(
            problem, screening, plan, plan_costs, centres, seed_vehicle, unplanned, target
        )
        before = sum(len(route) for route in part.plan)
        until = min(deadline, time.monotonic() + PART_SECONDS)
        routes = search(part, until)
        report.parts += 1
        if routes is not None and sum(len(r) for r in routes) >= before:
            for k, v in enumerate(part.vehicles):
                plan[v] = [part.jobs[j] for j in routes[k]]
            report.improved += 1
            improved()
    return report


def construct_by_parts(
    problem: Problem,
    screening: Screening,
    plan: Plan,
    plan_costs: PlanCosts | None,
    construct: PartSearch,
    deadline: float,
) -> None:
    """Fill an empty `plan` group by group: clinicians whose homes are near each other, and
    the visits whose nearest able clinician is one of them, built by `construct`."""
    centres = _centres(problem, plan)
    remaining = list(range(len(problem.vehicles)))
    groups: list[list[int]] = []
    while remaining:
        seed = remaining[0]
        remaining.sort(key=lambda v: problem.travel[centres[seed]][centres[v]])
        groups.append(remaining[:PART_MAX_VEHICLES])
        remaining = remaining[PART_MAX_VEHICLES:]
    group_of = {v: g for g, members in enumerate(groups) for v in members}
    visits: list[list[int]] = [[] for _ in groups]
    for j in sorted(screening.candidates):
        visits[group_of[_nearest_vehicle(problem, screening, centres, j)]].append(j)
    for members, jobs in zip(groups, visits, strict=True):
        if time.monotonic() >= deadline:
            return
        part = _part(problem, screening, plan, plan_costs, tuple(members), tuple(jobs))
        routes = construct(part, deadline)
        if routes is not None:
            for k, v in enumerate(part.vehicles):
                plan[v] = [part.jobs[j] for j in routes[k]]


def _centres(problem: Problem, plan: Plan) -> list[int]:
    """Per vehicle, the location at the middle of its route (its start location if idle)."""
    centres = []
    for v, route in enumerate(plan):
        if route:
            centres.append(problem.jobs[route[len(route) // 2]].location)
        else:
            centres.append(problem.vehicles[v].start_location)
    return centres


def _nearest_vehicle(problem: Problem, screening: Screening, centres: list[int], j: int) -> int:
    here = problem.jobs[j].location
    return min(screening.candidates[j], key=lambda v: problem.travel[here][centres[v]])


def make_part(
    problem: Problem,
    screening: Screening,
    plan: Plan,
    plan_costs: PlanCosts | None,
    centres: list[int],
    seed_vehicle: int,
    unplanned: list[int],
    target: int | None = None,
) -> Part:
    """The seed vehicle's route, the nearest routes, and the left-out visits nearest them.

    With a `target` (a visit left out), the part starts with the routes nearest it of the
    clinicians able to serve it: a visit needing a rare skill gets those clinicians, and
    their neighbours to take over the visits anyone can do."""
    travel = problem.travel
    nearest = sorted(range(len(plan)), key=lambda v: travel[centres[seed_vehicle]][centres[v]])
    if target is not None:
        here = problem.jobs[target].location
        able = sorted(screening.candidates[target], key=lambda v: travel[here][centres[v]])
        first = able[:ABLE_IN_PART]
        nearest = first + [v for v in nearest if v not in first]
    vehicles: list[int] = []
    count = 0
    for v in nearest:
        if count >= PART_JOBS or len(vehicles) >= PART_MAX_VEHICLES:
            break
        vehicles.append(v)
        count += len(plan[v])
    chosen = set(vehicles)
    extra = [
        j
        for j in unplanned
        if chosen & set(screening.candidates[j])
        and _nearest_vehicle(problem, screening, centres, j) in chosen
    ]
    jobs = [j for v in vehicles for j in plan[v]] + extra
    return _part(problem, screening, plan, plan_costs, tuple(vehicles), tuple(jobs))


def _part(
    problem: Problem,
    screening: Screening,
    plan: Plan,
    plan_costs: PlanCosts | None,
    vehicles: tuple[int, ...],
    jobs: tuple[int, ...],
) -> Part:
    locations: dict[int, int] = {}
    for v in vehicles:
        vehicle = problem.vehicles[v]
        for where in (vehicle.start_location, vehicle.return_location):
            locations.setdefault(where, len(locations))
    for j in jobs:
        locations.setdefault(problem.jobs[j].location, len(locations))
    order = list(locations)
    travel = [[problem.travel[a][b] for b in order] for a in order]
    vehicle_at = {v: k for k, v in enumerate(vehicles)}
    ids = {problem.vehicles[v].id for v in vehicles}
    part_vehicles = [
        replace(
            problem.vehicles[v],
            start_location=locations[problem.vehicles[v].start_location],
            end_location=locations[problem.vehicles[v].return_location],
        )
        for v in vehicles
    ]
    part_jobs = [_part_job(problem.jobs[j], locations, ids) for j in jobs]
    job_at = {j: k for k, j in enumerate(jobs)}
    part_screening = Screening(
        candidates={
            k: tuple(vehicle_at[v] for v in screening.candidates[j] if v in vehicle_at)
            for k, j in enumerate(jobs)
        },
        rejected=(),
    )
    part_plan = [[job_at[j] for j in plan[v]] for v in vehicles]
    return Part(
        problem=Problem(part_vehicles, part_jobs, travel),
        screening=part_screening,
        plan=part_plan,
        plan_costs=_part_costs(plan_costs, vehicle_at, job_at),
        vehicles=vehicles,
        jobs=jobs,
    )


def _part_job(job: Job, locations: dict[int, int], ids: set[VehicleId]) -> Job:
    preferred = job.preferred & ids
    # Preferred clinicians outside the part cost every part clinician the same: no weight.
    return replace(
        job,
        location=locations[job.location],
        preferred=preferred,
        preference_weight=job.preference_weight if preferred else 0,
    )


def _part_costs(
    plan_costs: PlanCosts | None, vehicle_at: dict[int, int], job_at: dict[int, int]
) -> PlanCosts | None:
    if plan_costs is None:
        return None
    # A job whose previous clinician is outside the part moves whoever serves it: -1 is
    # nobody's index, so every part vehicle pays the move cost alike.
    return PlanCosts(
        previous_vehicle={
            job_at[j]: vehicle_at.get(v, -1)
            for j, v in plan_costs.previous_vehicle.items()
            if j in job_at
        },
        previous_start={
            job_at[j]: start for j, start in plan_costs.previous_start.items() if j in job_at
        },
        move_cost=plan_costs.move_cost,
        delay_cost=plan_costs.delay_cost,
    )
