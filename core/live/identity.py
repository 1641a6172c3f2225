"""Who a stream belongs to, from the signed session cookie, without Django's request cycle.

The stream endpoint (core/live/stream.py) is served outside Django's middleware, whose sync
parts take a thread per request: under a reconnect storm that is thousands of threads
waiting for a pooled connection. Instead, a stream's session is looked up the way
django.contrib.auth would (the session row unexpired, its backend configured, the user
active, the session's auth hash matching the user's password hash, secret fallbacks
included), in batches (core/live/batch.py), and remembered for a short while per process.

What is remembered expires after LIVE_AUTH_CACHE_S (a signed-out user's new streams are
refused within that time; open streams end within LIVE_STREAM_MAX_S). A deactivated user, or
one whose second factor was reset, is forgotten at once: the event that says so ends their
open streams and makes this process look their next stream up again (core/live/stream.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django_otp import DEVICE_ID_SESSION_KEY

from core.accounts import mfa
from core.accounts.models import User
from core.platform.roles import Role

# How long an answer that the session is not signed in is remembered: short, so a user who
# signs in is not refused for long, but long enough that a storm of bad cookies costs one read.
REFUSAL_CACHE_S = 5.0


@dataclass(frozen=True)
class Identity:
    """A signed-in user of an agency, as a stream needs them."""

    user_id: int
    tenant_id: int | None
    roles: frozenset[str]

    @property
    def has_agency_role(self) -> bool:
        """Users of an agency with a role have channels; platform staff and role-less users don't."""
        return self.tenant_id is not None and bool(self.roles & {role.value for role in Role})


def _user_of(data: dict[str, object], users: dict[int, User], devices: dict[int, set[str]]) -> User | None:
    """The session's user if Django's own session check would accept it, and the second factor
    too where one is needed (read-only: an unverified session is refused here, never flushed)."""
    if data.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return None
    try:
        user = users.get(int(str(data.get(SESSION_KEY))))
    except ValueError:
        return None
    if user is None or not user.is_active:
        return None
    claimed = str(data.get(HASH_SESSION_KEY) or "")
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not claimed or not any(constant_time_compare(claimed, h) for h in hashes):
        return None
    theirs = devices.get(user.id, set())
    enrolled = any(device.startswith("otp_totp.") for device in theirs)
    must = mfa.required_as_staff(user) or mfa.needed(
        (g.name for g in user.groups.all()), user.tenant.mfa_roles if user.tenant else (), enrolled)
    return user if not must or data.get(DEVICE_ID_SESSION_KEY) in theirs else None


def identities(session_keys: Sequence[str]) -> dict[str, Identity | None]:
    """The identity behind each session key (None: not signed in), in two queries for all of
    them (and two for their second factors); blocking, for the hub's threads (the connection goes back to the pool)."""
    try:
        store = SessionStore()
        sessions = {s.session_key: store.decode(s.session_data) for s in Session.objects.filter(
            session_key__in=list(session_keys), expire_date__gt=timezone.now())}
        user_ids = set()
        for data in sessions.values():
            try:
                user_ids.add(int(str(data.get(SESSION_KEY))))
            except ValueError:
                continue
        users = {u.id: u for u in User.objects.filter(id__in=user_ids).select_related("tenant")
                 .prefetch_related("groups")}
        devices = mfa.verified_device_ids(users)
        found: dict[str, Identity | None] = dict.fromkeys(session_keys)
        for key, data in sessions.items():
            user = _user_of(data, users, devices)
            if user is not None:
                found[key] = Identity(user.id, user.tenant_id, frozenset(g.name for g in user.groups.all()))
        return found
    finally:
        connection.close()


class IdentityCache:
    """Answers remembered per process: a reconnecting browser is usually known already."""

    def __init__(self, ttl_s: float, refusal_ttl_s: float = REFUSAL_CACHE_S, max_entries: int = 100_000) -> None:
        self._ttl_s = ttl_s
        self._refusal_ttl_s = min(refusal_ttl_s, ttl_s)
        self._max_entries = max_entries
        # session key -> (identity, expires at, stored at)
        self._entries: dict[str, tuple[Identity | None, float, float]] = {}
        # user id -> when they were revoked: what was remembered of them before then is stale.
        self._revoked: dict[int, float] = {}

    def get(self, session_key: str) -> tuple[bool, Identity | None]:
        """(known, identity): known is False when the key must be looked up."""
        entry = self._entries.get(session_key)
        if entry is None or entry[1] < time.monotonic():
            return False, None
        identity, _, stored_at = entry
        if identity is not None and self._revoked.get(identity.user_id, -1.0) >= stored_at:
            return False, None
        return True, identity

    def put(self, session_key: str, identity: Identity | None, asked_at: float | None = None) -> None:
        """Remember the answer of a lookup that started at `asked_at` (monotonic; now if None):
        a revocation after that start makes it stale."""
        if len(self._entries) >= self._max_entries:
            self._evict()
        now = time.monotonic()
        ttl = self._ttl_s if identity is not None else self._refusal_ttl_s
        self._entries[session_key] = (identity, now + ttl, now if asked_at is None else asked_at)

    def revoke(self, user_id: int) -> None:
        """Forget what is remembered of the user (each of their sessions is looked up again)."""
        now = time.monotonic()
        if len(self._revoked) > 1000:  # entries older than the cache's life protect nothing
            self._revoked = {u: t for u, t in self._revoked.items() if t > now - self._ttl_s}
        self._revoked[user_id] = now

    def _evict(self) -> None:
        now = time.monotonic()
        self._entries = {k: v for k, v in self._entries.items() if v[1] >= now}
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
