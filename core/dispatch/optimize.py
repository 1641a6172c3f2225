"""Optimize Day's pure part: a day's clinicians and visits in, a plan out. No database here.

The task (core/dispatch/tasks.py) loads the inputs (selectors.optimize_inputs), calls
`solve_day` outside any transaction (it takes seconds), then writes the plan in one
transaction (services.record_route_plan).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import time

from solver import Job, JobId, Problem, Solution, Vehicle, VehicleId, haversine_matrix, solve

DAY_SECONDS = 24 * 3600


def seconds_of(moment: time) -> int:
    """Seconds since midnight of a wall-clock time (the solver's time unit)."""
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def time_of(seconds: int) -> time:
    """The wall-clock time `seconds` after midnight; ValueError past the end of the day."""
    if not 0 <= seconds < DAY_SECONDS:
        raise ValueError(f"{seconds} s is not a time of day")
    return time(seconds // 3600, seconds % 3600 // 60, seconds % 60)


@dataclass(frozen=True)
class ClinicianInput:
    id: int
    skills: frozenset[str]
    shift_start: int  # seconds since midnight
    shift_end: int
    lat: float
    lon: float


@dataclass(frozen=True)
class VisitInput:
    id: int
    lat: float
    lon: float
    window_start: int  # seconds since midnight; service must start within the window
    window_end: int
    duration: int  # seconds
    required_skill: str  # "" when any clinician will do
    priority: int


@dataclass(frozen=True)
class DayInputs:
    clinicians: tuple[ClinicianInput, ...]
    visits: tuple[VisitInput, ...]


@dataclass(frozen=True)
class PlannedStop:
    visit_id: int
    clinician_id: int
    sequence: int  # 1 for the clinician's first visit
    arrival: int  # seconds since midnight
    start: int
    departure: int


@dataclass(frozen=True)
class LeftOut:
    visit_id: int
    reason: str  # a solver.UnassignedReason value
    message: str


@dataclass(frozen=True)
class DayPlan:
    """What the solver made of a day: every visit is in `stops` or in `unassigned`."""

    stops: tuple[PlannedStop, ...]
    unassigned: tuple[LeftOut, ...]
    objective: int
    solve_seconds: float
    time_limit: float
    total_travel: int
    solver_status: str
    warm_start: bool = False  # searched from the day's previous plan


def build_problem(day: DayInputs, speed_kmh: float, detour_factor: float) -> Problem:
    """The solver's problem: location i is clinician i's start, then one location per visit.

    Clinicians end their day where they started. Raises solver.ProblemError naming the
    offending value if the inputs are malformed (the write functions keep them well-formed).
    """
    points = [(c.lat, c.lon) for c in day.clinicians] + [(v.lat, v.lon) for v in day.visits]
    travel = haversine_matrix(points, speed_kmh=speed_kmh, detour_factor=detour_factor) if points else [[0]]
    vehicles = [Vehicle(c.id, start_location=i, shift_start=c.shift_start, shift_end=c.shift_end,
                        skills=c.skills) for i, c in enumerate(day.clinicians)]
    first_visit = len(day.clinicians)
    jobs = [Job(v.id, location=first_visit + j, window_start=v.window_start, window_end=v.window_end,
                duration=v.duration, required_skills=frozenset({v.required_skill} - {""}),
                priority=v.priority) for j, v in enumerate(day.visits)]
    return Problem(vehicles=vehicles, jobs=jobs, travel=travel)


def solve_day(day: DayInputs, *, time_limit: float, speed_kmh: float, detour_factor: float,
              previous: Mapping[int, list[int]] | None = None) -> DayPlan:
    """Route the day within `time_limit` seconds (one search: we run inside a Celery worker).
    `previous` (each clinician's visit ids in order, from the day's latest plan) warm-starts
    the search: what still fits keeps its place, new visits are inserted, then it improves."""
    problem = build_problem(day, speed_kmh, detour_factor)
    initial: dict[VehicleId, Sequence[JobId]] | None = (
        {clinician: visits for clinician, visits in previous.items()} if previous else None)
    solution = solve(problem, time_limit=time_limit, workers=1, initial=initial)
    return plan_of(solution, day, time_limit)


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def explain(reason: str, visit: VisitInput, solver_message: str, *, anyone_active: bool = True) -> str:
    """Why a visit was left out, in the dispatcher's terms (the solver's speaks in seconds)."""
    skill = visit.required_skill.replace("_", " ")
    able = f"with {skill}" if skill else "at all"
    window = f"{_hhmm(visit.window_start)}-{_hhmm(visit.window_end)}"
    if reason == "no_skill":
        return f"no active clinician has {skill}" if skill and anyone_active else "no clinician is active"
    if reason == "window_unreachable":
        return f"no clinician {able} can start it in {window} and be back before their shift ends"
    if reason == "dropped":
        return f"the day is full: no clinician {able} had room for it in {window}"
    return solver_message


def plan_of(solution: Solution, day: DayInputs, time_limit: float) -> DayPlan:
    stops = tuple(
        PlannedStop(visit_id=int(stop.job_id), clinician_id=int(route.vehicle_id), sequence=number,
                    arrival=stop.arrival, start=stop.start, departure=stop.departure)
        for route in solution.routes
        for number, stop in enumerate(route.stops, start=1)
    )
    visits = {visit.id: visit for visit in day.visits}
    unassigned = tuple(LeftOut(int(item.job_id), str(item.reason),
                               explain(str(item.reason), visits[int(item.job_id)], item.message,
                                       anyone_active=bool(day.clinicians)))
                       for item in solution.unassigned)
    stats = solution.stats
    return DayPlan(stops=stops, unassigned=unassigned, objective=stats.objective,
                   solve_seconds=stats.solve_seconds, time_limit=time_limit,
                   total_travel=solution.total_travel, solver_status=stats.status, warm_start=stats.warm_start)
