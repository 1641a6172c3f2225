"""Dispatch test data: Harbor's dispatcher Alice and auditor Audrey, Northside's Carol, and
Harbor's clinicians and visits on a working day in Boston."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest
from django.test import Client

from core.accounts.models import Tenant, User
from core.dispatch import services
from core.dispatch.models import Clinician, Visit
from core.platform.roles import Role
from tests.conftest import make_user

DAY = date(2026, 3, 10)


@pytest.fixture(autouse=True)
def quick_solver(settings: Any) -> None:
    """Tiny days need a fraction of a second; the search would use the whole limit."""
    settings.OPTIMIZE_TIME_LIMIT_S = 0.3


@pytest.fixture
def audrey(harbor: Tenant) -> User:
    return make_user("audrey", harbor, Role.AUDITOR)


@pytest.fixture
def lena(harbor: Tenant) -> User:
    return make_user("lena", harbor, Role.LEARNER)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def as_alice(alice: User) -> Client:
    return signed_in(alice)


@pytest.fixture
def as_carol(carol: User) -> Client:
    return signed_in(carol)


def add_clinician(tenant: Tenant, name: str = "Nora Whitfield", skills: tuple[str, ...] = ("nursing",),
                  shift: tuple[time, time] = (time(8), time(16)), at: tuple[float, float] = (42.3016, -71.0676),
                  active: bool = True) -> Clinician:
    return services.create_clinician(tenant.pk, services.ClinicianFields(
        name=name, skills=skills, shift_start=shift[0], shift_end=shift[1], start_lat=at[0], start_lon=at[1],
        active=active), actor_id=None)


def add_visit(tenant: Tenant, ref: str = "HB-0001", *, day: date = DAY, window: tuple[time, time] = (time(9), time(12)),
              minutes: int = 30, skill: str = "nursing", at: tuple[float, float] = (42.3503, -71.0810),
              priority: int = 1) -> Visit:
    return services.create_visit(tenant.pk, services.VisitFields(
        patient_ref=ref, lat=at[0], lon=at[1], date=day, window_start=window[0], window_end=window[1],
        duration_minutes=minutes, required_skill=skill, priority=priority), actor_id=None)


@pytest.fixture
def harbor_day(harbor: Tenant) -> list[Visit]:
    """Two clinicians and five routine nursing visits around Back Bay on DAY."""
    add_clinician(harbor, "Nora Whitfield")
    add_clinician(harbor, "Omar Haddad", at=(42.3702, -71.0389))
    spots = [(42.3503, -71.0810), (42.3388, -71.0765), (42.3467, -71.0972), (42.3588, -71.0707),
             (42.3647, -71.0542)]
    return [add_visit(harbor, f"HB-{n:04d}", at=spot) for n, spot in enumerate(spots, start=1)]
