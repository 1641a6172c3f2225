"""An independent check that a Solution obeys its Problem.

Deliberately shares no code with the search or the scheduler: it reads the times the
solution claims and verifies each constraint from the problem's data, so a bug in the
code that builds solutions cannot also hide in the code that checks them.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from solver.model import Job, JobId, Problem, Vehicle, VehicleId
from solver.solution import Route, Solution, Stop, UnassignedReason


class ViolationKind(StrEnum):
    UNKNOWN_VEHICLE = "unknown_vehicle"
    UNKNOWN_JOB = "unknown_job"
    JOB_REPEATED = "job_repeated"  # visited twice, or both visited and listed unassigned
    JOB_MISSING = "job_missing"  # neither visited nor listed unassigned
    SKILL = "skill"
    TIME_WINDOW = "time_window"
    TRAVEL_TIME = "travel_time"  # arrives sooner than the travel time allows
    SERVICE_TIME = "service_time"  # leaves before the service is done, or starts before arriving
    SHIFT = "shift"  # outside the shift, or back later than the shift end plus overtime
    BREAK = "break"  # a break missing, outside its window, during a visit, or with no room
    PINNED = "pinned"  # a pinned job served by another vehicle, or left out
    CAPACITY = "capacity"
    MAX_VISITS = "max_visits"
    TOTALS = "totals"  # reported travel does not add up
    REASON = "reason"  # an unassigned reason contradicted by the problem


@dataclass(frozen=True)
class Violation:
    kind: ViolationKind
    message: str
    vehicle_id: VehicleId | None = None
    job_id: JobId | None = None


class InfeasibleSolutionError(Exception):
    """A solution broke its problem's constraints; `violations` lists how."""

    def __init__(self, violations: list[Violation]) -> None:
        shown = "; ".join(v.message for v in violations[:5])
        more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
        super().__init__(f"{len(violations)} violation(s): {shown}{more}")
        self.violations = violations


def check_solution(problem: Problem, solution: Solution) -> list[Violation]:
    """Every violation found; an empty list means the solution is feasible."""
    checker = _Checker(problem)
    for route in solution.routes:
        checker.check_route(route)
    checker.check_coverage(solution)
    checker.check_total(solution)
    return checker.violations


def assert_feasible(problem: Problem, solution: Solution) -> None:
    """Raise InfeasibleSolutionError unless check_solution finds nothing."""
    violations = check_solution(problem, solution)
    if violations:
        raise InfeasibleSolutionError(violations)


class _Checker:
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.vehicles = {v.id: v for v in problem.vehicles}
        self.jobs = {j.id: j for j in problem.jobs}
        self.visits: Counter[JobId] = Counter()
        self.seen_vehicles: set[VehicleId] = set()
        self.violations: list[Violation] = []

    def flag(
        self,
        kind: ViolationKind,
        message: str,
        vehicle_id: VehicleId | None = None,
        job_id: JobId | None = None,
    ) -> None:
        self.violations.append(Violation(kind, message, vehicle_id, job_id))

    def check_route(self, route: Route) -> None:
        vehicle = self.vehicles.get(route.vehicle_id)
        if vehicle is None or route.vehicle_id in self.seen_vehicles:
            self.flag(
                ViolationKind.UNKNOWN_VEHICLE,
                f"route for unknown or repeated vehicle {route.vehicle_id!r}",
                route.vehicle_id,
            )
            return
        self.seen_vehicles.add(route.vehicle_id)
        if not route.stops:
            self._check_idle(route)
            return
        jobs = self._route_jobs(route)
        if jobs is None:
            return
        self._check_timeline(vehicle, route, jobs)
        self._check_breaks(vehicle, route, jobs)
        self._check_skills(vehicle, jobs)
        self._check_limits(vehicle, jobs)
        self._check_pins(vehicle, jobs)

    def _check_idle(self, route: Route) -> None:
        # A clinician without visits does not leave home, whatever the end location.
        if route.travel != 0:
            self.flag(
                ViolationKind.TOTALS,
                f"idle {route.vehicle_id!r} reports travel {route.travel}",
                route.vehicle_id,
            )

    def _route_jobs(self, route: Route) -> list[Job] | None:
        """The route's jobs, or None (after flagging them) if it visits unknown ones."""
        for stop in route.stops:
            self.visits[stop.job_id] += 1
        unknown = [stop.job_id for stop in route.stops if stop.job_id not in self.jobs]
        for job_id in unknown:
            self.flag(
                ViolationKind.UNKNOWN_JOB,
                f"route of {route.vehicle_id!r} visits unknown job {job_id!r}",
                route.vehicle_id,
                job_id,
            )
        return None if unknown else [self.jobs[stop.job_id] for stop in route.stops]

    def _check_timeline(self, vehicle: Vehicle, route: Route, jobs: list[Job]) -> None:
        vid = vehicle.id
        if route.departure < vehicle.shift_start:
            self.flag(ViolationKind.SHIFT, f"{vid!r} leaves before the shift starts", vid)
        clock, here, travel = route.departure, vehicle.start_location, 0
        for stop, job in zip(route.stops, jobs, strict=True):
            leg = self.problem.travel[here][job.location]
            self._check_stop(vid, job, stop, earliest_arrival=clock + leg)
            clock, here, travel = stop.departure, job.location, travel + leg
        last_leg = self.problem.travel[here][vehicle.return_location]
        if route.arrival < clock + last_leg:
            self.flag(
                ViolationKind.TRAVEL_TIME, f"{vid!r} gets home sooner than travel allows", vid
            )
        latest = vehicle.shift_end + vehicle.max_overtime
        if route.arrival > latest:
            self.flag(
                ViolationKind.SHIFT,
                f"{vid!r} gets home at {route.arrival}, after the shift end plus overtime ({latest})",
                vid,
            )
        elif route.overtime != max(0, route.arrival - vehicle.shift_end):
            self.flag(
                ViolationKind.TOTALS,
                f"route of {vid!r} reports overtime {route.overtime}, it gets home at "
                f"{route.arrival} and the shift ends at {vehicle.shift_end}",
                vid,
            )
        if route.travel != travel + last_leg:
            self.flag(
                ViolationKind.TOTALS,
                f"route of {vid!r} reports travel {route.travel}, its legs add up to "
                f"{travel + last_leg}",
                vid,
            )

    def _check_stop(self, vid: VehicleId, job: Job, stop: Stop, earliest_arrival: int) -> None:
        arrival, wait, start, departure = stop.arrival, stop.wait, stop.start, stop.departure
        if arrival < earliest_arrival:
            self.flag(
                ViolationKind.TRAVEL_TIME,
                f"{vid!r} arrives at {job.id!r} at {arrival}, travel allows {earliest_arrival}",
                vid,
                job.id,
            )
        if wait < 0 or start != arrival + wait or departure < start + job.duration:
            self.flag(
                ViolationKind.SERVICE_TIME,
                f"{vid!r} at {job.id!r}: arrival {arrival} + wait {wait} must equal start "
                f"{start}, and departure {departure} must allow the {job.duration} service",
                vid,
                job.id,
            )
        if not job.window_start <= start <= job.window_end:
            self.flag(
                ViolationKind.TIME_WINDOW,
                f"{vid!r} starts {job.id!r} at {start}, outside "
                f"[{job.window_start}, {job.window_end}]",
                vid,
                job.id,
            )

    def _check_breaks(self, vehicle: Vehicle, route: Route, jobs: list[Job]) -> None:
        """Each break taken once, in its window, for its duration, never during a visit, and
        with enough time around it to travel: a gap between two services (or between leaving
        home, the services and getting back) must hold its leg plus the breaks inside it."""
        vid = vehicle.id
        wanted = sorted(vehicle.breaks, key=lambda rest: (rest.window_start, rest.window_end))
        taken = sorted(route.breaks, key=lambda t: t.start)
        if len(taken) != len(wanted):
            self.flag(ViolationKind.BREAK, f"{vid!r} takes {len(taken)} of {len(wanted)} breaks", vid)
            return
        for rest, interval in zip(wanted, taken, strict=True):
            if interval.end - interval.start != rest.duration or not (
                rest.window_start <= interval.start <= rest.window_end
            ):
                self.flag(
                    ViolationKind.BREAK,
                    f"{vid!r} rests [{interval.start}, {interval.end}); the break must start in "
                    f"[{rest.window_start}, {rest.window_end}] and last {rest.duration}",
                    vid,
                )
        for earlier, later in itertools.pairwise(taken):
            if later.start < earlier.end:
                self.flag(ViolationKind.BREAK, f"{vid!r} takes two breaks at once", vid)
        locations = [vehicle.start_location, *(job.location for job in jobs), vehicle.return_location]
        bounds = [route.departure]
        for stop in route.stops:
            bounds += [stop.start, stop.departure]
        bounds.append(route.arrival)
        gaps = list(zip(bounds[::2], bounds[1::2], strict=True))  # (leave, next service or home)
        for interval in taken:
            if interval.end <= route.departure or interval.start >= route.arrival:
                continue  # off the road: before leaving home or after getting back
            if not any(a <= interval.start and interval.end <= b for a, b in gaps):
                self.flag(
                    ViolationKind.BREAK,
                    f"{vid!r} rests [{interval.start}, {interval.end}) during a visit or across "
                    "leaving or getting home",
                    vid,
                )
        for k, (a, b) in enumerate(gaps):
            resting = sum(t.end - t.start for t in taken if a <= t.start and t.end <= b)
            leg = self.problem.travel[locations[k]][locations[k + 1]]
            if resting and b - a < leg + resting:
                self.flag(
                    ViolationKind.BREAK,
                    f"{vid!r} has {b - a} between {a} and {b} for a {leg} leg and {resting} of breaks",
                    vid,
                )

    def _check_pins(self, vehicle: Vehicle, jobs: list[Job]) -> None:
        for job in jobs:
            if job.pinned_to is not None and job.pinned_to != vehicle.id:
                self.flag(
                    ViolationKind.PINNED,
                    f"{job.id!r} is pinned to {job.pinned_to!r} but served by {vehicle.id!r}",
                    vehicle.id,
                    job.id,
                )

    def _check_skills(self, vehicle: Vehicle, jobs: list[Job]) -> None:
        for job in jobs:
            missing = job.required_skills - vehicle.skills
            if missing:
                self.flag(
                    ViolationKind.SKILL,
                    f"{vehicle.id!r} lacks {', '.join(sorted(missing))} for {job.id!r}",
                    vehicle.id,
                    job.id,
                )

    def _check_limits(self, vehicle: Vehicle, jobs: list[Job]) -> None:
        load = sum(job.demand for job in jobs)
        if vehicle.capacity is not None and load > vehicle.capacity:
            self.flag(
                ViolationKind.CAPACITY,
                f"{vehicle.id!r} carries {load}, capacity {vehicle.capacity}",
                vehicle.id,
            )
        if vehicle.max_visits is not None and len(jobs) > vehicle.max_visits:
            self.flag(
                ViolationKind.MAX_VISITS,
                f"{vehicle.id!r} makes {len(jobs)} visits, limit {vehicle.max_visits}",
                vehicle.id,
            )

    def check_coverage(self, solution: Solution) -> None:
        for item in solution.unassigned:
            self.visits[item.job_id] += 1
            job = self.jobs.get(item.job_id)
            if job is None:
                self.flag(ViolationKind.UNKNOWN_JOB, f"unknown job {item.job_id!r} unassigned")
            elif job.pinned_to is not None:
                self.flag(
                    ViolationKind.PINNED, f"{job.id!r} is pinned but left out", job_id=job.id
                )
            elif item.reason is UnassignedReason.NO_SKILL and self._someone_has_skills(job):
                self.flag(
                    ViolationKind.REASON,
                    f"{job.id!r} is unassigned for lack of skill, but a clinician has them",
                    job_id=job.id,
                )
        for job_id, count in self.visits.items():
            if count > 1 and job_id in self.jobs:
                self.flag(
                    ViolationKind.JOB_REPEATED, f"{job_id!r} appears {count} times", job_id=job_id
                )
        for job_id in self.jobs.keys() - self.visits.keys():
            self.flag(
                ViolationKind.JOB_MISSING,
                f"{job_id!r} is neither routed nor unassigned",
                job_id=job_id,
            )

    def _someone_has_skills(self, job: Job) -> bool:
        return any(job.required_skills <= v.skills for v in self.problem.vehicles)

    def check_total(self, solution: Solution) -> None:
        routed = sum(route.travel for route in solution.routes)
        if solution.total_travel != routed:
            self.flag(
                ViolationKind.TOTALS,
                f"total travel {solution.total_travel} differs from the routes' sum {routed}",
            )
