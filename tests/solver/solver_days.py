"""Builders for the solver tests: small hand-made days and the shipped Solomon instances.

Story: Harbor Home Health's clinicians Nora (wound care) and Omar (no certifications)
start from the office at location 0 and visit patients along one straight road, where
travel time is just the distance between mile markers.

A plain module rather than a conftest.py, so the tests also run under `--noconftest`
(the project's root conftest needs Django; the solver tests must not).
"""

from __future__ import annotations

from pathlib import Path

from solver import Job, Problem, Vehicle

# A copy of the twelve public Solomon instances and their best-known distances (the source
# is named in its README.md), kept with the tests so they run the same on any clone.
SOLOMON_DIR = Path(__file__).with_name("solomon")


def solomon_dir() -> Path:
    """The shipped Solomon instances (tests/solver/solomon)."""
    return SOLOMON_DIR


def road(*markers: int) -> list[list[int]]:
    """Travel times between mile markers on one straight road."""
    return [[abs(a - b) for b in markers] for a in markers]


def clinician(
    name: str,
    *skills: str,
    shift: tuple[int, int] = (0, 1000),
    capacity: int | None = None,
    max_visits: int | None = None,
) -> Vehicle:
    return Vehicle(
        id=name,
        start_location=0,
        shift_start=shift[0],
        shift_end=shift[1],
        skills=frozenset(skills),
        capacity=capacity,
        max_visits=max_visits,
    )


def visit(
    name: str,
    location: int,
    window: tuple[int, int] = (0, 1000),
    duration: int = 5,
    *skills: str,
    priority: int = 0,
    demand: int = 0,
) -> Job:
    return Job(
        id=name,
        location=location,
        window_start=window[0],
        window_end=window[1],
        duration=duration,
        required_skills=frozenset(skills),
        priority=priority,
        demand=demand,
    )


def three_stops_in_a_row() -> Problem:
    """Nora visits Ann (mile 10), Ben (mile 20) and Cy (mile 30); windows force that order."""
    return Problem(
        [clinician("nora", "wound")],
        [visit("ann", 1, (0, 20)), visit("ben", 2, (20, 40)), visit("cy", 3, (100, 200))],
        road(0, 10, 20, 30),
    )
