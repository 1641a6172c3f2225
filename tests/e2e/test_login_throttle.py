"""Two web processes share the sign-in throttle: failures sent to either count together, and a
name locked through one is refused by the other (the state is in PostgreSQL, not in memory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.accounts.models import Tenant
from core.platform.roles import Role
from tests.helpers.people import make_user
from tests.helpers.processes import processes, start_web

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_webs(log_dir: Path) -> Iterator[tuple[str, str]]:
    limits = {"LOGIN_FAILURE_LIMIT": "4", "LOGIN_LOCKOUT_S": "600"}
    first, first_url = start_web(log_dir, "web-1", **limits)
    second, second_url = start_web(log_dir, "web-2", **limits)
    with processes(first, second):
        yield first_url, second_url


def sign_in(base_url: str, username: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        client.get("/accounts/login/")
        return client.post("/accounts/login/", data={
            "username": username, "password": password,
            "csrfmiddlewaretoken": client.cookies.get("csrftoken", "")})


def test_failures_sent_to_two_web_processes_lock_the_name_on_both(two_webs: tuple[str, str]) -> None:
    make_user("nina", Tenant.objects.create(name="Harbor", slug="harbor"), Role.DISPATCHER)
    first, second = two_webs
    answers = [sign_in(url, "nina", "wrong").status_code for url in (first, second, first)]
    assert answers == [200, 200, 200]
    assert sign_in(second, "nina", "wrong").status_code == 429  # the fourth failure, on the other process
    for url in (first, second):
        refused = sign_in(url, "nina", "pw")
        assert refused.status_code == 429
        assert "Too many failed sign-ins" in refused.text
