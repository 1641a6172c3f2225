"""The hub: one per web process, between Postgres (the truth) and every open stream.

Why it is built this way is in ADR 0009. In short:

- Redis pub/sub is only a doorbell. One connection per process pattern-subscribes to
  `tenant:*`; a message says "tenant T has news". The events themselves are read from
  Postgres with outbox.reader.read_after, in commit-safe (txid, id) order, so an event that
  committed late with a smaller id is delivered, and a message Redis dropped costs latency
  (the periodic poll), not the event.
- One group per tenant with open streams in this process holds the group's cursor and the
  streams' channels. A wake-up (doorbells debounced for a few ms, or the poll) is one read
  for the whole group, fanned out to each stream whose channels match.
- A stream joins a group and learns the group's cursor at that moment: everything after it
  reaches the stream through the group, everything up to it the stream replays itself
  (hand-over without gap or duplicate; see core/live/stream.py). Joining takes no lock
  (thousands join at once in a storm): a stream whose channels the group's read in flight
  is not fetching waits for that read to end, and takes the cursor it ended at.
- Reads run in a small thread pool and return their pooled connection at once; an idle
  stream costs a queue and a coroutine, no thread and no database connection.
- Replays are shared: streams of a group that ask to replay within a few milliseconds of
  each other (a reconnect storm after a restart) are served by one read of the union of
  their channels from the oldest of their cursors, each taking what is its own. A storm
  costs the database a few reads, not one per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis.asyncio as aioredis
import structlog
from django.conf import settings

from core.live import events
from core.live.events import LiveEvent
from outbox import doorbell
from outbox.reader import Cursor

log = structlog.get_logger(__name__)

T = TypeVar("T")

DOORBELL_PATTERN = "tenant:*"
# The overflow marker put on a stream's queue: the stream ends and the browser replays.
OVERFLOW = None


@dataclass(frozen=True)
class HubConfig:
    poll_interval_s: float = 3.0
    debounce_s: float = 0.005
    queue_limit: int = 1000
    read_limit: int = 500
    # At most this many reads (so pooled connections) at once for all streams of the process.
    db_threads: int = 4
    # Replays asked for within this window share one read; one shared read covers at most
    # about this many events (a client further behind reads the rest on its own).
    replay_delay_s: float = 0.01
    replay_batch_limit: int = 5000
    redis_url: str | None = None  # None: no doorbell, the poll alone (tests)
    redis_timeout_s: float = 2.0

    @classmethod
    def from_settings(cls) -> HubConfig:
        return cls(poll_interval_s=settings.LIVE_POLL_INTERVAL_S, debounce_s=settings.LIVE_DEBOUNCE_S,
                   queue_limit=settings.LIVE_QUEUE_LIMIT, redis_url=settings.REDIS_PUBSUB_URL,
                   redis_timeout_s=settings.REDIS_SOCKET_TIMEOUT)


class Subscription:
    """One stream's membership of its tenant's group.

    `start` is the group's cursor when the stream joined: every event after it that matches
    `channels` arrives on `queue`, in order. Too slow a reader gets OVERFLOW and should end.
    """

    def __init__(self, group: Group, channels: frozenset[str], limit: int) -> None:
        self.group = group
        self.channels = channels
        self.start: Cursor = group.position
        self.queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue()
        self._limit = limit
        self.overflowed = False

    def deliver(self, event: LiveEvent) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= self._limit:
            self.overflowed = True
            self.queue.put_nowait(OVERFLOW)
            log.warning("live.stream_overflowed", tenant_id=self.group.tenant_id, queued=self._limit)
            return
        self.queue.put_nowait(event)


@dataclass(frozen=True)
class ReplayPage:
    """Events a stream missed, and their frames as one write (shared by every stream whose
    replay is the same: in a storm, thousands of browsers missed the same events)."""

    events: list[LiveEvent]
    chunk: bytes

    @classmethod
    def of(cls, events: list[LiveEvent]) -> ReplayPage:
        return cls(events, b"".join(event.frame for event in events))


@dataclass(eq=False)
class _ReplayWait:
    """One stream's replay, waiting for the group's shared read."""

    channels: frozenset[str]
    after: Cursor
    upto: Cursor
    answer: asyncio.Future[tuple[ReplayPage, Cursor]]


@dataclass(eq=False)
class Group:
    """The open streams of one tenant in this process, and how far they have been served."""

    tenant_id: int
    cursor: Cursor | None = None
    subscriptions: set[Subscription] = field(default_factory=set)
    channels: Counter[str] = field(default_factory=Counter)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Set while the group's first position is read (the group is new).
    ready: asyncio.Task[None] | None = None
    # While a read is in flight: the channels it fetches, and a future done when it ends.
    reading: frozenset[str] = frozenset()
    read_done: asyncio.Future[None] | None = None
    # The highest cursor a doorbell announced on one of our channels; if a read ends before
    # it (its transaction is not yet below the reader's horizon), we read again soon.
    wanted: Cursor | None = None
    retry_in: float | None = None
    task: asyncio.Task[None] | None = None
    closed: bool = False
    # Replays waiting to share the group's next replay read (Hub.replay).
    replays: list[_ReplayWait] = field(default_factory=list)
    replay_flush: asyncio.TimerHandle | None = None

    @property
    def position(self) -> Cursor:
        assert self.cursor is not None
        return self.cursor

    def add(self, subscription: Subscription) -> None:
        self.subscriptions.add(subscription)
        self.channels.update(subscription.channels)

    def remove(self, subscription: Subscription) -> None:
        if subscription in self.subscriptions:
            self.subscriptions.discard(subscription)
            for channel in subscription.channels:  # O(its channels), not O(the group's)
                self.channels[channel] -= 1
                if self.channels[channel] <= 0:
                    del self.channels[channel]

    def fan_out(self, event: LiveEvent) -> None:
        self.cursor = event.cursor
        for subscription in self.subscriptions:
            if event.channel in subscription.channels:
                subscription.deliver(event)


def tenant_of(channel: str) -> int | None:
    """The tenant id in a channel name "tenant:<id>:..." (core.platform.channels), or None."""
    prefix, _, rest = channel.partition(":")
    number = rest.partition(":")[0]
    return int(number) if prefix == "tenant" and number.isdigit() else None


class Hub:
    """Serves every stream of this process; create it inside the running event loop."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.loop = asyncio.get_running_loop()
        self._groups: dict[int, Group] = {}
        self._executor = ThreadPoolExecutor(max_workers=config.db_threads, thread_name_prefix="live-db")
        self._doorbell: asyncio.Task[None] | None = None
        self.doorbell_connected = asyncio.Event()
        self._closing = False
        self.shared_replays = 0  # shared replay reads made, for tests and the benchmark

    # --- streams ------------------------------------------------------------------------

    async def subscribe(self, tenant_id: int, channels: Sequence[str]) -> Subscription:
        """Join the tenant's group; see Subscription for what the stream then receives."""
        self._start_doorbell()
        wanted = frozenset(channels)
        while True:
            group = self._groups.get(tenant_id)
            if group is None:
                group = self._groups[tenant_id] = Group(tenant_id)
                group.ready = asyncio.create_task(self._start_group(group), name=f"live-start-{tenant_id}")
            if group.cursor is None:
                assert group.ready is not None
                await asyncio.shield(group.ready)
            if group.closed:  # its last stream left meanwhile, or it failed to start
                continue
            subscription = Subscription(group, wanted, self.config.queue_limit)
            group.add(subscription)
            if group.read_done is not None and not wanted <= group.reading:
                # The read in flight fetches none of this stream's own channels, yet it moves
                # the group's cursor past them: the stream replays up to where it ends.
                await asyncio.shield(group.read_done)
                subscription.start = group.position
            return subscription

    async def _start_group(self, group: Group) -> None:
        """A new group starts at the current position: it serves what comes next, and each
        stream replays its own past."""
        try:
            group.cursor = await self.run(events.horizon)
        except BaseException:
            self._retire(group)  # the next stream tries again
            raise
        group.task = asyncio.create_task(self._serve(group), name=f"live-tenant-{group.tenant_id}")

    def unsubscribe(self, subscription: Subscription) -> None:
        group = subscription.group
        group.remove(subscription)
        if not group.subscriptions:
            group.wake.set()  # let its task notice and retire the group

    async def replay(self, subscription: Subscription, after: Cursor) -> AsyncIterator[ReplayPage]:
        """The stream's events in (after, subscription.start], in order, page by page: first
        from the read it shares with the group's other replays, then (if it is further
        behind than that read covered) on its own."""
        upto = subscription.start
        if after >= upto:
            return
        shared, cursor = await self._shared_replay(subscription.group, subscription.channels, after, upto)
        if shared.events:
            yield shared
        channels = sorted(subscription.channels)
        while cursor < upto:
            page, cursor = await self.run(events.read_range, cursor, upto, channels, self.config.read_limit,
                                          self.config.read_limit)
            if page:
                yield ReplayPage.of(page)

    async def _shared_replay(self, group: Group, channels: frozenset[str], after: Cursor,
                             upto: Cursor) -> tuple[ReplayPage, Cursor]:
        wait = _ReplayWait(channels, after, upto, self.loop.create_future())
        group.replays.append(wait)
        if group.replay_flush is None:
            group.replay_flush = self.loop.call_later(self.config.replay_delay_s, self._start_replays, group)
        return await asyncio.shield(wait.answer)

    def _start_replays(self, group: Group) -> None:
        waits, group.replays, group.replay_flush = group.replays, [], None
        if waits:
            self.loop.create_task(self._answer_replays(waits))

    async def _answer_replays(self, waits: list[_ReplayWait]) -> None:
        """One read for all `waits`: the union of their channels from the oldest cursor."""
        channels = sorted(frozenset().union(*(w.channels for w in waits)))
        after, upto = min(w.after for w in waits), max(w.upto for w in waits)
        try:
            found, covered = await self.run(events.read_range, after, upto, channels, self.config.read_limit,
                                            self.config.replay_batch_limit)
        except Exception as exc:  # each waiting stream fails and its browser reconnects
            for wait in waits:
                if not wait.answer.done():
                    wait.answer.set_exception(exc)
            return
        self.shared_replays += 1
        present = frozenset(e.channel for e in found)
        pages: dict[tuple[frozenset[str], Cursor, Cursor], ReplayPage] = {}
        for wait in waits:
            # Streams asking for the same events get the same page, written from the same bytes.
            key = (wait.channels & present, wait.after, wait.upto)
            page = pages.get(key)
            if page is None:
                page = pages[key] = ReplayPage.of(
                    [e for e in found if e.channel in key[0] and wait.after < e.cursor <= wait.upto])
            if not wait.answer.done():
                wait.answer.set_result((page, min(wait.upto, covered)))

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking database work in the hub's threads."""
        return await self.loop.run_in_executor(self._executor, functools.partial(function, *args))

    # --- one group's reads --------------------------------------------------------------

    async def _serve(self, group: Group) -> None:
        """Read for the group on every wake-up or poll, until its last stream has left."""
        while True:
            await self._wait(group)
            if not group.subscriptions:
                self._retire(group)
                return
            try:
                await self._read(group)
            except Exception as exc:  # Postgres unreachable: retry; streams wait, lose nothing
                log.warning("live.read_failed", tenant_id=group.tenant_id, error=f"{type(exc).__name__}: {exc}")
                group.retry_in = min(self.config.poll_interval_s, (group.retry_in or 0.05) * 2)
                continue
            self._schedule_retry(group)

    async def _wait(self, group: Group) -> None:
        timeout = group.retry_in if group.retry_in is not None else self.config.poll_interval_s
        try:
            await asyncio.wait_for(group.wake.wait(), timeout)
            if self.config.debounce_s:
                await asyncio.sleep(self.config.debounce_s)  # one read for a burst of doorbells
        except TimeoutError:
            pass
        group.wake.clear()

    async def _read(self, group: Group) -> None:
        """Read everything after the group's cursor on its channels and fan it out. Streams
        joining meanwhile with channels of their own wait for it to end (see subscribe)."""
        group.reading = frozenset(group.channels)
        group.read_done = self.loop.create_future()
        channels = sorted(group.reading)
        try:
            while True:
                page = await self.run(events.read_events, group.position, channels, self.config.read_limit)
                for event in page:
                    group.fan_out(event)
                if len(page) < self.config.read_limit:
                    return
        finally:
            done, group.read_done, group.reading = group.read_done, None, frozenset()
            done.set_result(None)

    def _schedule_retry(self, group: Group) -> None:
        """Read again soon if a doorbell announced an event we could not see yet (its
        transaction was not below the horizon), backing off up to the poll interval."""
        if group.wanted is None or group.position >= group.wanted:
            group.wanted = group.retry_in = None
            return
        delay = min(self.config.poll_interval_s, (group.retry_in or 0.0025) * 2)
        if delay >= self.config.poll_interval_s:
            group.wanted = None  # e.g. its stream left: the poll carries on from here
        group.retry_in = delay

    def _retire(self, group: Group) -> None:
        group.closed = True
        if self._groups.get(group.tenant_id) is group:
            del self._groups[group.tenant_id]

    # --- the doorbell ---------------------------------------------------------------------

    def ring(self, channel: str, cursor: Cursor | None = None) -> None:
        """News on `channel` (at `cursor`, if known): wake its tenant's group if it listens."""
        tenant_id = tenant_of(channel)
        group = self._groups.get(tenant_id) if tenant_id is not None else None
        if group is None or channel not in group.channels:
            return
        if cursor is not None and (group.wanted is None or cursor > group.wanted):
            group.wanted = cursor
        group.wake.set()

    def ring_all(self) -> None:
        for group in list(self._groups.values()):
            group.wake.set()

    def _start_doorbell(self) -> None:
        if self.config.redis_url and self._doorbell is None:
            self._doorbell = asyncio.create_task(self._listen(self.config.redis_url), name="live-doorbell")

    async def _listen(self, url: str) -> None:
        """Follow the pub/sub database forever, reconnecting with backoff; while Redis is away
        the groups' polls keep every stream served."""
        backoff = 0.1
        while not self._closing:
            client = aioredis.Redis.from_url(url, socket_connect_timeout=self.config.redis_timeout_s,
                                             socket_keepalive=True, health_check_interval=10)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(DOORBELL_PATTERN)
                self.doorbell_connected.set()
                self.ring_all()  # doorbells may have rung while we were not listening
                backoff = 0.1
                while not self._closing:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self._on_message(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or restarting: back off, the poll covers us
                self.doorbell_connected.clear()
                log.warning("live.doorbell_lost", error=f"{type(exc).__name__}: {exc}", retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()

    def _on_message(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        self.ring(channel, doorbell.cursor_in(message.get("data")))

    async def close(self) -> None:
        """Stop the doorbell and every group (tests; a web process just exits)."""
        self._closing = True
        tasks = [t for t in [self._doorbell, *(g.task for g in self._groups.values()),
                             *(g.ready for g in self._groups.values())] if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            # The redis client has been seen to absorb a cancellation mid-read; the flag above
            # ends its loop within a read timeout, and we do not wait longer than that.
            await asyncio.wait(tasks, timeout=2)
        self._executor.shutdown(wait=False)


_hub: Hub | None = None


def get_hub() -> Hub:
    """This process's hub, made on first use inside the running event loop."""
    global _hub
    if _hub is None or _hub.loop is not asyncio.get_running_loop():
        _hub = Hub(HubConfig.from_settings())
    return _hub
