"""Tenants (agencies) and their users."""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo, available_timezones

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.utils.functional import cached_property

from core.platform.roles import MFA_DEFAULT_ROLES, Role


def default_mfa_roles() -> list[str]:
    return [role.value for role in MFA_DEFAULT_ROLES]


class Tenant(models.Model):
    """An agency. Nothing of one tenant is visible to or changeable by another."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Its people with one of these roles sign in with a second factor (core/accounts/mfa.py);
    # set by its agency admins (core.people.services.set_mfa_policy).
    mfa_roles = ArrayField(models.CharField(max_length=32), default=default_mfa_roles, blank=True)
    # Where the agency works: its people's local days (streaks, due reviews, digests) are in
    # this zone unless they chose their own (User.time_zone).
    time_zone = models.CharField(max_length=64, default="UTC")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person who signs in. Belongs to one tenant, unless platform staff."""

    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    # An IANA zone name ("Europe/Lisbon"); empty: the agency's (Tenant.time_zone).
    time_zone = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tenant__isnull=False) | models.Q(is_staff=True),
                name="user_has_tenant_unless_staff",
                violation_error_message="Only platform staff may exist without a tenant.",
            )
        ]

    @cached_property
    def roles(self) -> frozenset[Role]:
        names = set(self.groups.values_list("name", flat=True))
        return frozenset(role for role in Role if role.value in names)

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    @property
    def zone(self) -> ZoneInfo:
        """The person's time zone: their own, else their agency's, else UTC."""
        name = self.time_zone or (self.tenant.time_zone if self.tenant_id and self.tenant else "") or "UTC"
        return ZoneInfo(name)


def is_time_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone this machine knows."""
    return name in known_time_zones()


@functools.cache  # read once: the tz database does not change under a running process
def known_time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


class LoginThrottle(models.Model):
    """Failed sign-ins of one account name, or from one client address, in the current window.

    Written only by core/accounts/throttle.py (one upsert per failure). A row whose
    locked_until lies ahead refuses every sign-in for its scope, right password or not.
    Deleting the row unlocks (manage.py unlock_login, the admin).
    """

    # "user:<lower-cased name as typed>" (existing or not: no enumeration) or "addr:<address>".
    scope = models.CharField(max_length=200, primary_key=True)
    failures = models.IntegerField()
    window_started_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.scope}: {self.failures} failure(s)"


class UserSession(models.Model):
    """Whose each signed-in session is, from where, last used when (core/accounts/sessions.py).
    The session itself is django_session's row; deleting that row ends the session."""

    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    user_agent = models.CharField(max_length=200, blank=True)
    address = models.CharField(max_length=100, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-last_seen_at"], name="core_usersession_user"),
                   BrinIndex(fields=["last_seen_at"], name="core_usersession_seen")]  # retention

    def __str__(self) -> str:
        return f"{self.user_id}: {self.user_agent or 'session'}"
