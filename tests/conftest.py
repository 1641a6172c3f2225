"""Shared fixtures. Story: Harbor Home Health (Alice dispatches, Bob reviews, Lena learns,
Audrey audits, Oscar runs ops) and Northside Care, whose Carol must never see Harbor's data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Group

from core.accounts.models import Tenant, User
from core.platform.roles import Role
from tests.helpers import truncate_outbox


@pytest.fixture
def harbor(db: None) -> Tenant:
    return Tenant.objects.create(name="Harbor Home Health", slug="harbor")


@pytest.fixture
def northside(db: None) -> Tenant:
    return Tenant.objects.create(name="Northside Care", slug="northside")


def make_user(username: str, tenant: Tenant | None, *roles: Role) -> User:
    user = User.objects.create_user(username=username, password="pw", tenant=tenant,
                                    is_staff=tenant is None)
    # get_or_create: transactional tests flush the groups the data migration made.
    user.groups.set([Group.objects.get_or_create(name=r.value)[0] for r in roles])
    return user


@pytest.fixture
def alice(harbor: Tenant) -> User:
    return make_user("alice", harbor, Role.DISPATCHER)


@pytest.fixture
def carol(northside: Tenant) -> User:
    return make_user("carol", northside, Role.DISPATCHER)


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
