"""The leading beat (core/platform/beat.py) in process: it sends only while its session holds
the leader lock, stands by while another session holds it, and steps down, sending nothing,
once its lock session is gone."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.config.celery import app
from core.platform.beat import BEAT_LEADER_LOCK, CappedEntry, LeaderScheduler
from core.platform.db import conninfo
from core.platform.tasks import QUEUES

pytestmark = pytest.mark.django_db(transaction=True)

TICK = "test.beat_tick"


@pytest.fixture(autouse=True)
def due_every_second() -> None:
    PeriodicTask.objects.update(enabled=False)
    schedule = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="test: every second", task=TICK, interval=schedule,
                                last_run_at=timezone.now() - timedelta(hours=1))


@pytest.fixture
def scheduler() -> Iterator[LeaderScheduler]:
    beat = LeaderScheduler(app=app, lazy=True)
    yield beat
    beat.close()


@pytest.fixture
def rival() -> Iterator[psycopg.Connection[Any]]:
    """Another beat's lock session."""
    with psycopg.connect(**conninfo(), autocommit=True) as db:
        yield db


def ticks(broker: redis.Redis) -> int:
    return sum(json.loads(raw)["headers"]["task"] == TICK for q in QUEUES for raw in broker.lrange(q, 0, -1))


def test_a_standby_sends_nothing_until_the_leader_lets_go(
        scheduler: LeaderScheduler, rival: psycopg.Connection[Any], broker: redis.Redis) -> None:
    rival.execute("SELECT pg_advisory_lock(%s)", [BEAT_LEADER_LOCK])
    assert scheduler.tick() == settings.BEAT_STANDBY_POLL_S
    assert not scheduler.leading
    assert ticks(broker) == 0

    rival.execute("SELECT pg_advisory_unlock(%s)", [BEAT_LEADER_LOCK])
    assert scheduler.tick() <= settings.BEAT_MAX_LOOP_S
    assert scheduler.leading
    assert ticks(broker) == 1
    assert PeriodicTask.objects.get(task=TICK).last_run_at > timezone.now() - timedelta(seconds=5)  # written at once


def test_a_leader_whose_lock_session_is_gone_steps_down_before_sending(
        scheduler: LeaderScheduler, rival: psycopg.Connection[Any], broker: redis.Redis) -> None:
    scheduler.tick()
    assert scheduler.leading
    assert ticks(broker) == 1
    lock_session = scheduler._lock_db.info.backend_pid if scheduler._lock_db else None
    rival.execute("SELECT pg_terminate_backend(%s)", [lock_session])
    rival.execute("SELECT pg_advisory_lock(%s)", [BEAT_LEADER_LOCK])  # another beat leads now
    time.sleep(1.1)  # the task is due again

    assert scheduler.tick() == settings.BEAT_STANDBY_POLL_S
    assert not scheduler.leading
    assert ticks(broker) == 1  # nothing sent without the lock

    rival.execute("SELECT pg_advisory_unlock(%s)", [BEAT_LEADER_LOCK])
    scheduler.tick()
    assert scheduler.leading
    assert ticks(broker) == 2


def test_a_fault_injection_run_caps_the_stored_intervals_and_production_keeps_them(settings: Any) -> None:
    hourly = PeriodicTask.objects.create(
        name="test: hourly", task=TICK, interval=IntervalSchedule.objects.create(every=1, period="hours"))
    assert CappedEntry(hourly, app=app).schedule.run_every == timedelta(hours=1)  # type: ignore[attr-defined]
    settings.BEAT_MAX_INTERVAL_S = 10
    assert CappedEntry(hourly, app=app).schedule.run_every == timedelta(seconds=10)  # type: ignore[attr-defined]
    every_second = PeriodicTask.objects.get(name="test: every second")
    assert CappedEntry(every_second, app=app).schedule.run_every == timedelta(seconds=1)  # type: ignore[attr-defined]
