"""Sign-ins that resist guessing: failures counted per account name and per client address.

State lives in PostgreSQL (core_loginthrottle), so every web process shares it and it
survives a Redis loss. Each failed sign-in is one upsert per scope, which also locks the scope
for LOGIN_LOCKOUT_S once LOGIN_FAILURE_LIMIT failures (per name) or LOGIN_ADDRESS_FAILURE_LIMIT
(per address) fall within LOGIN_FAILURE_WINDOW_S. A locked scope refuses every sign-in, with
the right password too, until the lock runs out or someone unlocks it. A name that exists and
one that does not are counted and locked alike, so the answers tell an attacker nothing about
which accounts exist. A successful sign-in clears its name's failures (not its address's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from core.accounts.models import User

# One failure of one scope: a new window if the last one ran out, a lock at the limit (a lock
# in force is kept as it is). Returns the failures now counted, the lock, and whether this very
# failure set it (no lock in force before it: `prior` reads the row as it was, locked).
RECORD_FAILURE = """
WITH prior AS (
    SELECT locked_until FROM core_loginthrottle WHERE scope = %(scope)s FOR UPDATE
), counted AS (
    INSERT INTO core_loginthrottle AS t (scope, failures, window_started_at, locked_until)
    VALUES (%(scope)s, 1, now(), CASE WHEN %(limit)s <= 1 THEN now() + make_interval(secs => %(lockout)s) END)
    ON CONFLICT (scope) DO UPDATE SET
        failures = CASE WHEN t.window_started_at < now() - make_interval(secs => %(window)s) THEN 1
                        ELSE t.failures + 1 END,
        window_started_at = CASE WHEN t.window_started_at < now() - make_interval(secs => %(window)s)
                                 THEN now() ELSE t.window_started_at END,
        locked_until = CASE
            WHEN t.locked_until > now() THEN t.locked_until
            WHEN (CASE WHEN t.window_started_at < now() - make_interval(secs => %(window)s) THEN 1
                       ELSE t.failures + 1 END) >= %(limit)s THEN now() + make_interval(secs => %(lockout)s)
            END
    RETURNING failures, locked_until
)
SELECT failures, locked_until,
       coalesce(locked_until > now(), false) AND NOT EXISTS (SELECT FROM prior WHERE locked_until > now())
FROM counted
"""

LOCKED_FOR = """
SELECT max(extract(epoch FROM locked_until - now())) FROM core_loginthrottle
WHERE scope = ANY(%(scopes)s) AND locked_until > now()
"""

CLEAR = "DELETE FROM core_loginthrottle WHERE scope = ANY(%(scopes)s) RETURNING scope"

# Claims `scope` unless it was claimed within the interval: a row is returned only when the
# claim is granted (a new row, or one whose window has run out).
CLAIM = """
INSERT INTO core_loginthrottle AS t (scope, failures, window_started_at) VALUES (%(scope)s, 0, now())
ON CONFLICT (scope) DO UPDATE SET window_started_at = now()
    WHERE t.window_started_at < now() - make_interval(secs => %(interval)s)
RETURNING scope
"""


def user_scope(username: str) -> str:
    return f"user:{username.strip().lower()[:150]}"


def address_scope(address: str) -> str:
    return f"addr:{address[:100]}"


@dataclass(frozen=True)
class Lockout:
    """A scope this failure locked: what the audit history records."""

    scope: str
    failures: int
    seconds: int
    tenant_id: int | None


def locked_for(username: str, address: str) -> int:
    """Seconds until sign-ins for this name from this address are allowed again (0: allowed)."""
    with connection.cursor() as cursor:
        cursor.execute(LOCKED_FOR, {"scopes": [user_scope(username), address_scope(address)]})
        row = cursor.fetchone()
    return math.ceil(row[0]) if row and row[0] else 0


def record_failure(username: str, address: str) -> list[Lockout]:
    """Count one failed sign-in for the name and for the address; the locks it set (run it in
    the transaction that records them in the audit history)."""
    lockouts = []
    limits = ((user_scope(username), settings.LOGIN_FAILURE_LIMIT),
              (address_scope(address), settings.LOGIN_ADDRESS_FAILURE_LIMIT))
    with connection.cursor() as cursor:
        for scope, limit in limits:
            cursor.execute(RECORD_FAILURE, {"scope": scope, "limit": limit, "window": settings.LOGIN_FAILURE_WINDOW_S,
                                            "lockout": settings.LOGIN_LOCKOUT_S})
            row = cursor.fetchone()
            if row is not None and row[2]:
                lockouts.append(Lockout(scope, int(row[0]), settings.LOGIN_LOCKOUT_S, _tenant_of(scope)))
    return lockouts


def clear(*scopes: str) -> list[str]:
    """Forget the failures (and any lock) of these scopes; the scopes that had any."""
    with connection.cursor() as cursor:
        cursor.execute(CLEAR, {"scopes": list(scopes)})
        return [row[0] for row in cursor.fetchall()]


def once_per(scope: str, interval_s: int) -> bool:
    """True at most once per `interval_s` for `scope` (across web processes): e.g. one
    password-reset mail per account per interval. Uses the caller's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(CLAIM, {"scope": scope[:200], "interval": interval_s})
        return cursor.fetchone() is not None


def _tenant_of(scope: str) -> int | None:
    """The agency whose audit history shows a lockout of this account name (None: platform)."""
    if not scope.startswith("user:"):
        return None
    tenant_id = (User.objects.filter(username__iexact=scope.removeprefix("user:"))
                 .values_list("tenant_id", flat=True).first())
    return int(tenant_id) if tenant_id is not None else None
