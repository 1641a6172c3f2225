"""A person's sessions (core/accounts/sessions.py): listed on their page, ended from there (the
ended browser is signed out at its next request), never another person's; and a session unused
for SESSION_IDLE_TIMEOUT_S ends by itself. Real PostgreSQL sessions, real sign-ins."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from core.accounts.models import Tenant, User, UserSession
from core.platform.roles import Role
from tests.helpers.people import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def nina(harbor: Tenant) -> User:
    return make_user("nina", harbor, Role.DISPATCHER)


def browser(username: str, agent: str) -> Client:
    client = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR="10.0.0.7")
    response = client.post("/accounts/login/", {"username": username, "password": "pw"})
    assert response.status_code == 302
    return client


def session_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'name="session" value="(\d+)"', page)]


def test_a_person_sees_their_sessions_and_ends_another_one(nina: User) -> None:
    laptop, phone = browser("nina", "Laptop Firefox"), browser("nina", "Phone Safari")
    page = laptop.get("/accounts/sessions/").content.decode()
    assert "Laptop Firefox" in page
    assert "Phone Safari" in page
    assert "(this browser)" in page
    assert str(laptop.session.session_key) not in page  # keys are credentials: never shown
    phone_row = UserSession.objects.get(session_key=phone.session.session_key)
    assert phone_row.id in session_ids(page)

    ended = laptop.post("/accounts/sessions/end/", {"session": phone_row.id})
    assert ended.status_code == 302
    assert phone.get("/").status_code == 302  # the phone is signed out
    assert phone.get("/").url.startswith("/accounts/login/")  # type: ignore[attr-defined]
    assert laptop.get("/").status_code == 200
    assert not Session.objects.filter(session_key=phone_row.session_key).exists()


def test_nobody_ends_another_persons_session(nina: User, harbor: Tenant) -> None:
    make_user("omar", harbor, Role.LEARNER)
    nina_browser, omar_browser = browser("nina", "A"), browser("omar", "B")
    omars = UserSession.objects.get(session_key=omar_browser.session.session_key)
    refused = nina_browser.post("/accounts/sessions/end/", {"session": omars.id}, follow=True)
    assert b"No such session of yours" in refused.content
    for bad in ("", "abc", "-1", "9" * 30):
        assert nina_browser.post("/accounts/sessions/end/", {"session": bad}).status_code == 302
    assert omar_browser.get("/").status_code == 200


def test_ending_this_browsers_session_signs_it_out(nina: User) -> None:
    laptop = browser("nina", "Laptop")
    own = UserSession.objects.get(session_key=laptop.session.session_key)
    response = laptop.post("/accounts/sessions/end/", {"session": own.id})
    assert response.url == "/accounts/login/"  # type: ignore[attr-defined]
    assert not UserSession.objects.filter(id=own.id).exists()
    assert laptop.get("/").status_code == 302


def test_signing_out_forgets_the_session(nina: User) -> None:
    laptop = browser("nina", "Laptop")
    key = laptop.session.session_key
    laptop.post("/accounts/logout/")
    assert not UserSession.objects.filter(session_key=key).exists()


def test_a_session_unused_for_the_idle_timeout_ends_by_itself(nina: User, settings: Any) -> None:
    settings.SESSION_IDLE_TIMEOUT_S = 1
    laptop = browser("nina", "Laptop")
    assert laptop.get("/").status_code == 200
    time.sleep(2.1)
    idle = laptop.get("/")
    assert idle.status_code == 302
    assert idle["Location"].startswith("/accounts/login/")
    assert laptop.get("/api/dispatch/visits", {"date": "2026-12-07"}).status_code == 401
