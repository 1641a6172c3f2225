"""The relay in-process against the real test database and Redis."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import transaction

from outbox.emit import emit
from outbox.models import OutboxEvent
from outbox.queries import NOTIFY_CHANNEL
from relays.conninfo import conninfo
from relays.relay import Relay, RelayConfig
from tests.helpers.outbox import outbox_counts
from tests.helpers.processes import wait_until

pytestmark = pytest.mark.usefixtures("outbox_db")


@pytest.fixture
def relay() -> Iterator[Relay]:
    instance = Relay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL,
                     RelayConfig(batch_size=50, poll_interval_s=2.0))
    yield instance
    instance.close()


def emit_task(key: str, priority: int = 5, delay_s: float = 0) -> int:
    with transaction.atomic():
        return emit("test.effect_requested", aggregate_type="test", aggregate_id=key, payload={"key": key},
                    task="tests.record_effect", tenant_id=None, priority=priority, delay_s=delay_s).id


def decode(raw: bytes) -> tuple[dict[str, object], list[object]]:
    """A kombu Redis envelope -> (headers, [args, kwargs, embed])."""
    envelope = json.loads(raw)
    return envelope["headers"], json.loads(base64.b64decode(envelope["body"]))


def test_a_relayed_task_event_is_a_celery_message_on_its_queue(relay: Relay, broker: redis.Redis) -> None:
    event_id = emit_task("a")
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
        emit_task(key, priority)
    assert relay.relay_batch() == 4
    order = [decode(broker.rpop("default"))[1][1]["key"] for _ in range(4)]  # type: ignore[arg-type, index]
    assert order == ["urgent", "normal", "normal2", "low"]


def test_a_deferred_event_waits_until_it_is_due(relay: Relay, broker: redis.Redis) -> None:
    emit_task("later", delay_s=0.5)
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
    event = OutboxEvent.objects.get(id=emitted.id)
    # Only the doorbell: the stream reads the event itself from PostgreSQL (outbox/doorbell.py).
    assert body == {"cursor": f"{event.txid}-{event.id}"}
    assert event.status == "completed"
    assert event.completed_at is not None
    subscriber.close()


def test_a_long_backlog_is_drained_in_full_batches_then_the_relay_rests(relay: Relay, broker: redis.Redis) -> None:
    for i in range(120):
        emit_task(f"k{i}")
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
    emit_task("wake")
    assert done.wait(timeout=1.5), "the relay slept through the commit"
    assert time.monotonic() - started < 0.5
    waiter.join()


def test_writers_do_not_notify_when_no_relay_is_listening() -> None:
    with psycopg.connect(**conninfo(), autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        emit_task("quiet")
        assert list(listener.notifies(timeout=0.3)) == []
