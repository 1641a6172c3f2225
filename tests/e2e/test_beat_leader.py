"""Exactly one beat sends (core/platform/beat.py): with two beats running, each periodic task
is sent once per interval, by the leader; when the leader is killed, the standby takes over
within seconds and sends the next ones."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.platform.tasks import QUEUES
from tests.helpers.processes import Process, processes, start_beat, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

TICK = "test.beat_tick"


@pytest.fixture
def every_second() -> None:
    """A periodic task due every second, and the seeded ones switched off (their sends are not counted
    anyway; this keeps the beats' logs about the one task)."""
    PeriodicTask.objects.update(enabled=False)
    schedule = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="test: every second", task=TICK, interval=schedule)
    return


def senders(broker: redis.Redis) -> Counter[int]:
    """How many TICK messages are in the queues, by the process id that sent each."""
    sent: Counter[int] = Counter()
    for queue in QUEUES:
        for raw in broker.lrange(queue, 0, -1):
            headers = json.loads(raw)["headers"]
            if headers["task"] == TICK:  # origin is "gen<pid>@<host>"
                sent[int(headers["origin"].split("@")[0].removeprefix("gen"))] += 1
    return sent


def pid(process: Process) -> int:
    return int(process.popen.pid)


def test_two_beats_send_each_tick_once_and_the_standby_takes_over(
        log_dir: Path, broker: redis.Redis, every_second: None) -> None:
    leader = start_beat(log_dir, "beat-a")
    standby = start_beat(log_dir, "beat-b")
    with processes(leader, standby):
        wait_until(lambda: "beat.leading" in leader.output(), 20, message="the first beat to lead")
        wait_until(lambda: "beat.standby" in standby.output(), 20, message="the second beat to stand by")
        first = senders(broker)[pid(leader)]
        time.sleep(6)
        sent = senders(broker)
        assert set(sent) == {pid(leader)}, sent  # the standby sent nothing
        assert 4 <= sent[pid(leader)] - first <= 7, sent  # once per second, not twice

        leader.signal(signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: "beat.leading" in standby.output(), 10, message="the standby to take over")
        took_over = time.monotonic() - killed
        wait_until(lambda: senders(broker)[pid(standby)] >= 1, 10, message="the new leader's first send")
        first_send = time.monotonic() - killed
        before = senders(broker)
        time.sleep(4)
        after = senders(broker)
    assert took_over < 3, took_over  # it tries every BEAT_STANDBY_POLL_S (1 s)
    assert first_send < 5, first_send
    assert after[pid(leader)] == before[pid(leader)]
    assert 2 <= after[pid(standby)] - before[pid(standby)] <= 5, after  # once per second again
