"""The story's people. At Harbor Home Health: Alice dispatches, Bob and Rita review, Lena
learns, Audrey audits, Oscar runs ops; at Northside Care, Carol dispatches, reviews and
learns, and must never see anything of Harbor's."""

from __future__ import annotations

from django.contrib.auth.models import Group

from core.accounts.models import Tenant, User
from core.platform.roles import Role


def ensure_role_groups() -> None:
    """The role groups exist: a transactional test's flush empties the table that the data
    migration filled, and users made after it would silently have no role."""
    for role in Role:
        Group.objects.get_or_create(name=role.value)


def make_user(username: str, tenant: Tenant | None, *roles: Role) -> User:
    """A user of `tenant` (platform staff when None) with `roles`; password "pw"."""
    ensure_role_groups()
    user = User.objects.create_user(username=username, password="pw", tenant=tenant, is_staff=tenant is None)
    user.groups.set(Group.objects.filter(name__in=[role.value for role in roles]))
    return user
