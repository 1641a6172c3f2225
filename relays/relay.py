"""The relay: drains committed outbox rows into Redis (Celery queues and pub/sub channels).

One batch is one Postgres transaction (ADR 0007):

    claim (FOR UPDATE SKIP LOCKED, mark relayed) -> pipelined publish to Redis -> COMMIT

Between batches it also moves completed events from the hot outbox table to the history
(ADR 0006), so the hot table stays small.

The claimed rows stay locked only while the pipeline runs, bounded by the Redis socket
timeout. If Redis fails, the transaction rolls back and the rows are pending again; if
the relay dies after publishing and before committing, the rows are published again by
whoever claims them next. Duplicates are expected; consumers are idempotent.

Several relays can run at once: SKIP LOCKED hands each batch to exactly one of them.
When there is nothing to do, a relay waits for NOTIFY (see queries.RELAY_IDLE_LOCK for
how writers know whether to send one) and polls as a fallback.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import kombu.exceptions
import psycopg
import redis
import structlog
from celery import current_app
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from core.platform.tasks import QUEUES
from outbox import doorbell, queries
from relays.messages import CeleryMessages, ClaimedEvent, claimed_rows
from relays.metrics import RelayMetrics

log = structlog.get_logger(__name__)

# A bound above every tenant id: the claim looks at tenants below it.
ALL_TENANTS = 2**62


REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError,
                kombu.exceptions.OperationalError)
POSTGRES_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


@dataclass
class RelayConfig:
    batch_size: int = 1000
    poll_interval_s: float = 1.0
    # After relaying, keep polling every linger_poll_s for linger_s before going idle: while
    # the relay lingers, writers see no idle relay and send no NOTIFY (ADR 0007), and new
    # events wait at most one short poll.
    linger_s: float = 0.25
    # While lingering, look for a new row this often (one index probe, queries.NEWEST_ID), and
    # claim when one appeared, or every linger_claim_s in any case (a row can commit after
    # one with a higher id, which the probe would not tell).
    linger_poll_s: float = 0.0005
    linger_claim_s: float = 0.02
    # Long drains follow a keyset cursor; rewinding this often lets urgent (lower priority
    # number) and late-committed rows through.
    rewind_interval_s: float = 1.0
    # How often completed events move to the history, and how many per statement.
    move_interval_s: float = 1.0
    move_batch: int = 5000
    redis_timeout_s: float = 2.0
    backoff_max_s: float = 5.0
    name: str = "relay"
    # A claim is shared among at most this many tenants (the next claim serves the next ones).
    max_tenants: int = 100
    # Task messages left waiting in each Redis queue before the relay holds that queue's
    # events back in PostgreSQL, where claims are fair among tenants (None: no bound).
    max_queued: int | None = 32
    # While events wait for room in a queue, look for it this often (workers make it; nothing
    # notifies). Pub/sub events claimed meanwhile wait at most this long too.
    held_poll_s: float = 0.02
    # Read the gauges the apps define by a query (core.platform.metrics.DATABASE_GAUGES) at
    # each stats refresh; off where the database holds only the outbox (relay_bench's).
    database_gauges: bool = True


class _Health:
    """Which dependency is failing, so each change of state is logged once, not per row."""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.backoff_s = 0.0

    def failed(self, what: str, error: BaseException, cap: float) -> float:
        if what not in self.failing:
            self.failing.add(what)
            log.error("relay.dependency_unavailable", dependency=what, error=str(error) or type(error).__name__)
        self.backoff_s = min(cap, max(0.05, self.backoff_s * 2))
        return self.backoff_s

    def ok(self) -> None:
        for what in sorted(self.failing):
            log.info("relay.dependency_recovered", dependency=what)
        self.failing.clear()
        self.backoff_s = 0.0


class Relay:
    def __init__(
        self,
        conninfo: Mapping[str, Any],
        broker_url: str,
        pubsub_url: str,
        config: RelayConfig | None = None,
        metrics: RelayMetrics | None = None,
        on_published: Callable[[Sequence[ClaimedEvent]], None] | None = None,
    ) -> None:
        """`on_published` runs after a batch reached Redis and before its commit: tests and the
        chaos harness observe (or interrupt) the relay there; production passes nothing."""
        self.config = config or RelayConfig()
        self._on_published = on_published
        self.metrics = metrics or RelayMetrics()
        redis_options = {"socket_timeout": self.config.redis_timeout_s,
                         "socket_connect_timeout": self.config.redis_timeout_s}
        self._broker = redis.Redis.from_url(broker_url, **redis_options)
        self._pubsub = redis.Redis.from_url(pubsub_url, **redis_options)
        self._conninfo = dict(conninfo)
        self._db: psycopg.Connection[Any] | None = None
        # A full batch's successor is claimed on a second connection, in a thread (_drain).
        self._db_ahead: psycopg.Connection[Any] | None = None
        self._claimer: ThreadPoolExecutor | None = None
        self._kombu: CeleryMessages | None = None
        self._after: dict[str, tuple[int, int]] = {}  # per "tenant:queue", a keyset cursor (see CLAIM)
        self._before_tenant = ALL_TENANTS
        self._deal_after = -1
        self._rewound_at = time.monotonic()
        self._full: list[str] = []  # task queues with no room at the last claim
        self.held_back = False  # events wait for room in a queue: poll, nothing will notify
        self._health = _Health()
        self._last_relayed = 0.0
        self._newest: tuple[Any, ...] | None = None  # the newest row's id, as _linger last saw it
        self.stopping = False

    # --- connections ----------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        """A connection whose commits do not wait for the WAL to reach disk (ADR 0007): a claim
        that a database crash forgets is relayed again, the duplicate a relay crash between
        publish and commit already makes."""
        db = psycopg.connect(**self._conninfo, autocommit=True)
        db.execute(queries.RELAY_ASYNC_COMMIT)
        return db

    def _connection(self) -> psycopg.Connection[Any]:
        if self._db is None or self._db.closed:
            self._db = self._connect()
            self._db.execute(queries.RELAY_LISTEN)
        return self._db

    def _connection_ahead(self) -> psycopg.Connection[Any]:
        if self._db_ahead is None or self._db_ahead.closed:
            self._db_ahead = self._connect()
        return self._db_ahead

    def _close_databases(self) -> None:
        for db in (self._db, self._db_ahead):
            if db is not None:
                db.close()

    def _messages(self) -> CeleryMessages:
        """Celery messages built with a kombu Redis channel's envelope helpers."""
        messages = self._kombu
        if messages is None:
            messages = self._kombu = CeleryMessages(current_app.connection_for_write().default_channel)
        return messages

    def close(self) -> None:
        if self._claimer is not None:
            self._claimer.shutdown()
        self._close_databases()
        self._broker.close()
        self._pubsub.close()

    # --- one batch --------------------------------------------------------------------

    def relay_batch(self) -> int:
        """Claim, publish and mark one batch. Returns how many events it relayed."""
        db = self._connection()
        messages = self._messages()  # before the claim: no row is locked while Redis connects
        room = self._room()  # likewise
        started = time.perf_counter()
        with db.transaction():
            events = self._claim(db, self._claim_params(room))
            if not events:
                self._claimed_nothing(db)
                return 0
            self._publish(events, messages)
            if self._on_published is not None:
                self._on_published(events)
        self._relayed(events, started)
        self._follow(events)
        return len(events)

    def relay_batches(self) -> int:
        """Relay one batch, and if it came back full, the ones after it (_drain)."""
        relayed = self.relay_batch()
        if relayed < self.config.batch_size or self.stopping:
            return relayed
        return relayed + self._drain()

    def _drain(self) -> int:
        """Full batches back to back, until one comes back short or the rewind interval is up.
        Each next batch is claimed in a thread, on a second connection, while the one before it
        is published and committed: PostgreSQL claims on one core while the relay builds and
        sends messages on the other (a task queue with a bound rarely gives a full batch, so
        this is for floods of live events and for relays run with RELAY_MAX_QUEUED=0). Every
        batch is still published before its own transaction commits; if anything fails, every
        open claim rolls back and the cursors rewind, so its rows are claimed again."""
        messages = self._messages()
        if self._claimer is None:
            self._claimer = ThreadPoolExecutor(1, thread_name_prefix="relay-claim")
        deadline = self._rewound_at + self.config.rewind_interval_s
        db, ahead = self._connection(), self._connection_ahead()
        started = time.perf_counter()
        claim: Future[list[ClaimedEvent]] | None = self._claimer.submit(
            self._open_claim, db, self._claim_params(self._room()))
        relayed = 0
        while claim is not None:
            events = claim.result()  # a failed claim has rolled its transaction back
            claim = None
            if not events:
                db.execute("COMMIT")
                self._claimed_nothing(db)
                break
            self._follow(events)  # the next claim goes on after this one
            if len(events) == self.config.batch_size and not self.stopping and time.monotonic() < deadline:
                claim = self._claimer.submit(self._open_claim, ahead, self._claim_params(self._room_after(events)))
            try:
                self._publish(events, messages)
                if self._on_published is not None:
                    self._on_published(events)
                db.execute("COMMIT")
            except BaseException:
                self._abandon(db, claim, ahead)
                raise
            self._relayed(events, started)
            relayed += len(events)
            db, ahead, started = ahead, db, time.perf_counter()
        return relayed

    def _open_claim(self, db: psycopg.Connection[Any], params: dict[str, Any]) -> list[ClaimedEvent]:
        """BEGIN and claim; the transaction stays open for the publish (rolled back if the claim fails)."""
        db.execute("BEGIN")
        try:
            return self._claim(db, params)
        except BaseException:
            _rollback(db)
            raise

    def _abandon(self, db: psycopg.Connection[Any], claim: Future[list[ClaimedEvent]] | None,
                 ahead: psycopg.Connection[Any]) -> None:
        """A publish failed: roll back its batch and the claim made ahead of it."""
        _rollback(db)
        if claim is not None:
            try:
                claim.result()
            except BaseException:  # noqa: S110 - already rolled back; the publish's error is the one raised
                pass
            else:
                _rollback(ahead)
        self._rewind()

    def _claim(self, db: psycopg.Connection[Any], params: dict[str, Any]) -> list[ClaimedEvent]:
        with db.cursor(row_factory=claimed_rows) as cursor:
            return cursor.execute(queries.CLAIM, params).fetchall()

    def _claim_params(self, room: dict[str, int]) -> dict[str, Any]:
        messages = self._messages()
        return {"before_tenant": self._before_tenant, "max_tenants": self.config.max_tenants,
                "limit": self.config.batch_size, "room": Jsonb(room), "deal_after": self._deal_after,
                "after": Jsonb({key: list(cursor) for key, cursor in self._after.items()}),
                "templates": Jsonb(messages.sql_templates), "tag_prefix": messages.claim_tags()}

    def _claimed_nothing(self, db: psycopg.Connection[Any]) -> None:
        self._rewind()  # the tails are reached (see _follow)
        self.held_back = bool(self._full) and bool(db.execute(queries.WAITING_FOR_ROOM,
                                                              {"queues": self._full}).fetchone())

    def _relayed(self, events: list[ClaimedEvent], started: float) -> None:
        elapsed = time.perf_counter() - started
        self.metrics.batch(events, elapsed)
        if log.isEnabledFor(logging.DEBUG):  # which requests' events went (LOG_LEVEL=DEBUG)
            log.debug("relay.batch", events=len(events), ms=round(elapsed * 1000, 1),
                      trace_ids=sorted({event.trace_id for event in events if event.trace_id}))
        self._last_relayed = time.monotonic()

    def _room(self) -> dict[str, int]:
        """How many more events each destination may take now: pub/sub ('') a whole batch; a
        task queue its bound less the messages waiting in it, once it is down to half its bound
        (so that a flood is refilled in batches, not one message at a time)."""
        batch = self.config.batch_size
        bound = self.config.max_queued
        if bound is None:
            self._full, self.held_back = [], False
            return {"": batch, **dict.fromkeys(QUEUES, batch)}
        free = {queue: bound - depth for queue, depth in self._queue_depths().items()}
        refill_at = (bound + 1) // 2
        room = {queue: min(batch, n) if n >= refill_at else 0 for queue, n in free.items()}
        self._full = [queue for queue, n in room.items() if n == 0]
        self.held_back = bool(self._full)
        return {"": batch, **room}

    def _room_after(self, events: list[ClaimedEvent]) -> dict[str, int]:
        """The room there will be once `events` (not yet pushed) are in their queues."""
        room = self._room()
        if self.config.max_queued is not None:
            for queue, count in Counter(event.queue for event in events if event.queue is not None).items():
                room[queue] = max(0, room.get(queue, 0) - count)
        return room

    def _queue_depths(self) -> dict[str, int]:
        """Messages waiting in each Celery queue (one pipeline of LLENs)."""
        pipe = self._broker.pipeline(transaction=False)
        for queue in QUEUES:
            pipe.llen(queue)
        return {queue: int(depth) for queue, depth in zip(QUEUES, pipe.execute(), strict=True)}

    def _follow(self, events: list[ClaimedEvent]) -> None:
        """Keyset cursors for the next claim: a tenant that got its whole share may have more,
        and its next scan of each queue starts after the last event it got from it; a tenant
        that got less is at its tail, and its next scans start from the beginning (rows that
        committed late with smaller ids, or came back from a retry or the sweep)."""
        last: dict[tuple[int, str], ClaimedEvent] = {}
        count: Counter[int] = Counter()
        for event in events:
            tenant = event.tenant_id or 0
            last[(tenant, event.queue or "")] = event
            count[tenant] += 1
        share = events[0].batch_share
        for (tenant, queue), event in last.items():
            if count[tenant] >= share:
                self._after[f"{tenant}:{queue}"] = (event.priority, event.id)
            else:
                self._after = {key: cursor for key, cursor in self._after.items()
                               if not key.startswith(f"{tenant}:")}
        # More tenants than one claim serves (they are found from the highest id down): the
        # next claim starts below the last one served.
        self._before_tenant = min(count) if events[0].batch_tenants >= self.config.max_tenants else ALL_TENANTS
        # A queue's room goes round the tenants: the next claim deals it from the next tenant.
        self._deal_after = max(count)

    def _publish(self, events: list[ClaimedEvent], messages: CeleryMessages) -> None:
        by_queue: dict[str, list[str | bytes]] = {}
        pubsub = self._pubsub.pipeline(transaction=False)
        for event in events:
            if event.queue is not None:
                by_queue.setdefault(event.queue, []).append(event.message or messages.build(event))
            else:
                assert event.channel is not None
                pubsub.publish(event.channel, doorbell.ring(event.cursor))
        if by_queue:
            broker = self._broker.pipeline(transaction=False)
            for queue, encoded in by_queue.items():
                # LPUSH with many values pushes them in order; workers pop from the tail,
                # so the batch's (priority, id) order is the order of consumption.
                broker.lpush(queue, *encoded)
            broker.execute()
        if len(pubsub):
            pubsub.execute()

    def move_completed(self, max_batches: int = 10) -> int:
        """Move completed events to the history (returns how many, bounded per call) and forget
        the ordering keys that have nothing left to order."""
        db = self._connection()
        moved = 0
        for _ in range(max_batches):
            count = db.execute(queries.MOVE_COMPLETED, {"limit": self.config.move_batch}).rowcount
            moved += count
            if count < self.config.move_batch:
                break
        if moved:
            self.metrics.moved.inc(moved)
        db.execute(queries.PRUNE_KEYS, {"limit": self.config.move_batch})  # settled ordering keys
        return moved

    def step(self) -> bool:
        """Relay one batch. Returns True if the loop should continue at once."""
        if time.monotonic() - self._rewound_at > self.config.rewind_interval_s:
            self._rewind()
        followed_keyset = bool(self._after)
        relayed = self.relay_batches()
        # After a batch there may be more; after an empty one that followed keyset cursors,
        # look once more from the start (relay_batch has rewound them).
        return relayed > 0 or followed_keyset

    def _rewind(self) -> None:
        self._after = {}
        self._before_tenant = ALL_TENANTS
        self._rewound_at = time.monotonic()

    # --- waiting ----------------------------------------------------------------------

    def rest(self) -> None:
        """Nothing to claim: poll briefly if events flowed a moment ago or a queue is full (its
        workers will take messages soon, and nothing will notify), else wait for NOTIFY."""
        if self.held_back:
            time.sleep(self.config.held_poll_s)
        elif time.monotonic() - self._last_relayed < self.config.linger_s:
            self._linger()
        else:
            self.wait_for_work()

    def _linger(self) -> None:
        """Return when the newest row's id changes (a commit since the last look), or after
        linger_claim_s: probing the primary key's end costs a fraction of an empty claim, so
        it can look ten times as often for the same work."""
        db = self._connection()
        deadline = time.monotonic() + self.config.linger_claim_s
        while not self.stopping and time.monotonic() < deadline:
            newest = db.execute(queries.NEWEST_ID).fetchone()
            if newest != self._newest:
                self._newest = newest
                return
            time.sleep(self.config.linger_poll_s)

    def wait_for_work(self) -> None:
        """Block until NOTIFY, the next deferred row is due, or the poll interval passes.

        Holding the idle lock tells writers to NOTIFY (queries.WAKE_RELAY); acquiring it
        waits for writers still in their transaction, and the claim right after it sees
        what they committed, so no wake-up falls between the check and the wait.
        """
        db = self._connection()
        listening = self._become_listener(db)
        try:
            if self.relay_batch():
                return
            timeout = self.config.poll_interval_s if listening else min(0.05, self.config.poll_interval_s)
            due = db.execute(queries.NEXT_DUE).fetchone()
            if due and due[0] is not None:
                timeout = max(0.0, min(timeout, due[0].total_seconds()))
            deadline = time.monotonic() + timeout
            while not self.stopping and time.monotonic() < deadline:
                # Short slices keep SIGTERM handling prompt.
                slice_s = min(0.25, max(0.0, deadline - time.monotonic()))
                if any(True for _ in db.notifies(timeout=slice_s, stop_after=1)):
                    break
        finally:
            if listening and not db.closed:
                db.execute(queries.RELAY_END_IDLE, (queries.RELAY_IDLE_LOCK,))

    def _become_listener(self, db: psycopg.Connection[Any]) -> bool:
        """Take the idle lock; False if another relay holds it (it will get the NOTIFYs too)."""
        try:
            with db.transaction():
                db.execute(queries.RELAY_IDLE_LOCK_TIMEOUT)
                db.execute(queries.RELAY_TRY_IDLE, (queries.RELAY_IDLE_LOCK,))
        except pg_errors.LockNotAvailable:
            return False
        return True

    # --- the loop ---------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool] | None = None) -> None:
        """Relay until `stopping` is set (SIGTERM) or should_stop() returns True."""
        log.info("relay.started", batch_size=self.config.batch_size, name=self.config.name)
        last_stats = last_move = 0.0
        while not self.stopping and not (should_stop and should_stop()):
            try:
                if time.monotonic() - last_stats > 5:
                    self.refresh_stats()
                    last_stats = time.monotonic()
                if time.monotonic() - last_move > self.config.move_interval_s:
                    self.move_completed()
                    last_move = time.monotonic()
                if not self.step():
                    self.rest()
                self._health.ok()
            except REDIS_ERRORS as exc:
                self._on_failure("redis", exc)
            except POSTGRES_ERRORS as exc:
                self._on_failure("postgres", exc)
        self.close()
        log.info("relay.stopped", name=self.config.name)

    def _on_failure(self, what: str, exc: BaseException) -> None:
        self.metrics.error(what)
        if what == "postgres":
            self._close_databases()
        if what == "redis":
            self._kombu = None
        delay = self._health.failed(what, exc, self.config.backoff_max_s)
        deadline = time.monotonic() + delay
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, delay))

    def refresh_stats(self) -> None:
        db = self._connection()
        pending, due, oldest_age, inflight, dead = db.execute(queries.PENDING_STATS).fetchone()  # type: ignore[misc]
        lag_by_type = {str(event_type): float(lag) for event_type, lag in db.execute(queries.LAG_BY_EVENT_TYPE)}
        self.metrics.stats(pending=pending, due=due, oldest_age_s=float(oldest_age), inflight=inflight, dead=dead,
                           lag_by_type=lag_by_type, queued=self._queue_depths())
        if not self.config.database_gauges:
            return
        for name, query in self.metrics.database.queries():
            try:
                rows = db.execute(query).fetchall()
            except psycopg.OperationalError:
                raise  # the database is unreachable: the loop's backoff
            except psycopg.Error as exc:  # one app's broken query must not stop the relay
                log.warning("relay.database_gauge_failed", gauge=name, error=str(exc).strip())
                continue
            self.metrics.database.set(name, rows)


def _rollback(db: psycopg.Connection[Any]) -> None:
    """Roll back an open transaction, unless the connection is gone (the server then has)."""
    if not db.closed and db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        try:
            db.execute("ROLLBACK")
        except POSTGRES_ERRORS:
            db.close()
