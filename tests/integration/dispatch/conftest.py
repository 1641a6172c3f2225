"""Dispatch test data: Harbor's clinicians and visits on a working day in Boston, and the
story's dispatchers signed in."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from core.accounts.models import Tenant, User
from core.dispatch.models import Visit
from tests.helpers.dispatch import add_clinician, add_visit
from tests.helpers.web import signed_in


@pytest.fixture(autouse=True)
def quick_solver(settings: Any) -> None:
    """Tiny days need a fraction of a second; the search would use the whole limit."""
    settings.OPTIMIZE_TIME_LIMIT_S = 0.3


@pytest.fixture
def as_alice(alice: User) -> Client:
    return signed_in(alice)


@pytest.fixture
def as_carol(carol: User) -> Client:
    return signed_in(carol)


@pytest.fixture
def harbor_day(harbor: Tenant) -> list[Visit]:
    """Two clinicians and five routine nursing visits around Back Bay on DAY."""
    add_clinician(harbor, "Nora Whitfield")
    add_clinician(harbor, "Omar Haddad", at=(42.3702, -71.0389))
    spots = [(42.3503, -71.0810), (42.3388, -71.0765), (42.3467, -71.0972), (42.3588, -71.0707),
             (42.3647, -71.0542)]
    return [add_visit(harbor, f"HB-{n:04d}", at=spot) for n, spot in enumerate(spots, start=1)]
