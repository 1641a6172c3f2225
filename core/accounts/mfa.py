"""Who must prove a second factor, and the middleware that holds them to it.

A person needs a second factor when their agency requires it for one of their roles
(Tenant.mfa_roles: agency admins, ops and auditors unless the agency changes it), when they
are platform staff (PLATFORM_STAFF_MFA, on by default: the Django admin reaches every
agency's data), or when they enrolled one of their own accord. Until the session is
verified (django-otp keeps the verifying device's id in the session), pages send them to the
second-factor page (to enrol or to enter a code), the API answers 401, and the live stream
refuses them (core/live/identity.py asks `needed` too). Enrolment and verification are in core/people/mfa.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.http import urlencode
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.accounts.models import User

# The answer "no second factor needed" is kept in the session this long, so that people who
# need none do not pay its queries on every request; a policy change reaches them within it.
CHECK_EVERY_S = 60
NOT_NEEDED = "ferry_mfa_not_needed_at"

# What a person who still owes a second factor may reach: the pages that settle it.
OPEN_PREFIXES = ("/accounts/mfa/", "/accounts/logout/", "/accounts/login/", "/admin/login/", "/static/",
                 "/healthz", "/accounts/password/reset/", "/people/join/")


def needed(roles: Iterable[str], mfa_roles: Iterable[str], enrolled: bool) -> bool:
    """Whether a person with `roles`, in an agency requiring `mfa_roles`, must verify."""
    return enrolled or bool(set(roles) & set(mfa_roles))


def enrolled(user: User) -> bool:
    """The person has a confirmed authenticator (recovery codes alone do not count)."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def required_as_staff(user: User) -> bool:
    """Platform staff (is_staff or is_superuser) must have one, unless PLATFORM_STAFF_MFA is off."""
    return bool(user.is_staff or user.is_superuser) and settings.PLATFORM_STAFF_MFA


def required_by_policy(user: User) -> bool:
    """A rule requires it, not only the person's own choice: platform staff's, or their
    agency's for one of their roles."""
    if required_as_staff(user):
        return True
    if user.tenant_id is None:
        return False
    assert user.tenant is not None
    return needed(user.roles, user.tenant.mfa_roles, False)


def needs_second_factor(user: User) -> bool:
    return required_by_policy(user) or enrolled(user)


def verified_device_ids(user_ids: Iterable[int]) -> dict[int, set[str]]:
    """Each user's confirmed devices as django-otp names them in a session (two queries)."""
    found: dict[int, set[str]] = {}
    for model in (TOTPDevice, StaticDevice):
        for device in model.objects.filter(user_id__in=list(user_ids), confirmed=True).only("id", "user_id"):
            found.setdefault(device.user_id, set()).add(device.persistent_id)
    return found


class SecondFactorMiddleware:
    """After OTPMiddleware: a signed-in person who owes a second factor reaches only the pages
    that settle it; pages redirect there, the API answers 401."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = self.refusal(request)
        return refused if refused is not None else self.get_response(request)

    def refusal(self, request: HttpRequest) -> HttpResponse | None:
        user: Any = request.user  # OTPMiddleware's lazy user, with is_verified()
        if not user.is_authenticated or user.is_verified() or request.path.startswith(OPEN_PREFIXES):
            return None
        checked = request.session.get(NOT_NEEDED)
        if isinstance(checked, int) and time.time() - checked < CHECK_EVERY_S:
            return None
        if not needs_second_factor(user):
            request.session[NOT_NEEDED] = int(time.time())
            return None
        request.session.pop(NOT_NEEDED, None)
        if request.path.startswith("/api/"):
            return JsonResponse({"error": "second_factor_required", "field": None, "message": (
                "sign in with your second factor first (the sign-in page asks for it)")}, status=401)
        return redirect(f"/accounts/mfa/?{urlencode({'next': request.get_full_path()})}")
