"""Enrolling and proving a second factor: an authenticator app (TOTP) and single-use recovery codes.

Who must is decided in core/accounts/mfa.py. Recovery codes are stored as digests
(recovery_digest), never as themselves: a copy of the database does not sign anyone in.
Every check of a code locks its device row (SELECT ... FOR UPDATE) for the check:
django-otp remembers the last time step accepted and refuses it again, and with the lock
two web processes cannot both accept one code (a replay). Wrong codes slow the device down
(django-otp's throttling doubles the wait after each failure) and are answered 429 while it
waits.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import django_otp
import segno
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.accounts.models import User
from core.platform.channels import people_channel, platform_channel
from core.platform.errors import Conflict, Invalid, RateLimited
from outbox.emit import emit

WRONG = "That code is wrong, or was already used: enter the current code from your app, or a recovery code."


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the key to type in, and the same as a QR code."""

    device_id: int
    key_base32: str
    otpauth_url: str
    qr_svg: str


def _event(event_type: str, user: User, payload: dict[str, object] | None = None) -> None:
    emit(event_type, aggregate_type="user", aggregate_id=user.id, tenant_id=user.tenant_id, actor_id=user.id,
         channel=people_channel(user.tenant_id) if user.tenant_id else platform_channel(),
         payload={"user_id": user.id, **(payload or {})})


def start_enrolment(user: User) -> Enrolment:
    """A new, unconfirmed authenticator for `user` (replacing an unconfirmed one); it counts
    only once a code from it is entered (confirm_enrolment)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return enrolment_of(device)


def pending_enrolment(user: User) -> Enrolment | None:
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    return enrolment_of(device) if device is not None else None


def enrolment_of(device: TOTPDevice) -> Enrolment:
    url = device.config_url
    return Enrolment(device.id, base64.b32encode(device.bin_key).decode(), url,
                     segno.make(url, error="m").svg_inline(scale=4, dark="#111", light="#fff"))


def _check(device: Device, token: str) -> bool:
    """Verify `token` on the locked device; RateLimited while the device is throttled."""
    allowed, details = device.verify_is_allowed()
    if not allowed:
        until = (details or {}).get("locked_until")
        wait = max(1, math.ceil((until - timezone.now()).total_seconds())) if until is not None else 30
        raise RateLimited(f"too many wrong codes; try again in {wait} s", retry_after_s=wait)
    return bool(device.verify_token(token))


def confirm_enrolment(request: HttpRequest, user: User, token: str) -> list[str]:
    """The first code from the new authenticator: it becomes the person's second factor (any
    earlier one is replaced), this session counts as verified, and fresh recovery codes are
    made. Returns the codes (shown once)."""
    codes = _confirm(request, user, _digits(token))
    if codes is None:  # raised out here, so that the failure's throttling count is kept
        raise Invalid(WRONG, field="token")
    return codes


@transaction.atomic(durable=True)
def _confirm(request: HttpRequest, user: User, token: str) -> list[str] | None:
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        raise Conflict("start the enrolment again: no authenticator is waiting to be confirmed")
    if not _check(device, token):
        return None
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(user)
    django_otp.login(request, device)
    _event("account.mfa_enrolled", user)
    return codes


RECOVERY_DIGEST_SALT = "ferry.people.recovery-code"


def recovery_digest(code: str, secret: str | None = None) -> str:
    """What is stored for a recovery code: a keyed digest (HMAC-SHA256 with SECRET_KEY, 80 bits
    in base32, the 16 characters django-otp's token column holds). The key matters: a code has
    only 40 bits, so an unkeyed hash of it would be found by trying them all."""
    mac = salted_hmac(RECOVERY_DIGEST_SALT, code.lower(), secret=secret or settings.SECRET_KEY, algorithm="sha256")
    return base64.b32encode(mac.digest()[:10]).decode().lower()


def _stored_recovery_token(device: StaticDevice, code: str) -> str:
    """The stored digest `code` matches: under SECRET_KEY, or under a key in SECRET_KEY_FALLBACKS
    (codes made before a key rotation still work); the current key's digest if none matches."""
    digests = [recovery_digest(code, secret) for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]]
    found = device.token_set.filter(token__in=digests).values_list("token", flat=True).first()
    return found or digests[0]


def _new_recovery_codes(user: User) -> list[str]:
    static, _ = StaticDevice.objects.get_or_create(user=user, name="recovery codes", defaults={"confirmed": True})
    static.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(settings.MFA_RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=recovery_digest(code)) for code in codes)
    return codes


@transaction.atomic(durable=True)
def new_recovery_codes(user: User) -> list[str]:
    """Replace the person's recovery codes (the old ones stop working)."""
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise Conflict("set up an authenticator app first")
    codes = _new_recovery_codes(user)
    _event("account.recovery_codes_renewed", user)
    return codes


def _digits(token: str) -> str:
    return "".join(str(token).split())[:16]


def verify(request: HttpRequest, user: User, token: str) -> str:
    """Prove the second factor with a code from the app or a recovery code (each works once);
    the session counts as verified. Returns which kind was used."""
    token = _digits(token)
    if not token:
        raise Invalid("enter the code from your authenticator app", field="token")
    kind = _verify(request, user, token)
    if kind is None:  # raised out here, so that the failure's throttling count is kept
        raise Invalid(WRONG, field="token")
    return kind


@transaction.atomic(durable=True)
def _verify(request: HttpRequest, user: User, token: str) -> str | None:
    app = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
    from_app = len(token) == 6 and token.isdigit()  # recovery codes have 8 characters
    if app is not None and from_app:
        if _check(app, token):
            django_otp.login(request, app)
            return "app"
        return None
    recovery = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
    if recovery is not None and not from_app and _check(recovery, _stored_recovery_token(recovery, token)):
        left = recovery.token_set.count()
        django_otp.login(request, recovery)
        _event("account.recovery_code_used", user, {"codes_left": left})
        return "recovery code"
    return None


def reset_second_factor(user: User) -> int:
    """Remove the person's authenticator and recovery codes (run in the caller's transaction:
    core.people.services.reset_second_factor); how many devices went."""
    removed = TOTPDevice.objects.filter(user=user).delete()[0]
    removed += StaticDevice.objects.filter(user=user).delete()[0]
    return removed
