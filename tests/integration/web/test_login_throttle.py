"""Sign-ins that resist guessing (core/accounts/throttle.py, core/web/login.py), on the real
PostgreSQL: a name locked after LOGIN_FAILURE_LIMIT failures refuses even the right password,
an unknown name gets exactly the same answers, an address is locked across names, every
lockout is in the audit history, and locks run out or are lifted."""

from __future__ import annotations

import time
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from core.accounts.models import LoginThrottle, Tenant
from core.platform.roles import Role
from outbox.models import OutboxEvent
from tests.helpers.people import make_user

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def small_limits(settings: Any) -> None:
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 6
    settings.LOGIN_FAILURE_WINDOW_S = 600
    settings.LOGIN_LOCKOUT_S = 600


@pytest.fixture
def harbor() -> Tenant:
    tenant = Tenant.objects.create(name="Harbor Home Health", slug="harbor")
    make_user("nina", tenant, Role.DISPATCHER)
    return tenant


def sign_in(username: str, password: str, address: str = "10.0.0.1") -> Any:
    return Client(REMOTE_ADDR=address).post(LOGIN, {"username": username, "password": password})


def test_a_name_is_locked_after_the_limit_and_then_refuses_the_right_password(harbor: Tenant) -> None:
    answers = [sign_in("nina", "wrong").status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    locked = sign_in("nina", "pw")
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 500
    assert b"Too many failed sign-ins. Try again in 10 minutes." in locked.content
    assert "_auth_user_id" not in locked.client.session
    # Another name from the same address is not locked by nina's failures.
    make_user("omar", harbor, Role.LEARNER)
    assert sign_in("omar", "pw").status_code == 302


def test_an_unknown_name_gets_the_same_answers_as_a_known_one(harbor: Tenant) -> None:
    def answers(username: str, address: str) -> list[tuple[int, bytes]]:
        out = []
        for _ in range(4):
            response = sign_in(username, "wrong", address)
            body = response.content.split(b'<p class="error" role="alert" id="login-error">')[1].split(b"</p>")[0]
            out.append((response.status_code, body))
        return out

    assert answers("nina", "10.0.0.2") == answers("nobody-here", "10.0.0.3")


def test_every_lockout_is_in_the_audit_history_of_the_accounts_agency(harbor: Tenant) -> None:
    for _ in range(5):
        sign_in("Nina", "wrong")
    events = list(OutboxEvent.objects.filter(event_type="account.locked_out"))
    assert len(events) == 1  # set once, not again while it lasts
    event = events[0]
    assert event.tenant_id == harbor.id
    assert event.payload == {"scope": "user", "username": "nina", "address": "10.0.0.1", "failures": 3,
                             "locked_for_s": 600}


def test_an_address_is_locked_across_names_and_its_lockout_is_a_platform_event(harbor: Tenant) -> None:
    for index in range(6):
        sign_in(f"guess-{index}", "wrong", "10.9.9.9")
    assert sign_in("nina", "pw", "10.9.9.9").status_code == 429
    assert sign_in("nina", "pw", "10.9.9.10").status_code == 302
    address_lock = OutboxEvent.objects.get(event_type="account.locked_out", aggregate_id="addr:10.9.9.9")
    assert address_lock.tenant_id is None
    assert address_lock.payload["scope"] == "addr"


@pytest.mark.django_db(transaction=True)  # each request commits, so now() moves as in production
def test_a_lock_runs_out_and_a_success_clears_the_names_failures(harbor: Tenant, settings: Any) -> None:
    settings.LOGIN_LOCKOUT_S = 1
    for _ in range(3):
        sign_in("nina", "wrong")
    assert sign_in("nina", "pw").status_code == 429
    time.sleep(1.2)
    assert sign_in("nina", "pw").status_code == 302
    assert not LoginThrottle.objects.filter(scope="user:nina").exists()
    assert sign_in("nina", "wrong").status_code == 200  # counting starts again from zero


def test_unlock_login_lifts_a_lock_at_once(harbor: Tenant) -> None:
    for _ in range(3):
        sign_in("nina", "wrong")
    out = StringIO()
    call_command("unlock_login", "NINA", "--address", "10.1.1.1", stdout=out)
    assert out.getvalue().splitlines() == ["user:nina: unlocked", "addr:10.1.1.1: had no failures"]
    assert sign_in("nina", "pw").status_code == 302


def test_an_empty_field_is_a_form_error_not_a_failed_attempt(harbor: Tenant) -> None:
    for _ in range(5):
        response = Client(REMOTE_ADDR="10.0.0.1").post(LOGIN, {"username": "nina", "password": ""})
        assert response.status_code == 200
        assert b'id="error-password"' in response.content
    assert not LoginThrottle.objects.filter(scope="user:nina").exists()
    assert sign_in("nina", "pw").status_code == 302
