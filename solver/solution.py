"""What the solver returns: timed routes, unassigned jobs with reasons, search statistics.

`Solution.to_dict()` gives plain JSON-able data (Dispatch stores it from a Celery task);
`Solution.from_dict()` reads it back, e.g. to warm-start the next solve.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from solver.model import JobId, VehicleId


class UnassignedReason(StrEnum):
    """Why a job is not in any route."""

    NO_SKILL = "no_skill"
    """No clinician holds every required skill."""
    WINDOW_UNREACHABLE = "window_unreachable"
    """Every skilled clinician's shift makes the window unreachable (or the return too late)."""
    OVER_CAPACITY = "over_capacity"
    """The job's demand (or any visit at all) exceeds every skilled clinician's limits."""
    DROPPED = "dropped"
    """Servable alone, but the search found no room for it next to the others it kept."""


@dataclass(frozen=True)
class Stop:
    """One visit in a route. `start` is when service begins: `arrival + wait`."""

    job_id: JobId
    arrival: int
    wait: int
    start: int
    departure: int


@dataclass(frozen=True)
class TakenBreak:
    """When one of the vehicle's breaks is taken: [start, end)."""

    start: int
    end: int


@dataclass(frozen=True)
class Route:
    """One clinician's day: leaves at `departure`, visits `stops` in order, back at `arrival`.

    `travel` is the route's total travel time. A clinician with no stops has an empty
    route that departs and arrives at the shift start. `breaks` holds one TakenBreak per
    break of the vehicle, in the vehicle's order (none for an idle clinician); `overtime`
    is how long after the shift end the clinician gets back.
    """

    vehicle_id: VehicleId
    departure: int
    stops: tuple[Stop, ...]
    arrival: int
    travel: int
    breaks: tuple[TakenBreak, ...] = ()
    overtime: int = 0

    @property
    def job_ids(self) -> tuple[JobId, ...]:
        return tuple(stop.job_id for stop in self.stops)


@dataclass(frozen=True)
class UnassignedJob:
    job_id: JobId
    reason: UnassignedReason
    message: str


@dataclass(frozen=True)
class SearchStats:
    """How the search went.

    `objective` is what the search minimised: total travel plus the penalties of dropped
    jobs. `status` is one of: "solved" (the search ran to its limit), "trivial" (nothing
    to route), "no_solution" (OR-Tools found nothing in time; everything is unassigned).
    `stopped_by` says which limit ended the search: "time", "solutions" or "none".
    `workers` counts the searches whose answers were compared (0 when none ran).
    """

    objective: int
    first_solution_objective: int | None
    solve_seconds: float
    status: str
    stopped_by: str
    workers: int
    seed: int
    warm_start: bool
    improvements: tuple[tuple[float, int], ...] = ()
    """(seconds since solve() began, objective) each time the best objective improved."""


@dataclass(frozen=True)
class Solution:
    """One route per vehicle (in the problem's order), the jobs left out, and the stats."""

    routes: tuple[Route, ...]
    unassigned: tuple[UnassignedJob, ...]
    total_travel: int
    stats: SearchStats

    @property
    def assigned_job_ids(self) -> set[JobId]:
        return {stop.job_id for route in self.routes for stop in route.stops}

    @property
    def used_vehicle_count(self) -> int:
        return sum(1 for route in self.routes if route.stops)

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts, lists, strings and numbers only: safe for json.dumps."""
        data = asdict(self)
        for item in data["unassigned"]:
            item["reason"] = str(item["reason"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Solution:
        """The inverse of to_dict (tolerates lists where tuples were)."""
        return cls(
            routes=tuple(_route_from_dict(route) for route in data["routes"]),
            unassigned=tuple(
                UnassignedJob(item["job_id"], UnassignedReason(item["reason"]), item["message"])
                for item in data["unassigned"]
            ),
            total_travel=data["total_travel"],
            stats=_stats_from_dict(data["stats"]),
        )


def _route_from_dict(data: dict[str, Any]) -> Route:
    return Route(
        vehicle_id=data["vehicle_id"],
        departure=data["departure"],
        stops=tuple(Stop(**stop) for stop in data["stops"]),
        arrival=data["arrival"],
        travel=data["travel"],
        breaks=tuple(TakenBreak(**taken) for taken in data.get("breaks", ())),
        overtime=data.get("overtime", 0),
    )


def _stats_from_dict(data: dict[str, Any]) -> SearchStats:
    improvements = tuple((float(t), int(value)) for t, value in data.get("improvements", ()))
    return SearchStats(**{**data, "improvements": improvements})
