"""Re-planning part-way through a day: what is done stays, what is left may move.

`as_of(problem, previous, at, ...)` turns the day's problem and the plan being followed into
the problem of the rest of the day at time `at`:

- every visit the plan started before `at` is pinned to its clinician at its planned start
  (it is under way or done), with its duration stretched where it is running over;
- every other visit may not start before `at`;
- a clinician who is out from `at` (a sick call) keeps the visits already started, then
  goes home: the shift ends once the last of them is over and the clinician is back.

Solve the result with `initial=` the previous plan and a `Disruption`, so the new plan
stays close to the old one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from solver.model import Job, JobId, Problem, Vehicle, VehicleId

# The plan being followed: per clinician, (job id, planned start) in visiting order.
FollowedPlan = Mapping[VehicleId, Sequence[tuple[JobId, int]]]


@dataclass(frozen=True)
class RestOfDay:
    problem: Problem
    pinned: frozenset[JobId]
    """The visits under way or done at `at`, which stay where they are."""


def as_of(
    problem: Problem,
    previous: FollowedPlan,
    at: int,
    *,
    out_from: Mapping[VehicleId, int] | None = None,
    running_until: Mapping[JobId, int] | None = None,
) -> RestOfDay:
    """The rest of the day from `at`. `out_from` gives clinicians who stop working at a time
    (their started visits are kept); `running_until` gives visits that will end later than
    planned (their new end)."""
    out_from = out_from or {}
    running_until = running_until or {}
    jobs = {job.id: job for job in problem.jobs}
    working = {vehicle.id for vehicle in problem.vehicles}
    pinned: dict[JobId, tuple[VehicleId, int]] = {}
    for vehicle_id, stops in previous.items():
        if vehicle_id not in working:
            continue  # no longer in the day (deactivated): what they had is planned afresh
        for job_id, start in stops:
            if job_id in jobs and start < at:
                pinned[job_id] = (vehicle_id, start)
    new_jobs = [_rest_of(job, pinned.get(job.id), at, running_until.get(job.id)) for job in problem.jobs]
    by_id = {job.id: job for job in new_jobs}
    vehicles = [
        _shift_until(problem, vehicle, out_from[vehicle.id], [by_id[j] for j, _ in previous.get(vehicle.id, ())
                                                              if j in pinned])
        if vehicle.id in out_from else vehicle
        for vehicle in problem.vehicles
    ]
    return RestOfDay(Problem(vehicles, new_jobs, problem.travel), frozenset(pinned))


def with_absences(problem: Problem, out_from: Mapping[VehicleId, int]) -> Problem:
    """The whole day with each clinician in `out_from` working only until that time (not at
    all when it is before their shift): what a plan made before a sick call must respect."""
    if not out_from:
        return problem
    vehicles = [_shift_until(problem, v, out_from[v.id], []) if v.id in out_from else v for v in problem.vehicles]
    return Problem(vehicles, problem.jobs, problem.travel)


def _rest_of(job: Job, pin: tuple[VehicleId, int] | None, at: int, until: int | None) -> Job:
    if pin is not None:
        vehicle_id, start = pin
        duration = max(job.duration, until - start) if until is not None else job.duration
        return replace(job, pinned_to=vehicle_id, window_start=start, window_end=start, duration=duration)
    if job.window_end < at:
        return replace(job, window_start=job.window_end)  # too late now: screening says why
    return replace(job, window_start=max(job.window_start, at))


def _shift_until(problem: Problem, vehicle: Vehicle, out: int, kept: list[Job]) -> Vehicle:
    """The shift of a clinician who stops at `out`: long enough for the kept visits and home."""
    end = max(vehicle.shift_start, min(out, vehicle.shift_end))
    if kept:
        last = kept[-1]
        end = max(end, last.window_start + last.duration + problem.travel[last.location][vehicle.return_location])
    breaks = tuple(rest for rest in vehicle.breaks if rest.window_end + rest.duration <= end)
    return replace(vehicle, shift_end=end, max_overtime=0, breaks=breaks)
