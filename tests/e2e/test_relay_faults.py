"""The relay as real processes, under faults: replicas, SIGTERM, SIGKILL, Redis down or flushed,
Postgres connections killed, and workers that fail or die."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection

from core.platform.db import conninfo
from outbox.models import DeadLetter, DeliveryAttempt, InboxEntry, OutboxEvent
from outbox.tasks import sweep_all
from tests.helpers.outbox import emit_effects, outbox_counts
from tests.helpers.processes import (
    PYTHON,
    Process,
    RedisServer,
    free_port,
    process_env,
    processes,
    start_relay,
    start_worker,
    wait_until,
)
from tests.support.models import Effect

pytestmark = pytest.mark.usefixtures("outbox_db")


def queued_event_ids(client: redis.Redis, queue: str = "default") -> list[str]:
    return [json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)]


def all_completed(ids: list[int]) -> bool:
    return OutboxEvent.objects.filter(id__in=ids, status="completed").count() == len(ids)


def test_three_relays_publish_every_event_once_between_them(log_dir: Path, broker: redis.Redis) -> None:
    ids = emit_effects([f"k{i}" for i in range(3000)])
    # No worker drains the queue here: without RELAY_MAX_QUEUED=0 the relays would stop at the
    # queue's bound (tests/integration/relays/test_relay.py) and keep the rest in PostgreSQL.
    relays = [start_relay(log_dir, f"relay{i}", "--batch-size", "100", RELAY_MAX_QUEUED="0") for i in range(3)]
    with processes(*relays):
        wait_until(lambda: broker.llen("default") >= 3000, 60, message="3000 messages in Redis")
        time.sleep(0.5)  # anything published twice would show up now
    published = queued_event_ids(broker)
    assert len(published) == 3000
    assert len(set(published)) == 3000
    assert OutboxEvent.objects.filter(id__in=ids, status="relayed").count() == 3000
    claimed_by = [p.output().count("relay.started") for p in relays]
    assert claimed_by == [1, 1, 1]


def test_sigterm_stops_the_relay_cleanly_and_its_metrics_are_served(log_dir: Path, broker: redis.Redis) -> None:
    port = free_port()
    relay = start_relay(log_dir, "relay", "--metrics-port", str(port))
    emit_effects(["a", "b"])
    wait_until(lambda: broker.llen("default") == 2, 10, message="two messages")
    time.sleep(5.5)  # one stats refresh
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'ferry_relay_relayed_events_total{destination="task"} 2.0' in text
    assert "ferry_outbox_lag_seconds" in text
    assert "ferry_relay_batch_duration_seconds_bucket" in text
    started = time.monotonic()
    relay.signal(signal.SIGTERM)
    assert relay.popen.wait(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert "relay.stopped" in relay.output()
    relay.stop()


def test_events_emitted_while_redis_is_down_all_arrive_when_it_returns(log_dir: Path, tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    relay = start_relay(log_dir, "relay", REDIS_BROKER_URL=f"{server.url}/0", REDIS_PUBSUB_URL=f"{server.url}/1",
                        REDIS_SOCKET_TIMEOUT="0.5", RELAY_MAX_QUEUED="0")  # no worker: no queue bound
    try:
        server.stop()
        ids = emit_effects([f"down{i}" for i in range(50)])
        wait_until(lambda: "relay.dependency_unavailable" in relay.output(), 20, message="the outage noticed")
        time.sleep(2)  # several failed attempts
        assert OutboxEvent.objects.filter(id__in=ids, status="pending").count() == 50
        server.start()
        client = redis.Redis.from_url(f"{server.url}/0")
        wait_until(lambda: client.llen("default") == 50, 30, message="all 50 after Redis returned")
        assert sorted(queued_event_ids(client)) == sorted(
            str(e) for e in OutboxEvent.objects.filter(id__in=ids).values_list("event_id", flat=True))
        wait_until(lambda: "relay.dependency_recovered" in relay.output(), 10, message="recovery logged")
        log = relay.output()
        # One line per change of state, not one per row or per retry.
        assert log.count("relay.dependency_unavailable") == 1
        assert log.count("relay.dependency_recovered") == 1
    finally:
        relay.stop()
        server.stop()


def test_a_relay_killed_between_publish_and_commit_republishes_and_the_inbox_absorbs_it(
        log_dir: Path, broker: redis.Redis) -> None:
    ids = emit_effects([f"kill{i}" for i in range(5)])
    doomed = Process("doomed", [PYTHON, "-m", "tests.support.doomed_relay"], process_env(), log_dir)
    assert doomed.popen.wait(timeout=20) == -signal.SIGKILL
    assert broker.llen("default") == 5  # published...
    assert OutboxEvent.objects.filter(id__in=ids, status="pending").count() == 5  # ...but never marked
    relay = start_relay(log_dir, "relay")
    wait_until(lambda: broker.llen("default") == 10, 20, message="the rows published again")
    worker = start_worker(log_dir)
    with processes(relay, worker):
        wait_until(lambda: all_completed(ids), 30, message="all five events completed")
        wait_until(lambda: worker.output().count("outbox.duplicate_delivery_ignored") == 5, 20,
                   message="five duplicates absorbed")
    for i in range(5):
        assert Effect.objects.filter(key=f"kill{i}").count() == 1
    assert InboxEntry.objects.filter(outbox_id__in=ids).count() == 5


def test_after_a_broker_flush_the_sweep_redelivers_and_the_events_complete(
        log_dir: Path, broker: redis.Redis) -> None:
    ids = emit_effects([f"flush{i}" for i in range(5)])
    relay = start_relay(log_dir, "relay")
    with processes(relay):
        wait_until(lambda: broker.llen("default") == 5, 20, message="five messages")
        # The broker's database loses everything. (FLUSHALL would also empty the databases of
        # other test workers on the shared server; tests that need the command itself run a
        # redis-server of their own: private_redis.)
        broker.flushdb()
        with connection.cursor() as cursor:  # their deadline passes
            cursor.execute("UPDATE outbox_event SET redeliver_at = now() WHERE id = ANY(%s)", [ids])
        assert sweep_all().requeued == 5
        worker = start_worker(log_dir)
        with processes(worker):
            wait_until(lambda: all_completed(ids), 30, message="all events completed after the sweep")
    assert Effect.objects.filter(key__startswith="flush").count() == 5
    assert set(OutboxEvent.objects.filter(id__in=ids).values_list("attempts", flat=True)) == {2}


def test_the_relay_reconnects_after_postgres_drops_its_connection(log_dir: Path, broker: redis.Redis) -> None:
    relay = start_relay(log_dir, "relay")
    with processes(relay):
        emit_effects(["before"])
        wait_until(lambda: broker.llen("default") == 1, 10, message="first message")
        with psycopg.connect(**conninfo(), autocommit=True) as admin:
            # This test's relay only: another pytest-xdist worker's relays use another database.
            killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE application_name = 'ferry-relay-relay' "
                                   "AND datname = current_database()").fetchone()
        assert killed is not None
        assert killed[0] >= 1
        emit_effects(["after"])
        wait_until(lambda: broker.llen("default") == 2, 20, message="a message after the reconnect")


def test_a_failing_task_is_retried_then_dead_lettered_and_a_poison_message_is_stopped(
        log_dir: Path, broker: redis.Redis) -> None:
    flaky = emit_effects(["flaky"], {"fail_attempts": 1})
    doomed = emit_effects(["doomed"], {"fail_attempts": 99})
    poison = emit_effects(["poison"], {"die_attempts": 99})
    relay = start_relay(log_dir, "relay")
    worker = start_worker(log_dir)
    with processes(relay, worker):
        wait_until(lambda: all_completed(flaky), 30, message="the flaky task to succeed on its retry")
        wait_until(lambda: DeadLetter.objects.filter(outbox_id__in=doomed + poison).count() == 2, 90,
                   message="both hopeless events dead-lettered")
    assert Effect.objects.filter(key="flaky").count() == 1
    assert list(DeliveryAttempt.objects.filter(outbox_id=flaky[0]).order_by("attempt")
                .values_list("outcome", flat=True)) == ["retrying", "succeeded"]
    doomed_letter = DeadLetter.objects.get(outbox_id=doomed[0])
    assert "failing on purpose" in doomed_letter.error
    assert doomed_letter.traceback
    assert "worker lost" in DeadLetter.objects.get(outbox_id=poison[0]).error
    assert outbox_counts()["dead"] == 2
    assert not Effect.objects.filter(key__in=["doomed", "poison"]).exists()
    assert settings.CELERY_VISIBILITY_TIMEOUT > 0
