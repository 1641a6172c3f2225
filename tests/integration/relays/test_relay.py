"""The relay in-process against the real test database and Redis."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import transaction

from core.platform.db import conninfo
from core.platform.metrics import DATABASE_GAUGES
from outbox.emit import emit
from outbox.models import OutboxEvent
from outbox.queries import NOTIFY_CHANNEL
from relays.messages import ClaimedEvent
from relays.relay import Relay, RelayConfig
from tests.helpers.outbox import emit_effect, emit_effects, outbox_counts, queued_keys, row_of
from tests.helpers.processes import wait_until

pytestmark = pytest.mark.usefixtures("outbox_db")


def decode(raw: bytes) -> tuple[dict[str, object], list[object]]:
    """A kombu Redis envelope -> (headers, [args, kwargs, embed])."""
    envelope = json.loads(raw)
    return envelope["headers"], json.loads(base64.b64decode(envelope["body"]))


def test_a_relayed_task_event_is_a_celery_message_on_its_queue(relay: Relay, broker: redis.Redis) -> None:
    event_id = emit_effect("a")
    assert relay.relay_batch() == 1
    headers, (args, kwargs, _embed) = decode(broker.rpop("default"))  # type: ignore[arg-type]
    event = OutboxEvent.objects.get(id=event_id)
    assert headers["task"] == "tests.record_effect"
    assert headers["id"] == str(event.event_id)
    assert headers["ferry"]["id"] == event_id  # type: ignore[index]
    assert (args, kwargs) == ([], {"key": "a", "tenant_id": None})
    assert (event.status, event.attempts) == ("relayed", 1)
    assert event.redeliver_at is not None
    assert event.relayed_at is not None
    assert event.redeliver_at > event.relayed_at


def test_a_batch_is_published_in_priority_order(relay: Relay, broker: redis.Redis) -> None:
    for key, priority in (("low", 9), ("normal", 5), ("urgent", 0), ("normal2", 5)):
        emit_effect(key, priority=priority)
    assert relay.relay_batch() == 4
    order = [decode(broker.rpop("default"))[1][1]["key"] for _ in range(4)]  # type: ignore[arg-type, index]
    assert order == ["urgent", "normal", "normal2", "low"]


def test_a_deferred_event_waits_until_it_is_due(relay: Relay, broker: redis.Redis) -> None:
    emit_effect("later", delay_s=0.5)
    assert relay.relay_batch() == 0
    time.sleep(0.6)
    assert relay.relay_batch() == 1


def test_a_pubsub_event_rings_its_channels_doorbell_with_its_cursor_and_completes(relay: Relay) -> None:
    subscriber = redis.Redis.from_url(settings.REDIS_PUBSUB_URL).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe("tenant:9:events")
    with transaction.atomic():
        emitted = emit("schedule.optimized", aggregate_type="route_plan", aggregate_id=3,
                       payload={"visit_ids": [1, 2]}, channel="tenant:9:events", tenant_id=None)
    assert relay.relay_batch() == 1
    message = wait_until(lambda: subscriber.get_message(timeout=0.1), 3, 0, "the published message")
    body = json.loads(message["data"])
    event = row_of(emitted)
    # Only the doorbell: the stream reads the event itself from PostgreSQL (outbox/doorbell.py).
    assert body == {"cursor": f"{event.txid}-{event.id}"}
    assert event.status == "completed"
    assert event.completed_at is not None
    subscriber.close()


def test_a_long_backlog_is_drained_in_full_batches_then_the_relay_rests(relay: Relay, broker: redis.Redis) -> None:
    for i in range(120):
        emit_effect(f"k{i}")
    results = []
    while relay.step():
        results.append("continue")
    assert broker.llen("default") == 120
    assert outbox_counts()["pending"] == 0
    assert outbox_counts()["relayed"] == 120


def test_an_idle_relay_is_woken_by_notify_within_milliseconds(relay: Relay, broker: redis.Redis) -> None:
    done = threading.Event()

    def wait() -> None:
        relay.wait_for_work()
        done.set()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)  # the relay is now holding the idle lock and listening
    started = time.monotonic()
    emit_effect("wake")
    assert done.wait(timeout=1.5), "the relay slept through the commit"
    assert time.monotonic() - started < 0.5
    waiter.join()


def lingering(relay: Relay) -> float:
    """Seconds one _linger took."""
    started = time.monotonic()
    relay._linger()
    return time.monotonic() - started


def test_a_lingering_relay_returns_to_claim_as_soon_as_a_row_commits(broker: redis.Redis) -> None:
    relay = Relay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL,
                  RelayConfig(max_queued=None, linger_claim_s=5.0))
    done = threading.Event()
    try:
        lingering(relay)  # its first look sees the table as it is

        def linger() -> None:
            lingering(relay)
            done.set()

        waiter = threading.Thread(target=linger)
        waiter.start()
        time.sleep(0.3)
        assert not done.is_set(), "the relay stopped lingering with nothing new"
        emit_effect("new")
        committed = time.monotonic()
        assert done.wait(timeout=1.0), "the relay did not see the commit"
        assert time.monotonic() - committed < 0.25
        waiter.join()
        assert relay.relay_batch() == 1
    finally:
        relay.close()


def test_a_lingering_relay_claims_again_within_its_claim_interval_with_nothing_new() -> None:
    """A row can commit after one with a higher id (the probe would not tell): the full claim
    every linger_claim_s picks it up."""
    relay = Relay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL,
                  RelayConfig(max_queued=None, linger_claim_s=0.2))
    try:
        lingering(relay)
        assert 0.19 <= lingering(relay) < 1.0
    finally:
        relay.close()


def test_writers_do_not_notify_when_no_relay_is_listening() -> None:
    with psycopg.connect(**conninfo(), autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        emit_effect("quiet")
        assert list(listener.notifies(timeout=0.3)) == []


def test_a_claim_is_shared_among_tenants_so_a_flood_does_not_delay_another_tenant(broker: redis.Redis) -> None:
    relay = Relay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL,
                  RelayConfig(batch_size=20, max_queued=None))
    with transaction.atomic():  # tenant 1 floods first
        for i in range(300):
            emit("test.effect_requested", aggregate_type="test", aggregate_id=i, payload={"key": f"flood-{i}"},
                 task="tests.record_effect", tenant_id=1)
    emit_effect("tenant-2", tenant_id=2)
    assert relay.relay_batch() == 11  # ten of the flood and tenant 2's event: an equal share each
    assert "tenant-2" in queued_keys(broker)
    relay.close()


def test_a_bounded_queue_keeps_the_backlog_in_postgres_and_takes_more_as_workers_drain_it(
        broker: redis.Redis) -> None:
    relay = Relay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL,
                  RelayConfig(batch_size=50, max_queued=30))
    for i in range(80):
        emit_effect(f"k{i}")
    while relay.step():
        pass
    assert broker.llen("default") == 30
    assert outbox_counts()["pending"] == 50
    assert relay.held_back  # it polls for room: nothing else would wake it
    for _ in range(10):
        broker.rpop("default")  # workers take ten: not yet half the bound
    assert relay.relay_batch() == 0
    assert relay.held_back
    for _ in range(5):
        broker.rpop("default")  # fifteen: refilled in one batch
    assert relay.relay_batch() == 15
    assert broker.llen("default") == 30
    assert outbox_counts()["pending"] == 35
    broker.delete("default")
    while relay.step():
        pass
    assert outbox_counts()["pending"] == 5
    broker.delete("default")
    relay.step()
    assert outbox_counts()["pending"] == 0
    assert relay.relay_batch() == 0
    assert not relay.held_back  # nothing waits for room: it may sleep until notified
    relay.close()


def test_a_full_queues_room_is_dealt_to_the_tenants_in_turn(broker: redis.Redis) -> None:
    relay = Relay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL,
                  RelayConfig(batch_size=50, max_queued=1))
    emit_effects([f"flood-{i}" for i in range(40)], tenant_id=1)
    emit_effects([f"other-{i}" for i in range(3)], tenant_id=2)
    taken = []
    for _ in range(6):  # a worker takes each message as it comes; one fits at a time
        relay.relay_batch()
        taken.extend(queued_keys(broker))
        broker.delete("default")
    assert taken == ["flood-0", "other-0", "flood-1", "other-1", "flood-2", "other-2"]
    relay.close()


def drain(relay: Relay) -> None:
    while relay.step():
        pass


class TimedRelay(Relay):
    """A relay that records when each claim ran (start, end, rows)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.claims: list[tuple[float, float, int]] = []

    def _claim(self, db: psycopg.Connection[Any], params: dict[str, Any]) -> list[ClaimedEvent]:
        started = time.monotonic()
        events = super()._claim(db, params)
        self.claims.append((started, time.monotonic(), len(events)))
        return events


def test_a_drain_claims_each_next_batch_while_the_one_before_it_is_published(broker: redis.Redis) -> None:
    publishes: list[tuple[float, float]] = []

    def slow_publish(events: object) -> None:  # a Redis round trip of 50 ms, between publish and commit
        started = time.monotonic()
        time.sleep(0.05)
        publishes.append((started, time.monotonic()))

    relay = TimedRelay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL,
                       RelayConfig(batch_size=20, max_queued=None, rewind_interval_s=60), on_published=slow_publish)
    emit_effects([f"k{i}" for i in range(200)])
    drain(relay)
    relay.close()
    assert queued_keys(broker) == [f"k{i}" for i in range(200)]  # each once, in order
    assert outbox_counts()["relayed"] == 200
    full = [claim for claim in relay.claims if claim[2] == 20]
    assert len(full) == 10
    # The first full batch, relayed alone, starts the drain; from then on claim k started
    # before batch k-1's publish was over: they overlapped.
    assert full[1][0] > publishes[0][1]
    assert all(full[k][0] < publishes[k - 1][1] for k in range(2, 10))


def test_a_publish_failing_mid_drain_rolls_back_its_batch_and_the_claim_ahead_of_it(broker: redis.Redis) -> None:
    published = []

    def fail_third(events: Sequence[ClaimedEvent]) -> None:
        published.append(len(events))
        if len(published) == 3:
            raise redis.exceptions.ConnectionError("Redis went away between publish and commit")

    relay = Relay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL,
                  RelayConfig(batch_size=20, max_queued=None), on_published=fail_third)
    emit_effects([f"k{i}" for i in range(100)])
    with pytest.raises(redis.exceptions.ConnectionError):
        drain(relay)
    # Two batches committed; the third and the one claimed ahead of it are pending again.
    assert outbox_counts() == {"pending": 60, "relayed": 40, "completed": 0, "dead": 0}
    drain(relay)
    relay.close()
    assert outbox_counts()["relayed"] == 100
    keys = queued_keys(broker)
    assert set(keys) == {f"k{i}" for i in range(100)}
    assert len(keys) == 120  # the failed batch went out twice: at least once, never lost


def test_the_relay_reads_the_apps_database_gauges_unless_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """relay_bench's database holds only the outbox: its relays leave the apps' gauges alone."""
    read: dict[bool, list[str]] = {}
    for enabled in (True, False):
        relay = Relay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL,
                      RelayConfig(max_queued=None, database_gauges=enabled))
        names = read.setdefault(enabled, [])
        original = relay.metrics.database.set

        def noting(name: str, rows: Sequence[Any], names: list[str] = names, original: Any = original) -> None:
            names.append(name)
            original(name, rows)

        monkeypatch.setattr(relay.metrics.database, "set", noting)
        try:
            relay.refresh_stats()
        finally:
            relay.close()
    assert DATABASE_GAUGES
    assert sorted(read[True]) == sorted(DATABASE_GAUGES)
    assert read[False] == []
