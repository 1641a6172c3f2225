"""Synthetic home-health days of any size: a metro area, clinicians' homes, skills, shifts,
lunch breaks and overtime, visits with windows, skills, priorities and preferred clinicians.

`home_health_day(visits=1000, clinicians=100, seed=0)` returns a solver Problem in seconds
since midnight, with travel from the same haversine model Dispatch uses (30 km/h, times 1.3
detour). The mix (below) is what a large agency's weekday looks like in its shape, not in
its data: patients cluster in neighbourhoods, most visits want a morning or an afternoon,
a fifth need wound care, a patient in two has a preferred clinician.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TypeVar

from solver.matrix import haversine_matrix
from solver.model import Break, Job, Problem, Vehicle

T = TypeVar("T")
HOUR = 3600
CENTRE = (41.88, -87.65)  # a metro area's centre; the day spans about 40 km across
SPREAD_KM = 20.0
SPEED_KMH = 30.0
DETOUR = 1.3

# (share, skills) of clinicians; everyone can do a routine visit.
Shares = tuple[tuple[float, frozenset[str]], ...]
CLINICIAN_SKILLS: Shares = ((0.4, frozenset()), (0.3, frozenset({"wound"})), (0.2, frozenset({"wound", "iv"})),
                            (0.1, frozenset({"pediatric"})))
# (share, start, end) of shifts.
SHIFTS = ((0.6, (8 * HOUR, 16 * HOUR + 1800)), (0.25, (9 * HOUR, 17 * HOUR + 1800)),
          (0.15, (7 * HOUR, 15 * HOUR + 1800)))
LUNCH = (11 * HOUR + 1800, 13 * HOUR + 1800, 30 * 60)  # may start from 11:30 to 13:30, lasts 30 min
MAX_OVERTIME = 30 * 60
# (share, required skill) of visits.
VISIT_SKILLS: Shares = ((0.72, frozenset()), (0.2, frozenset({"wound"})), (0.06, frozenset({"iv"})),
                        (0.02, frozenset({"pediatric"})))
# (share, earliest start, latest start) of windows.
WINDOWS = ((0.35, (8 * HOUR, 12 * HOUR)), (0.35, (12 * HOUR, 15 * HOUR + 1800)), (0.3, (8 * HOUR, 15 * HOUR + 1800)))
DURATIONS = ((0.7, 25 * 60), (0.3, 40 * 60))
PREFERENCE_SHARE = 0.5
PREFERENCE_WEIGHT = 15 * 60  # a preferred clinician is worth 15 minutes of travel


@dataclass(frozen=True)
class DayShape:
    visits: int
    clinicians: int
    breaks: bool = True
    preferences: bool = True
    overtime: bool = True


def home_health_day(shape: DayShape, seed: int = 0) -> Problem:
    """A reproducible day: the same shape and seed give the same Problem."""
    rng = random.Random(seed)
    neighbourhoods = [_point(rng, SPREAD_KM) for _ in range(max(4, shape.visits // 40))]
    homes = [_point(rng, SPREAD_KM) for _ in range(shape.clinicians)]
    patients = [_near(rng, rng.choice(neighbourhoods), 2.5) for _ in range(shape.visits)]
    travel = haversine_matrix([*homes, *patients], speed_kmh=SPEED_KMH, detour_factor=DETOUR)
    vehicles = [_clinician(rng, k, shape) for k in range(shape.clinicians)]
    jobs = [_visit(rng, j, shape.clinicians + j, vehicles, shape, travel) for j in range(shape.visits)]
    return Problem(vehicles, jobs, travel)


def _clinician(rng: random.Random, k: int, shape: DayShape) -> Vehicle:
    start, end = _pick(rng, SHIFTS)
    lunch = (Break(*LUNCH),) if shape.breaks else ()
    return Vehicle(f"clinician-{k}", start_location=k, shift_start=start, shift_end=end,
                   skills=_pick(rng, CLINICIAN_SKILLS), breaks=lunch,
                   max_overtime=MAX_OVERTIME if shape.overtime else 0)


def _visit(rng: random.Random, j: int, location: int, vehicles: list[Vehicle], shape: DayShape,
           travel: list[list[int]]) -> Job:
    skills = _pick(rng, VISIT_SKILLS)
    opens, closes = _pick(rng, WINDOWS)
    # The patient's usual clinician: one of the three nearest homes of those able to serve.
    # Drawn whatever the shape, so that days differing only in their flags have the same visits.
    able = [v for v in vehicles if skills <= v.skills]
    nearest = sorted(able, key=lambda v: travel[v.start_location][location])[:3]
    usual = rng.choice(nearest).id if nearest else None
    wants_usual = rng.random() < PREFERENCE_SHARE
    urgent = rng.random() < 0.1
    preferred: frozenset[str | int] = (
        frozenset({usual}) if shape.preferences and wants_usual and usual is not None else frozenset())
    return Job(f"visit-{j}", location=location, window_start=opens, window_end=closes,
               duration=_pick(rng, DURATIONS), required_skills=skills,
               priority=2 if urgent else 1, preferred=preferred,
               preference_weight=PREFERENCE_WEIGHT if preferred else 0)


def _pick(rng: random.Random, table: tuple[tuple[float, T], ...]) -> T:
    """A value of the table, each with its share of the draws."""
    roll, total = rng.random(), 0.0
    for share, value in table:
        total += share
        if roll < total:
            return value
    return table[-1][1]


def _point(rng: random.Random, radius_km: float) -> tuple[float, float]:
    return _near(rng, CENTRE, radius_km)


def _near(rng: random.Random, centre: tuple[float, float], radius_km: float) -> tuple[float, float]:
    distance = radius_km * math.sqrt(rng.random())
    angle = rng.uniform(0, 2 * math.pi)
    lat = centre[0] + distance * math.cos(angle) / 111.0
    lon = centre[1] + distance * math.sin(angle) / (111.0 * math.cos(math.radians(centre[0])))
    return lat, lon
