"""Before searching: which clinicians could serve each visit on its own, and why not."""

from __future__ import annotations

from dataclasses import dataclass

from solver.model import Job, Problem, ProblemError
from solver.schedule import has_skills, time_route, within_limits
from solver.solution import UnassignedJob, UnassignedReason


@dataclass(frozen=True)
class Screening:
    """`candidates[j]` lists the vehicle indices that could serve job index j alone.

    Jobs nobody can serve are absent from `candidates` and listed in `rejected` with the
    first reason that rules them out, in the order: skills, capacity, time.
    """

    candidates: dict[int, tuple[int, ...]]
    rejected: tuple[UnassignedJob, ...]


def screen_jobs(problem: Problem) -> Screening:
    """Raises ProblemError if a pinned job cannot be served by its vehicle even alone."""
    candidates: dict[int, tuple[int, ...]] = {}
    rejected = []
    vehicle_index = {vehicle.id: v for v, vehicle in enumerate(problem.vehicles)}
    for index, job in enumerate(problem.jobs):
        able = range(len(problem.vehicles))
        if job.pinned_to is not None:
            able = range(vehicle_index[job.pinned_to], vehicle_index[job.pinned_to] + 1)
        vehicles, rejection = _screen(problem, job, able)
        if rejection is None:
            candidates[index] = vehicles
        elif job.pinned_to is not None:
            raise ProblemError(
                f"jobs[{index}].pinned_to",
                f"job {job.id!r} is pinned to {job.pinned_to!r}, who cannot serve it: "
                f"{rejection.message}",
            )
        else:
            rejected.append(rejection)
    return Screening(candidates, tuple(rejected))


def _screen(
    problem: Problem, job: Job, able: range
) -> tuple[tuple[int, ...], UnassignedJob | None]:
    skilled = [i for i in able if has_skills(problem.vehicles[i], job)]
    if not skilled:
        return (), _reject(job, UnassignedReason.NO_SKILL, _no_skill_message(job))
    roomy = [i for i in skilled if within_limits(problem.vehicles[i], [job])]
    if not roomy:
        return (), _reject(
            job,
            UnassignedReason.OVER_CAPACITY,
            f"demand {job.demand} exceeds the capacity (or visit limit) of every clinician "
            "with the required skills",
        )
    reachable = tuple(i for i in roomy if time_route(problem, problem.vehicles[i], [job]))
    if not reachable:
        return (), _reject(
            job,
            UnassignedReason.WINDOW_UNREACHABLE,
            f"no skilled clinician's shift can reach the window "
            f"[{job.window_start}, {job.window_end}] and return before the shift ends",
        )
    return reachable, None


def _no_skill_message(job: Job) -> str:
    skills = ", ".join(sorted(job.required_skills))
    return f"no clinician has all of the required skills: {skills}"


def _reject(job: Job, reason: UnassignedReason, message: str) -> UnassignedJob:
    return UnassignedJob(job.id, reason, message)
