"""Platform staff pause a queue for maintenance: a real worker stops taking its tasks (also one
started while it is paused), the relay keeps queueing them, and they run once it is resumed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from django.core.management import call_command

from outbox.models import OutboxEvent
from tests.helpers.outbox import emit_effect, queued_keys
from tests.helpers.processes import processes, start_relay, start_worker, wait_until
from tests.support.models import Effect

pytestmark = pytest.mark.usefixtures("outbox_db")

POLL_S = "0.5"


def completed(event_id: int) -> bool:
    return OutboxEvent.objects.get(id=event_id).status == "completed"


def waits_in_the_queue(broker: redis.Redis, key: str, for_s: float = 3.0) -> None:
    """The task was relayed and stays queued, untaken, for `for_s` seconds."""
    wait_until(lambda: key in queued_keys(broker), 30, message=f"{key} to be queued by the relay")
    time.sleep(for_s)
    assert key in queued_keys(broker)
    assert not Effect.objects.filter(key=key).exists()


def test_a_paused_queue_is_not_consumed_until_it_is_resumed(log_dir: Path, broker: redis.Redis) -> None:
    call_command("queues", "pause", "default", "--reason", "database maintenance")
    relay = start_relay(log_dir)
    worker = start_worker(log_dir, QUEUE_PAUSE_POLL_S=POLL_S)
    with processes(relay, worker):
        first = emit_effect("while-paused-at-start")
        waits_in_the_queue(broker, "while-paused-at-start")
        call_command("queues", "resume", "default")
        wait_until(lambda: completed(first), 30, message="the queued task to run after the resume")
        # Paused again while the worker consumes: it stops taking the queue's tasks.
        call_command("queues", "pause", "default")
        time.sleep(float(POLL_S) * 4)
        second = emit_effect("while-paused-live")
        waits_in_the_queue(broker, "while-paused-live")
        call_command("queues", "resume", "default")
        wait_until(lambda: completed(second), 30, message="the second task to run after the resume")
    assert Effect.objects.filter(key__startswith="while-paused").count() == 2
    assert "ops.queue_consumer_paused" in worker.output()
