"""Shared fixtures: the story's cast and clean outbox and broker state.

At Harbor Home Health, Alice dispatches, Bob and Rita review (nobody approves their own
version), Lena learns, Audrey audits and Oscar runs ops. At Northside Care, Carol
dispatches, reviews and learns, and must never see anything of Harbor's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core import serializers
from django_celery_beat import models as beat

from core.accounts.models import Tenant, User
from core.platform.roles import Role
from tests.helpers.outbox import truncate_outbox
from tests.helpers.people import make_user

BROWSER_TESTS = "tests/browser/"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` (make test's end-to-end and browser tier) with the browser tests as
    one group, chosen by their path: every one runs on the same worker, one after another, so
    one stack (web, relay, worker) and one Chromium run at a time, beside the end-to-end tests
    on the other worker. pytest-xdist's own grouping reads a suffix (`@group`) that it adds to
    each marked test's id, which pytest 9.2's structured node ids no longer carry: its
    `xdist_group` marks are ignored, and the browser tests were spread over both workers."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class BrowserTestsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return BROWSER_TESTS if nodeid.startswith(BROWSER_TESTS) else nodeid

    return BrowserTestsTogether(config, log)


@pytest.fixture
def harbor(db: None) -> Tenant:
    return Tenant.objects.create(name="Harbor Home Health", slug="harbor")


@pytest.fixture
def northside(db: None) -> Tenant:
    return Tenant.objects.create(name="Northside Care", slug="northside")


@pytest.fixture
def alice(harbor: Tenant) -> User:
    return make_user("alice", harbor, Role.DISPATCHER)


@pytest.fixture
def bob(harbor: Tenant) -> User:
    return make_user("bob", harbor, Role.REVIEWER)


@pytest.fixture
def rita(harbor: Tenant) -> User:
    """A second reviewer at Harbor."""
    return make_user("rita", harbor, Role.REVIEWER)


@pytest.fixture
def lena(harbor: Tenant) -> User:
    return make_user("lena", harbor, Role.LEARNER)


@pytest.fixture
def audrey(harbor: Tenant) -> User:
    return make_user("audrey", harbor, Role.AUDITOR)


@pytest.fixture
def oscar(harbor: Tenant) -> User:
    return make_user("oscar", harbor, Role.OPS)


@pytest.fixture
def carol(northside: Tenant) -> User:
    return make_user("carol", northside, Role.DISPATCHER, Role.REVIEWER, Role.LEARNER)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> str:
    """The test database as pytest-django builds it, plus a copy of the beat schedules its
    migrations seeded, taken before any test could flush them (see beat_schedules)."""
    with django_db_blocker.unblock():
        return serializers.serialize("json", [
            *beat.IntervalSchedule.objects.all(), *beat.CrontabSchedule.objects.all(),
            *beat.PeriodicTask.objects.all()])


@pytest.fixture
def beat_schedules(db: None, django_db_setup: str) -> None:
    """The beat schedules the migrations seed. A committed-data test (transactional_db) empties
    every table when it ends, so a later test in the same process (the order differs between
    pytest-xdist workers) would find them gone: this puts them back, inside the test's
    transaction."""
    beat.PeriodicTask.objects.all().delete()
    for entry in serializers.deserialize("json", django_db_setup):
        entry.save()


@pytest.fixture
def outbox_db(transactional_db: None) -> Iterator[None]:
    """A committed-data database for tests where other connections (relay, worker) read."""
    truncate_outbox()
    yield
    truncate_outbox()


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The test broker database, empty at the start of the test."""
    client = redis.Redis.from_url(settings.REDIS_BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()
