"""Reads of the people pages: an agency's people and its open invitations."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.accounts import throttle
from core.accounts.models import LoginThrottle, User
from core.people.models import Invitation


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    name: str
    email: str
    roles: list[str]
    active: bool
    enrolled: bool  # has an authenticator (second factor)
    locked: bool  # sign-ins refused by the throttle right now
    last_login: object


def _people(tenant_id: int) -> QuerySet[User]:
    return User.objects.filter(tenant_id=tenant_id).annotate(
        enrolled=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
    ).prefetch_related("groups").order_by("-is_active", "username")


def people_of(tenant_id: int, user_id: int | None = None) -> list[Person]:
    """Everyone of the agency (or the one person `user_id`), active first; three queries
    whatever their number."""
    users = _people(tenant_id)
    if user_id is not None:
        users = users.filter(id=user_id)
    found = list(users)
    scopes = {u.id: throttle.user_scope(u.username) for u in found}
    locked = set(LoginThrottle.objects.filter(scope__in=scopes.values(), locked_until__gt=timezone.now())
                 .values_list("scope", flat=True))
    return [Person(u.id, u.username, u.get_full_name(), u.email, sorted(g.name for g in u.groups.all()),
                   u.is_active, bool(u.enrolled), scopes[u.id] in locked, u.last_login)  # type: ignore[attr-defined]
            for u in found]


def person(tenant_id: int, user_id: int) -> Person | None:
    """One person of the agency; None if absent or another agency's."""
    return next(iter(people_of(tenant_id, user_id)), None)


def open_invitations(tenant_id: int) -> QuerySet[Invitation]:
    """Invitations still waiting for an answer, newest first."""
    return Invitation.objects.filter(tenant_id=tenant_id, status=Invitation.Status.PENDING,
                                     expires_at__gt=timezone.now()).select_related("invited_by").order_by("-created_at")
