"""Exactly one beat: the leader holds a PostgreSQL advisory lock, every other beat waits.

Beat sends each periodic task once per interval only if one beat runs. Several may be started
(a second replica, a beat on another host, a supervisor restarting one while the old one
lingers): each tries the session-level advisory lock BEAT_LEADER_LOCK on a connection of its
own. The one that holds it leads and sends; the others are standbys that try again every
BEAT_STANDBY_POLL_S and send nothing.

- A leader that dies (crash, SIGKILL, OOM) loses its connection and with it the lock at once;
  a standby takes over at its next try.
- A leader that cannot reach PostgreSQL (a network partition) may still reach Redis. Before
  every tick it checks on its lock connection that the session still holds the lock; a check
  that fails or does not answer within BEAT_LEASE_CHECK_S makes it step down before it sends
  anything. PostgreSQL keeps the lock of an unreachable session until TCP keepalives (set on
  the lock session, much longer than the check) declare it dead, so the old leader has
  stopped before a standby can lead.
- A new leader reads the schedule again from the database, where the old leader wrote each
  entry's last run after every send (beat_sync_every = 1), so it sends what is due next, not
  what the old leader already sent.

adr/0015-one-beat.md.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import psycopg
import structlog
from celery import schedules
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry

from core.platform.db import conninfo

log = structlog.get_logger(__name__)

# The advisory lock the leading beat holds ("fry-beat" as a big-endian bigint).
BEAT_LEADER_LOCK = int.from_bytes(b"fry-beat", "big")

TRY_LEAD = "SELECT pg_try_advisory_lock(%s)"
STILL_LEADING = """
SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
               AND ((classid::bigint << 32) | objid::bigint) = %s)
"""


class CappedEntry(ModelEntry):
    """A stored schedule entry; with BEAT_MAX_INTERVAL_S set (fault-injection runs), an interval
    longer than that runs every BEAT_MAX_INTERVAL_S instead."""

    def __init__(self, model: Any, app: Any = None) -> None:
        super().__init__(model, app)
        cap = settings.BEAT_MAX_INTERVAL_S
        current = getattr(self, "schedule", None)
        every = getattr(current, "run_every", None)  # interval schedules only (not crontab, solar)
        if cap and isinstance(current, schedules.schedule) and every is not None and every.total_seconds() > cap:
            self.schedule = schedules.schedule(timedelta(seconds=cap), app=self.app,
                                               nowfun=getattr(current, "nowfun", None))


class LeaderScheduler(DatabaseScheduler):
    """django-celery-beat's database scheduler that sends only while it leads."""

    Entry = CappedEntry

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.leading = False
        self._lock_db: psycopg.Connection[Any] | None = None
        self._unreachable = False
        self._waiting = False
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._lead():
            return float(settings.BEAT_STANDBY_POLL_S)
        # A leader ticks at least every BEAT_MAX_LOOP_S, so it checks its lock that often.
        return min(float(super().tick(*args, **kwargs)), float(settings.BEAT_MAX_LOOP_S))

    def close(self) -> None:
        super().close()
        self._drop_lock_connection()

    # --- leadership ---------------------------------------------------------------------

    def _lead(self) -> bool:
        """True when this beat holds the lock now (it may have just taken it)."""
        try:
            if self.leading:
                if self._query(STILL_LEADING):
                    return True
                self._step_down("lock no longer held")
                return False
            if self._query(TRY_LEAD):
                self._take_over()
                return True
            if not self._waiting:
                self._waiting = True
                log.info("beat.standby", lock=BEAT_LEADER_LOCK, poll_s=settings.BEAT_STANDBY_POLL_S)
        except psycopg.Error as exc:
            if self.leading:
                self._step_down(f"{type(exc).__name__}: {exc}".strip())
            elif not self._unreachable:
                log.warning("beat.database_unreachable", error=str(exc).strip())
            self._unreachable = True
            self._drop_lock_connection()
            return False
        if self._unreachable:
            self._unreachable = False
            log.info("beat.database_reachable")
        return False

    def _query(self, statement: str) -> bool:
        if self._lock_db is None or self._lock_db.closed:
            self._lock_db = self._connect()
        row = self._lock_db.execute(statement, (BEAT_LEADER_LOCK,)).fetchone()
        return bool(row and row[0])

    @staticmethod
    def _connect() -> psycopg.Connection[Any]:
        """A connection of its own for the lock: Django's is closed and reopened around
        scheduler work. The client gives up on a check after BEAT_LEASE_CHECK_S; the server
        drops the session (and the lock) only after its keepalives fail, which takes longer."""
        check_ms = int(settings.BEAT_LEASE_CHECK_S * 1000)
        server = settings.BEAT_LOCK_KEEPALIVE_S
        options = (f"-c tcp_keepalives_idle={server} -c tcp_keepalives_interval={server} "
                   f"-c tcp_keepalives_count=3 -c tcp_user_timeout={server * 4 * 1000} "
                   f"-c statement_timeout={check_ms}")
        return psycopg.connect(**conninfo(application_name="ferry-beat-lock", connect_timeout=max(
            2, int(settings.BEAT_LEASE_CHECK_S)), tcp_user_timeout=check_ms, keepalives=1,
            keepalives_idle=1, keepalives_interval=1, keepalives_count=2, options=options), autocommit=True)

    def _take_over(self) -> None:
        self.leading, self._waiting = True, False
        # Read every entry again (the last leader's last runs) and rebuild the send order.
        self._initial_read = True
        self._heap = None
        log.info("beat.leading", lock=BEAT_LEADER_LOCK)

    def _step_down(self, reason: str) -> None:
        self.leading = False
        self._drop_lock_connection()
        log.warning("beat.stepped_down", reason=reason)

    def _drop_lock_connection(self) -> None:
        if self._lock_db is not None:
            with contextlib.suppress(psycopg.Error):
                self._lock_db.close()
            self._lock_db = None
