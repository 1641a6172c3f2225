"""Who a stream belongs to, from the signed session cookie, without Django's request cycle.

The stream endpoint (core/live/stream.py) is served outside Django's middleware, whose sync
parts take a thread per request: under a reconnect storm that is thousands of threads
waiting for a pooled connection. Instead, a stream's session is looked up the way
django.contrib.auth would (the session row unexpired, its backend configured, the user
active, the session's auth hash matching the user's password hash, secret fallbacks
included), in batches (core/live/batch.py), and remembered for a short while per process.

What is remembered expires after LIVE_AUTH_CACHE_S (a signed-out or deactivated user's new
streams are refused within that time; open streams end within LIVE_STREAM_MAX_S).
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


def _user_of(data: dict[str, object], users: dict[int, User]) -> User | None:
    """The session's user if Django's own session check would accept it (read-only: an
    unverified session is refused here, never flushed)."""
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
    return user if claimed and any(constant_time_compare(claimed, h) for h in hashes) else None


def identities(session_keys: Sequence[str]) -> dict[str, Identity | None]:
    """The identity behind each session key (None: not signed in), in two queries for all of
    them; blocking, for the hub's threads (the connection goes back to the pool)."""
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
        users = {u.id: u for u in User.objects.filter(id__in=user_ids).prefetch_related("groups")}
        found: dict[str, Identity | None] = dict.fromkeys(session_keys)
        for key, data in sessions.items():
            user = _user_of(data, users)
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
        self._entries: dict[str, tuple[Identity | None, float]] = {}

    def get(self, session_key: str) -> tuple[bool, Identity | None]:
        """(known, identity): known is False when the key must be looked up."""
        entry = self._entries.get(session_key)
        if entry is None or entry[1] < time.monotonic():
            return False, None
        return True, entry[0]

    def put(self, session_key: str, identity: Identity | None) -> None:
        if len(self._entries) >= self._max_entries:
            self._evict()
        ttl = self._ttl_s if identity is not None else self._refusal_ttl_s
        self._entries[session_key] = (identity, time.monotonic() + ttl)

    def _evict(self) -> None:
        now = time.monotonic()
        self._entries = {k: v for k, v in self._entries.items() if v[1] >= now}
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
