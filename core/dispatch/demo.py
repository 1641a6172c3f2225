"""Demo dispatch data, seeded by `manage.py seed_demo` (which `make up` runs every time).

Harbor Home Health works in Boston (a 15 km area from Chelsea to Mattapan, Brighton to
East Boston): ten clinicians and eighty visits on today's date, so Optimize Day on the
page's default day draws real routes. One visit needs a skill nobody holds, so the plan
also shows a visit left out with its reason. Everyone takes a 30-minute lunch starting
between 11:30 and 13:30 and may work 30 minutes over; every fourth patient has a usual
clinician. Northside Care (Minneapolis) gets a few of
each, to make tenant isolation visible.

Idempotent: clinicians are matched by name and visits by (date, patient reference); only
missing ones are created, through the write functions (so each has its outbox event).
A later day's `make up` adds that day's visits.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, time
from typing import Any

from django.utils import timezone

from core.accounts.models import Tenant
from core.dispatch import services
from core.dispatch.models import Clinician, Priority, Skill, Visit

# (name, latitude, longitude) of neighbourhood centres.
BOSTON = (
    ("Back Bay", 42.3503, -71.0810), ("South End", 42.3388, -71.0765), ("Dorchester", 42.3016, -71.0676),
    ("Roxbury", 42.3152, -71.0914), ("Jamaica Plain", 42.3097, -71.1151), ("Charlestown", 42.3782, -71.0602),
    ("South Boston", 42.3381, -71.0476), ("East Boston", 42.3702, -71.0389), ("Cambridgeport", 42.3587, -71.1084),
    ("Somerville", 42.3876, -71.0995), ("Brookline", 42.3318, -71.1212), ("Allston", 42.3539, -71.1337),
    ("Brighton", 42.3464, -71.1527), ("Mattapan", 42.2771, -71.0914), ("Roslindale", 42.2832, -71.1270),
    ("Chelsea", 42.3918, -71.0328), ("Fenway", 42.3467, -71.0972), ("North End", 42.3647, -71.0542),
    ("Mission Hill", 42.3320, -71.1035), ("Savin Hill", 42.3110, -71.0530),
)
MINNEAPOLIS_NORTH = (
    ("Jordan", 45.0005, -93.3003), ("Hawthorne", 44.9986, -93.2838), ("Folwell", 45.0190, -93.2990),
    ("Webber-Camden", 45.0380, -93.2960),
)


@dataclass(frozen=True)
class DemoClinician:
    name: str
    skills: tuple[str, ...]
    shift: tuple[str, str]
    home: str  # a neighbourhood


HARBOR_CLINICIANS = (
    DemoClinician("Nora Whitfield", ("nursing", "wound_care"), ("07:30", "15:30"), "Dorchester"),
    DemoClinician("Omar Haddad", ("nursing", "iv_therapy"), ("08:00", "16:30"), "East Boston"),
    DemoClinician("Priya Raman", ("physiotherapy",), ("08:30", "17:00"), "Somerville"),
    DemoClinician("Luis Ortega", ("nursing", "palliative"), ("09:00", "17:30"), "Jamaica Plain"),
    DemoClinician("Grace Kim", ("nursing", "wound_care", "iv_therapy"), ("07:00", "15:00"), "South Boston"),
    DemoClinician("Sam Okafor", ("home_aide",), ("08:00", "16:00"), "Roxbury"),
    DemoClinician("Hannah Weiss", ("occupational_therapy", "physiotherapy"), ("09:30", "18:00"), "Brookline"),
    DemoClinician("Tomás Silva", ("nursing",), ("10:00", "18:30"), "Charlestown"),
    DemoClinician("Mei Chen", ("home_aide", "nursing"), ("07:30", "16:00"), "Allston"),
    DemoClinician("Daniel Byrne", ("nursing", "palliative", "wound_care"), ("08:00", "17:00"), "Mattapan"),
)
NORTHSIDE_CLINICIANS = (
    DemoClinician("Ingrid Larson", ("nursing", "wound_care"), ("08:00", "16:00"), "Jordan"),
    DemoClinician("Marcus Bell", ("physiotherapy",), ("09:00", "17:00"), "Folwell"),
    DemoClinician("Ayaan Warsame", ("nursing", "home_aide"), ("07:30", "15:30"), "Hawthorne"),
)

# Everyone's lunch: 30 minutes starting between 11:30 and 13:30; up to 30 minutes of overtime.
LUNCH = (time(11, 30), time(13, 30))
LUNCH_MINUTES = 30
OVERTIME_MINUTES = 30

# What a day's visits need, with weights: mostly nursing, some therapy and aide visits.
VISIT_KINDS = (
    ("nursing", 30, (30, 45)), ("wound_care", 10, (40, 60)), ("iv_therapy", 6, (45, 75)),
    ("physiotherapy", 12, (45, 60)), ("occupational_therapy", 6, (45, 60)), ("home_aide", 10, (60, 90)),
    ("palliative", 4, (45, 60)), ("", 2, (20, 30)),
)
# Windows the agency offers (service starts within them).
WINDOWS = (("08:00", "12:00"), ("12:00", "17:00"), ("09:00", "11:00"), ("13:00", "15:00"),
           ("08:00", "17:00"), ("10:00", "14:00"), ("15:00", "17:30"))


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _near(rng: random.Random, places: Sequence[tuple[str, float, float]], name: str | None = None,
          spread: float = 0.008) -> tuple[float, float]:
    """A point within ~1 km of a neighbourhood centre (the named one, or a random one)."""
    _, lat, lon = next(p for p in places if p[0] == name) if name else rng.choice(places)
    return round(lat + rng.uniform(-spread, spread), 5), round(lon + rng.uniform(-spread, spread), 5)


def _visit_plan(rng: random.Random, day: date, count: int, prefix: str,
                places: Sequence[tuple[str, float, float]]) -> list[services.VisitFields]:
    kinds = [kind for kind in VISIT_KINDS for _ in range(kind[1])]
    visits = []
    for number in range(1, count + 1):
        skill, _, (shortest, longest) = rng.choice(kinds)
        opens, closes = rng.choice(WINDOWS)
        lat, lon = _near(rng, places)
        priority = rng.choices([Priority.ROUTINE, Priority.HIGH, Priority.URGENT], weights=[80, 15, 5])[0]
        visits.append(services.VisitFields(
            patient_ref=f"{prefix}-{number:04d}", lat=lat, lon=lon, date=day, window_start=_hhmm(opens),
            window_end=_hhmm(closes), duration_minutes=rng.randrange(shortest, longest + 1, 5),
            required_skill=skill, priority=priority))
    return visits


def _seed_clinicians(tenant: Tenant, people: Sequence[DemoClinician],
                     places: Sequence[tuple[str, float, float]], rng: random.Random) -> int:
    existing = set(Clinician.objects.filter(tenant=tenant).values_list("name", flat=True))
    created = 0
    for person in people:
        lat, lon = _near(rng, places, person.home, spread=0.004)  # drawn always: stable coordinates
        if person.name in existing:
            continue
        services.create_clinician(tenant.pk, services.ClinicianFields(
            name=person.name, skills=person.skills, shift_start=_hhmm(person.shift[0]),
            shift_end=_hhmm(person.shift[1]), start_lat=lat, start_lon=lon, break_start=LUNCH[0],
            break_end=LUNCH[1], break_minutes=LUNCH_MINUTES, max_overtime_minutes=OVERTIME_MINUTES), actor_id=None)
        created += 1
    return created


def _with_usual_clinicians(tenant: Tenant, visits: Sequence[services.VisitFields]) -> list[services.VisitFields]:
    """Every fourth patient has a usual clinician: the first (in a patient-dependent order)
    who holds the visit's skill."""
    clinicians = list(Clinician.objects.filter(tenant=tenant).order_by("name").values_list("id", "skills"))
    result = []
    for number, visit in enumerate(visits, start=1):
        able = [cid for cid, skills in clinicians if not visit.required_skill or visit.required_skill in skills]
        if number % 4 == 0 and able:
            visit = replace(visit, preferred_clinicians=(able[number % len(able)],))
        result.append(visit)
    return result


def _seed_visits(tenant: Tenant, visits: Sequence[services.VisitFields]) -> int:
    visits = _with_usual_clinicians(tenant, visits)
    day = visits[0].date
    existing = set(Visit.objects.filter(tenant=tenant, date=day).values_list("patient_ref", flat=True))
    missing = [visit for visit in visits if visit.patient_ref not in existing]
    for visit in missing:
        services.create_visit(tenant.pk, visit, actor_id=None)
    return len(missing)


def demo_day() -> date:
    """The day the demo plans, and the day the dispatch page opens on: today."""
    return timezone.localdate()


def harbor_visits(day: date) -> list[services.VisitFields]:
    """Eighty visits in Boston; the last needs pediatrics, which no Harbor clinician holds."""
    visits = _visit_plan(random.Random(f"harbor-{day.isoformat()}"), day, 79, "HB", BOSTON)  # noqa: S311
    visits.append(services.VisitFields(
        patient_ref="HB-0080", lat=42.3290, lon=-71.0850, date=day, window_start=time(9), window_end=time(12),
        duration_minutes=45, required_skill=Skill.PEDIATRICS, priority=Priority.HIGH))
    return visits


def seed(tenants: dict[str, Tenant], stdout: Any) -> None:
    """Seed Harbor's and Northside's clinicians and today's visits (see the module docstring)."""
    day = demo_day()
    rng = random.Random("clinician-homes")  # noqa: S311 - demo data, not secrets
    harbor, northside = tenants["harbor"], tenants["northside"]
    created = _seed_clinicians(harbor, HARBOR_CLINICIANS, BOSTON, rng)
    created += _seed_clinicians(northside, NORTHSIDE_CLINICIANS, MINNEAPOLIS_NORTH, rng)
    created += _seed_visits(harbor, harbor_visits(day))
    northside_rng = random.Random(f"northside-{day.isoformat()}")  # noqa: S311
    created += _seed_visits(northside, _visit_plan(northside_rng, day, 12, "NS", MINNEAPOLIS_NORTH))
    stdout.write(f"Dispatch demo day {day.isoformat()}: Harbor has {len(HARBOR_CLINICIANS)} clinicians and "
                 f"80 visits in Boston, Northside {len(NORTHSIDE_CLINICIANS)} and 12 in Minneapolis "
                 f"({created} rows created now). Open /dispatch/ as alice and click Optimize Day.")
