"""The routing problem the solver accepts: clinicians (vehicles), visits (jobs), travel times.

Everything is integers in one time unit chosen by the caller (seconds for Dispatch, tenths
of a distance unit for the Solomon benchmark). Locations are indices into the travel-time
matrix; ids are opaque to the solver and only echoed back in the solution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import SupportsIndex

# Ids are chosen by the caller (database keys, names); the solver never interprets them.
JobId = str | int
VehicleId = str | int


class ProblemError(ValueError):
    """The problem is malformed. `field` names the offending value, e.g. `jobs[3].window_end`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Break:
    """A rest of `duration` that must *start* within [window_start, window_end].

    It is taken between visits (while travelling is paused, or during a wait), never
    during a service. A break whose window lies wholly before the clinician leaves or
    after they are back home costs nothing: they are off the road then.
    """

    window_start: int
    window_end: int
    duration: int


@dataclass(frozen=True)
class Vehicle:
    """A clinician's working day.

    The clinician leaves `start_location` no earlier than `shift_start` and must be back at
    `end_location` (the start location when None) no later than `shift_end`, or up to
    `max_overtime` later at `overtime_cost` per unit of time past `shift_end` (in units of
    the objective, i.e. of travel time). `breaks` are taken within their windows.
    `capacity` bounds the sum of the jobs' `demand`; `max_visits` bounds the number of
    jobs; None means unbounded.
    """

    id: VehicleId
    start_location: int
    shift_start: int
    shift_end: int
    end_location: int | None = None
    skills: frozenset[str] = frozenset()
    capacity: int | None = None
    max_visits: int | None = None
    breaks: tuple[Break, ...] = ()
    max_overtime: int = 0
    overtime_cost: int = 2

    @property
    def return_location(self) -> int:
        """Where the route ends."""
        return self.start_location if self.end_location is None else self.end_location

    @property
    def latest_return(self) -> int:
        """The latest time the route may end: the shift end plus any allowed overtime."""
        return self.shift_end + self.max_overtime


@dataclass(frozen=True)
class Job:
    """A visit: service must *start* within [window_start, window_end] and lasts `duration`.

    Only a vehicle holding every skill in `required_skills` may serve it. A higher
    `priority` makes the solver drop the job later when the day is over-full: no number of
    lower-priority jobs is worth one job of a higher priority.

    `pinned_to` fixes the job to one vehicle and makes it mandatory (a visit already
    started or done; give it a window that fixes its start too). `preferred` names the
    vehicles the patient prefers; serving the job with any other costs `preference_weight`
    (in units of the objective), so preferences yield only to real savings.
    """

    id: JobId
    location: int
    window_start: int
    window_end: int
    duration: int = 0
    required_skills: frozenset[str] = frozenset()
    priority: int = 0
    demand: int = 0
    pinned_to: VehicleId | None = None
    preferred: frozenset[VehicleId] = frozenset()
    preference_weight: int = 0


@dataclass(frozen=True)
class Disruption:
    """What departing from the previous plan costs, in units of the objective (travel time).

    `move_cost` is paid for each job served by another vehicle than in the previous plan;
    `delay_cost` for each unit of time a job starts later than its `previous_starts` entry
    (taken from the previous plan when `solve(initial=...)` is a Solution). Jobs the
    previous plan did not serve cost nothing.
    """

    move_cost: int = 0
    delay_cost: int = 0
    previous_starts: Mapping[JobId, int] | None = None

    def __post_init__(self) -> None:
        _check_count("disruption.move_cost", self.move_cost)
        _check_count("disruption.delay_cost", self.delay_cost)


@dataclass(frozen=True, init=False)
class Problem:
    """Vehicles, jobs and the travel-time matrix between locations (`travel[a][b]`).

    Construction normalises the matrix to a tuple of tuples of ints (so numpy arrays and
    lists are accepted) and validates everything, raising ProblemError on the first fault.
    """

    vehicles: tuple[Vehicle, ...]
    jobs: tuple[Job, ...]
    travel: tuple[tuple[int, ...], ...] = field(repr=False)

    def __init__(
        self,
        vehicles: Iterable[Vehicle],
        jobs: Iterable[Job],
        travel: Iterable[Iterable[SupportsIndex]],
    ) -> None:
        object.__setattr__(self, "vehicles", tuple(vehicles))
        object.__setattr__(self, "jobs", tuple(jobs))
        object.__setattr__(self, "travel", _normalise_matrix(travel))
        validate(self)

    @property
    def location_count(self) -> int:
        return len(self.travel)


def _normalise_matrix(travel: Iterable[Iterable[SupportsIndex]]) -> tuple[tuple[int, ...], ...]:
    rows = []
    for i, row in enumerate(travel):
        try:
            rows.append(tuple(_as_int(value) for value in row))
        except (TypeError, ValueError) as error:
            raise ProblemError(f"travel[{i}]", f"values must be integers ({error})") from None
    return tuple(rows)


def _as_int(value: object) -> int:
    # numpy integers are not `int` but convert exactly; floats would silently truncate.
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{value!r} is not an integer")
    return int(value.__index__())


def validate(problem: Problem) -> None:
    """Raise ProblemError naming the first malformed value; return None if all is well."""
    _validate_matrix(problem.travel)
    _validate_unique_ids("vehicles", [v.id for v in problem.vehicles])
    _validate_unique_ids("jobs", [j.id for j in problem.jobs])
    for i, vehicle in enumerate(problem.vehicles):
        _validate_vehicle(f"vehicles[{i}]", vehicle, problem.location_count)
        _validate_commute(f"vehicles[{i}]", vehicle, problem.travel)
        for k, rest in enumerate(vehicle.breaks):
            _validate_break(f"vehicles[{i}].breaks[{k}]", vehicle, rest)
    vehicles = {v.id: v for v in problem.vehicles}
    for i, job in enumerate(problem.jobs):
        _validate_job(f"jobs[{i}]", job, problem.location_count)
        _validate_assignment(f"jobs[{i}]", job, vehicles)


def _validate_matrix(travel: tuple[tuple[int, ...], ...]) -> None:
    size = len(travel)
    if size == 0:
        raise ProblemError("travel", "the matrix is empty; it needs one row per location")
    for i, row in enumerate(travel):
        if len(row) != size:
            raise ProblemError(f"travel[{i}]", f"has {len(row)} columns, the matrix has {size} rows")
        if min(row) < 0:
            raise ProblemError(f"travel[{i}]", "travel times cannot be negative")


def _validate_unique_ids(name: str, ids: list[JobId]) -> None:
    seen: set[JobId] = set()
    for i, item_id in enumerate(ids):
        if item_id in seen:
            raise ProblemError(f"{name}[{i}].id", f"duplicate id {item_id!r}")
        seen.add(item_id)


def _validate_vehicle(where: str, vehicle: Vehicle, locations: int) -> None:
    _check_location(f"{where}.start_location", vehicle.start_location, locations)
    _check_location(f"{where}.end_location", vehicle.return_location, locations)
    _check_time(f"{where}.shift_start", vehicle.shift_start)
    _check_time(f"{where}.shift_end", vehicle.shift_end)
    if vehicle.shift_end < vehicle.shift_start:
        raise ProblemError(
            f"{where}.shift_end",
            f"shift of {vehicle.id!r} ends ({vehicle.shift_end}) before it starts ({vehicle.shift_start})",
        )
    _check_optional_count(f"{where}.capacity", vehicle.capacity)
    _check_optional_count(f"{where}.max_visits", vehicle.max_visits)
    _check_count(f"{where}.max_overtime", vehicle.max_overtime)
    _check_count(f"{where}.overtime_cost", vehicle.overtime_cost)


def _validate_break(where: str, vehicle: Vehicle, rest: Break) -> None:
    _check_time(f"{where}.window_start", rest.window_start)
    _check_count(f"{where}.duration", rest.duration)
    if rest.window_end < rest.window_start:
        raise ProblemError(
            f"{where}.window_end",
            f"break window closes ({rest.window_end}) before it opens ({rest.window_start})",
        )
    if rest.window_start < vehicle.shift_start:
        raise ProblemError(
            f"{where}.window_start",
            f"break of {vehicle.id!r} may start ({rest.window_start}) before the shift ({vehicle.shift_start})",
        )
    if rest.window_end + rest.duration > vehicle.latest_return:
        raise ProblemError(
            f"{where}.window_end",
            f"break of {vehicle.id!r} could end ({rest.window_end + rest.duration}) after "
            f"the shift ({vehicle.latest_return}, overtime included)",
        )


def _validate_assignment(where: str, job: Job, vehicles: dict[VehicleId, Vehicle]) -> None:
    if job.pinned_to is not None:
        vehicle = vehicles.get(job.pinned_to)
        if vehicle is None:
            raise ProblemError(f"{where}.pinned_to", f"job {job.id!r} is pinned to unknown {job.pinned_to!r}")
        if not job.required_skills <= vehicle.skills:
            raise ProblemError(
                f"{where}.pinned_to",
                f"job {job.id!r} is pinned to {job.pinned_to!r}, who lacks its skills",
            )
    unknown = [v for v in job.preferred if v not in vehicles]
    if unknown:
        raise ProblemError(f"{where}.preferred", f"unknown vehicle {unknown[0]!r}")
    _check_count(f"{where}.preference_weight", job.preference_weight)
    if job.preferred and job.preference_weight == 0:
        raise ProblemError(
            f"{where}.preference_weight",
            f"job {job.id!r} names preferred vehicles: give the cost of serving it with another",
        )


def _validate_commute(where: str, vehicle: Vehicle, travel: tuple[tuple[int, ...], ...]) -> None:
    # Even an idle clinician's route goes from start to end in OR-Tools' model; a shift too
    # short for that would make every plan infeasible rather than just this clinician's.
    commute = travel[vehicle.start_location][vehicle.return_location]
    if vehicle.shift_start + commute > vehicle.shift_end:
        raise ProblemError(
            f"{where}.shift_end",
            f"shift of {vehicle.id!r} is shorter than the {commute} travel from its start to its end location",
        )


def _validate_job(where: str, job: Job, locations: int) -> None:
    _check_location(f"{where}.location", job.location, locations)
    _check_time(f"{where}.window_start", job.window_start)
    _check_time(f"{where}.window_end", job.window_end)
    if job.window_end < job.window_start:
        raise ProblemError(
            f"{where}.window_end",
            f"window of job {job.id!r} closes ({job.window_end}) before it opens ({job.window_start})",
        )
    if not isinstance(job.duration, int) or job.duration < 0:
        raise ProblemError(f"{where}.duration", f"duration of job {job.id!r} must be a non-negative integer")
    if not isinstance(job.demand, int) or job.demand < 0:
        raise ProblemError(f"{where}.demand", f"demand of job {job.id!r} must be a non-negative integer")
    if not isinstance(job.priority, int):
        raise ProblemError(f"{where}.priority", f"priority of job {job.id!r} must be an integer")


def _check_location(where: str, location: int, locations: int) -> None:
    if not isinstance(location, int) or not 0 <= location < locations:
        raise ProblemError(where, f"location {location!r} is not an index into the {locations}-row matrix")


def _check_time(where: str, value: int) -> None:
    # OR-Tools cumul variables start at zero, so times before the day's origin do not exist.
    if not isinstance(value, int) or value < 0:
        raise ProblemError(where, f"times must be non-negative integers, got {value!r}")


def _check_count(where: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProblemError(where, f"must be a non-negative integer, got {value!r}")


def _check_optional_count(where: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or value < 0):
        raise ProblemError(where, f"must be a non-negative integer or None, got {value!r}")
