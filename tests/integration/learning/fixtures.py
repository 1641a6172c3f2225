"""Fixtures of the learning story, imported by the conftest of each directory that uses them.

At Harbor Home Health, Bob reviews and publishes, Lena learns, Oscar runs ops and Audrey
audits; Carol of Northside Care reviews and learns there, and must never see Harbor's
content, submissions or runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django_redis import get_redis_connection

from core.accounts.models import Tenant, User
from core.platform.roles import Role
from tests.conftest import make_user


def ensure_role_groups() -> None:
    """The role groups exist: a transactional test's flush empties the table that the data
    migration filled, and users made after it would silently have no role."""
    for role in Role:
        Group.objects.get_or_create(name=role.value)


def story_user(username: str, tenant: Tenant, *roles: Role) -> User:
    ensure_role_groups()
    return make_user(username, tenant, *roles)


@pytest.fixture
def roles(harbor: Tenant) -> None:
    ensure_role_groups()


@pytest.fixture
def alice(harbor: Tenant, roles: None) -> User:
    """A dispatcher: no business in learning."""
    return make_user("alice", harbor, Role.DISPATCHER)


@pytest.fixture
def bob(harbor: Tenant, roles: None) -> User:
    return make_user("bob", harbor, Role.REVIEWER)


@pytest.fixture
def rita(harbor: Tenant, roles: None) -> User:
    """A second reviewer at Harbor."""
    return make_user("rita", harbor, Role.REVIEWER)


@pytest.fixture
def lena(harbor: Tenant, roles: None) -> User:
    return make_user("lena", harbor, Role.LEARNER)


@pytest.fixture
def oscar(harbor: Tenant, roles: None) -> User:
    return make_user("oscar", harbor, Role.OPS)


@pytest.fixture
def audrey(harbor: Tenant, roles: None) -> User:
    return make_user("audrey", harbor, Role.AUDITOR)


@pytest.fixture
def carol(northside: Tenant, roles: None) -> User:
    return make_user("carol", northside, Role.REVIEWER, Role.LEARNER)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Rate-limit counters and rendered pages start empty (the test cache DB only)."""
    assert settings.REDIS_CACHE_URL.rsplit("/", 1)[-1] != "1", "tests must not use the development cache"
    client = get_redis_connection("default")
    client.flushdb()
    yield
    client.flushdb()
