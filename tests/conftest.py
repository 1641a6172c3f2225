"""Shared fixtures. Story: Harbor Home Health (Alice dispatches, Bob reviews, Lena learns,
Audrey audits, Oscar runs ops) and Northside Care, whose Carol must never see Harbor's data."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from core.models import Tenant, User
from core.roles import Role


@pytest.fixture
def harbor(db: None) -> Tenant:
    return Tenant.objects.create(name="Harbor Home Health", slug="harbor")


@pytest.fixture
def northside(db: None) -> Tenant:
    return Tenant.objects.create(name="Northside Care", slug="northside")


def make_user(username: str, tenant: Tenant | None, *roles: Role) -> User:
    user = User.objects.create_user(username=username, password="pw", tenant=tenant,
                                    is_staff=tenant is None)
    user.groups.set(Group.objects.filter(name__in=[r.value for r in roles]))
    return user


@pytest.fixture
def alice(harbor: Tenant) -> User:
    return make_user("alice", harbor, Role.DISPATCHER)


@pytest.fixture
def carol(northside: Tenant) -> User:
    return make_user("carol", northside, Role.DISPATCHER)
