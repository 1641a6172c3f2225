"""Solomon VRPTW instances (standard text format) and best-known-solution tables.

Distances follow the DIMACS/CVRPLIB convention of the best-known values: Euclidean,
truncated to one decimal. The solver needs integers, so every distance, time and service
duration is scaled by SCALE (distance 12.3 becomes 123); travel time equals distance.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from solver.matrix import truncated_euclidean_matrix
from solver.model import Job, Problem, Vehicle

SCALE = 10


class InstanceFormatError(ValueError):
    """The file is not a Solomon instance."""


@dataclass(frozen=True)
class SolomonInstance:
    name: str
    vehicle_count: int
    capacity: int
    coordinates: tuple[tuple[float, float], ...]  # index 0 is the depot
    problem: Problem


@dataclass(frozen=True)
class BestKnown:
    vehicles: int
    distance: float


@dataclass(frozen=True)
class _Customer:
    number: int
    x: float
    y: float
    demand: int
    ready: int
    due: int
    service: int


def read_instance(path: Path) -> SolomonInstance:
    """Parse one instance file; raise InstanceFormatError if it is not one."""
    lines = path.read_text().splitlines()
    name = next((line.strip() for line in lines if line.strip()), "")
    vehicle_count, capacity = _fleet(lines, path)
    customers = _customers(lines, path)
    coordinates = tuple((c.x, c.y) for c in customers)
    problem = build_problem(customers[0], customers[1:], vehicle_count, capacity, coordinates)
    return SolomonInstance(name, vehicle_count, capacity, coordinates, problem)


def build_problem(
    depot: _Customer,
    customers: list[_Customer],
    vehicle_count: int,
    capacity: int,
    coordinates: tuple[tuple[float, float], ...],
) -> Problem:
    """The scaled Problem: location i is coordinates[i]; job ids are customer numbers."""
    vehicles = [
        Vehicle(
            id=k + 1,
            start_location=0,
            shift_start=depot.ready * SCALE,
            shift_end=depot.due * SCALE,
            capacity=capacity,
        )
        for k in range(vehicle_count)
    ]
    jobs = [
        Job(
            id=c.number,
            location=i + 1,
            window_start=c.ready * SCALE,
            window_end=c.due * SCALE,
            duration=c.service * SCALE,
            demand=c.demand,
        )
        for i, c in enumerate(customers)
    ]
    return Problem(vehicles, jobs, truncated_euclidean_matrix(coordinates))


def _fleet(lines: list[str], path: Path) -> tuple[int, int]:
    for i, line in enumerate(lines):
        if line.strip().upper().startswith("NUMBER"):
            numbers = _numbers(lines[i + 1]) if i + 1 < len(lines) else []
            if len(numbers) == 2:
                return int(numbers[0]), int(numbers[1])
    raise InstanceFormatError(f"{path}: no VEHICLE section with NUMBER and CAPACITY")


def _customers(lines: list[str], path: Path) -> list[_Customer]:
    start = next((i for i, line in enumerate(lines) if line.strip().upper() == "CUSTOMER"), None)
    if start is None:
        raise InstanceFormatError(f"{path}: no CUSTOMER section")
    rows = [_numbers(line) for line in lines[start + 1 :]]
    customers = [_customer(row) for row in rows if len(row) == 7]
    if len(customers) < 2 or customers[0].number != 0:
        raise InstanceFormatError(f"{path}: expected the depot (customer 0) and customers")
    return customers


def _customer(row: list[float]) -> _Customer:
    number, x, y, demand, ready, due, service = row
    return _Customer(int(number), x, y, int(demand), int(ready), int(due), int(service))


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _numbers(line: str) -> list[float]:
    """The line's fields as numbers, or [] if any field is not a number (a header)."""
    fields = line.split()
    if not all(_NUMBER.match(f) for f in fields):
        return []
    return [float(f) for f in fields]


def read_best_known(path: Path) -> dict[str, BestKnown]:
    """`instance,vehicles,distance` rows keyed by upper-case instance name."""
    with path.open(newline="") as handle:
        return {
            row["instance"].strip().upper(): BestKnown(int(row["vehicles"]), float(row["distance"]))
            for row in csv.DictReader(handle)
        }


def instance_class(name: str) -> str:
    """The Solomon class of an instance name: C101 -> C1, RC208 -> RC2, R1_2_1 -> R1."""
    match = re.match(r"^(RC|R|C)(\d)", name.upper())
    return match.group(1) + match.group(2) if match else "other"
