"""An export bundle survives a worker killed in the middle of its fan-out and a FLUSHALL of the
broker while it runs: with a real relay, worker and beat, the outbox's sweep (on beat's schedule)
redelivers what was lost, the fan-in counted in PostgreSQL assembles the bundle once, and every
item is in it once. The harness only restarts the killed worker, as a supervisor would.

A private redis-server stands in for the broker and pub/sub, so FLUSHALL is the real command.
"""

from __future__ import annotations

import io
import json
import signal
import zipfile
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.files.storage import default_storage
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.accounts.models import User
from core.learning import exports
from core.learning.models import ExportBundle, ExportItem, Kind
from outbox.models import OutboxEvent
from tests.helpers.learning import published
from tests.helpers.processes import RedisServer, processes, start_beat, start_relay, start_worker, wait_until

pytestmark = pytest.mark.usefixtures("outbox_db")

ITEMS = 120


def only_the_sweep_every(seconds: int) -> None:
    """Beat runs only the outbox's sweep (earlier tests of a run may have changed the shared
    database's schedules), often, so the test takes seconds rather than minutes."""
    every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
    sweep, _ = PeriodicTask.objects.update_or_create(name="outbox: redeliver stalled events", defaults={
        "task": "outbox.sweep_stalled", "interval": every, "enabled": True})
    PeriodicTask.objects.exclude(id=sweep.id).update(enabled=False)


def test_a_worker_killed_mid_fan_out_and_a_flushall_still_give_one_whole_bundle(
        log_dir: Path, private_redis: RedisServer, settings: Any, bob: User) -> None:
    settings.OUTBOX_REDELIVER_AFTER_MAX_S = 3  # the killed deliveries come back within seconds
    only_the_sweep_every(2)
    contents = [published(bob, bob, kind=Kind.LESSON if n % 2 else Kind.PROBLEM, title=f"Wound care {n}",
                          body=f"Step {n}: dress the wound.").content_id for n in range(ITEMS)]
    env: dict[str, str] = {"REDIS_BROKER_URL": f"{private_redis.url}/0", "REDIS_PUBSUB_URL": f"{private_redis.url}/2",
           "OUTBOX_REDELIVER_AFTER_MAX_S": "3", "MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    relay = start_relay(log_dir, **env)
    worker = start_worker(log_dir, "worker", "batch", 1, **env)
    beat = start_beat(log_dir, BEAT_MAX_INTERVAL_S="2", **env)
    with processes(relay, worker, beat):
        bundle = exports.request_export(bob, contents, "Wound care, all of it")

        def some_items_done() -> bool:
            return ExportBundle.objects.get(id=bundle.id).items_done >= 10

        wait_until(some_items_done, 60, 0.02, "the fan-out to be under way")
        worker.signal(signal.SIGKILL)  # mid fan-out: whatever it held is lost
        worker.popen.wait(10)
        done_at_kill = ExportBundle.objects.get(id=bundle.id).items_done
        client = redis.Redis.from_url(private_redis.url)
        client.flushall()  # and the broker loses every message it held
        client.close()
        assert done_at_kill < ITEMS
        worker.restart()  # what a supervisor does

        def ready() -> bool:
            return ExportBundle.objects.get(id=bundle.id).status == ExportBundle.Status.READY

        wait_until(ready, 120, 0.2, "the sweep's redeliveries to finish the bundle")

    bundle.refresh_from_db()
    assert (bundle.items_done, bundle.items_total) == (ITEMS, ITEMS)
    assert ExportItem.objects.filter(bundle=bundle, status="done").count() == ITEMS
    assert OutboxEvent.objects.filter(event_type="export.items_done").count() == 1  # assembled once
    assert OutboxEvent.objects.filter(event_type="export.ready").count() == 1
    redelivered = OutboxEvent.objects.filter(event_type="export.item_requested", attempts__gt=1).count()
    assert redelivered >= 1  # the recovery was the sweep's, not luck
    with default_storage.open(bundle.file_name, "rb") as stored:
        archive = zipfile.ZipFile(io.BytesIO(stored.read()))
    manifest = json.loads(archive.read("manifest.json"))
    assert sorted(item["content_id"] for item in manifest["items"]) == sorted(contents)
    pages = [n for n in archive.namelist() if n.endswith("/index.html")]
    assert len(pages) == len(set(pages)) == ITEMS
    zips = [n for n in default_storage.listdir(f"exports/{bob.tenant_id}/{bundle.key}")[1] if n.endswith(".zip")]
    assert len(zips) == 1
