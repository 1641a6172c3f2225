"""export_bench: how long an open-content export bundle takes (core/learning/exports.py).

In a database of its own (`ferry_exportbench`, created, migrated and dropped) and Redis database
12, it publishes `--items` contents (half lessons, each showing one of 20 photos of 800x600,
half problems with tests), then exports them all:

- fan-out: as Ferry does it, with a real relay and one batch worker at the concurrency
  docker/compose.yaml gives the batch queue (2): one task per item, the fan-in counted in
  PostgreSQL, one assembly task; from the request to the bundle `ready` (the photos' variants,
  queued at upload, are made before the clock starts);
- sequential (the baseline): the same items made one after the other and zipped by one
  process, without the outbox (what a single "export" task would do).

It prints both, the items per second, and the bundle's size.
"""

from __future__ import annotations

import os
import random
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Max

from bench import scratch
from bench.processes import Process, wait_until
from core.accounts.models import Tenant, User
from core.learning import exports, media, services
from core.learning.models import ExportBundle, Kind, LessonImage
from core.platform.roles import Role

BENCH_DB = "ferry_exportbench"
REDIS_DB = 12
PHOTOS = 20
BATCH_CONCURRENCY = 2  # docker/compose.yaml's worker-batch

Report = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    items: int = 200


def run_isolated(options: BenchOptions, keep: bool, report: Report) -> None:
    report(f"export_bench: building {BENCH_DB} (migrations) …")
    scratch.run_isolated(BENCH_DB, "export_bench", ["--items", str(options.items)], keep)


def photo_png(width: int, height: int, rng: random.Random) -> bytes:
    """A PNG of a colour gradient with grain: about as compressible as a photo saved as PNG."""
    rows = []
    for y in range(height):
        grain = rng.randbytes(width)
        rows.append(b"\x00" + bytes(v for x in range(width) for v in (
            (x * 255 // width + grain[x] % 24) & 255, (y * 255 // height + grain[x] % 24) & 255, 128)))
    raw = b"".join(rows)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


def _user(username: str, tenant: Tenant, role: Role) -> User:
    user = User.objects.create_user(username=username, tenant=tenant)
    user.groups.set([Group.objects.get(name=role.value)])
    return user


def _publish(author: User, reviewer: User, kind: str, title: str, body: str, tests: str = "") -> int:
    version = services.create_content(author, kind, title, body, tests)
    services.submit_for_review(version.id, author)
    services.review_version(version.id, reviewer, "approve")
    services.publish_version(version.id, reviewer)
    return version.content_id


def _contents(reviewer: User, items: int, report: Report) -> list[int]:
    rng = random.Random(0)
    assert reviewer.tenant is not None
    second = _user("second-reviewer", reviewer.tenant, Role.REVIEWER)  # nobody approves their own
    photos = [media.upload_image(reviewer, photo_png(800, 600, rng), f"photo-{n}.png") for n in range(PHOTOS)]
    tests = "import solution\n\n\ndef test_it():\n    assert solution.solve(2) == 4\n"
    ids = []
    for n in range(items):
        if n % 2:
            statement = f"Write `solve(x)`.\n\n{'Detail. ' * 80}"
            ids.append(_publish(reviewer, second, Kind.PROBLEM, f"Problem {n}", statement, tests))
        else:
            body = f"Lesson {n}.\n\n{media.markdown_of(photos[n % PHOTOS])}\n\n{'Explanation. ' * 120}"
            ids.append(_publish(reviewer, second, Kind.LESSON, f"Lesson {n}", body))
    report(f"  {items} published contents ({items // 2 + items % 2} lessons with one of {PHOTOS} photos each)")
    return ids


def _fan_out(reviewer: User, ids: list[int], env: dict[str, str], log_dir: Path) -> tuple[float, ExportBundle]:
    worker = Process("worker-batch", [sys.executable, "-m", "celery", "-A", "core.config", "worker", "-Q", "batch",
                                      "--concurrency", str(BATCH_CONCURRENCY), "--hostname", "batch@%h",
                                      "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
                     env, log_dir, scratch.ROOT)
    relay = Process("relay", [sys.executable, "manage.py", "relay", "--name", "bench-relay"], env, log_dir,
                    scratch.ROOT)
    try:
        worker.wait_for_output("ready", timeout=60)
        relay.wait_for_output("relay.started", timeout=60)
        # The photos' variants (queued at upload) first: the clock is for the export alone.
        wait_until(lambda: not LessonImage.objects.filter(status=LessonImage.Status.PROCESSING).exists(),
                   300, 0.1, "the photos' variants to be made")
        started = time.perf_counter()
        bundle = exports.request_export(reviewer, ids, "Fan-out")
        wait_until(lambda: ExportBundle.objects.get(id=bundle.id).status in ("ready", "failed"), 600, 0.05,
                   "the fanned-out export to finish")
        elapsed = time.perf_counter() - started
    finally:
        relay.stop()
        worker.stop()
    bundle.refresh_from_db()
    return elapsed, bundle


def _sequential(reviewer: User, ids: list[int]) -> tuple[float, ExportBundle]:
    """The same export made in this one process, item after item, then zipped."""
    bundle = exports.request_export(reviewer, ids, "Sequential")  # its events are never relayed
    started = time.perf_counter()
    for item in bundle.items.order_by("position"):
        claim = exports.claim_item(item.id, bundle.tenant_id)
        assert claim is not None
        files = exports.make_item(claim)
        with transaction.atomic():
            exports.record_item(claim, files)
    assembly = exports.claim_assembly(bundle.id, bundle.tenant_id, None)
    assert assembly is not None
    zipped = exports.assemble(assembly)
    with transaction.atomic():
        exports.record_assembly(assembly, zipped)
    elapsed = time.perf_counter() - started
    bundle.refresh_from_db()
    return elapsed, bundle


def run_inside(options: BenchOptions, report: Report) -> None:
    media_root = tempfile.mkdtemp(prefix="ferry-exportbench-media-")
    settings.MEDIA_ROOT = media_root
    broker_url = settings.REDIS_BROKER_URL.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(broker_url).flushdb()
    env = {**os.environ, "MEDIA_ROOT": media_root, "REDIS_BROKER_URL": broker_url, "REDIS_PUBSUB_URL": broker_url,
           "FERRY_PROCESS": "export-bench"}
    tenant = Tenant.objects.create(name="Bench Agency", slug="bench")
    reviewer = _user("reviewer", tenant, Role.REVIEWER)
    ids = _contents(reviewer, options.items, report)
    log_dir = Path(tempfile.mkdtemp(prefix="ferry-exportbench-logs-"))
    fanned_s, fanned = _fan_out(reviewer, ids, env, log_dir)
    if fanned.status != "ready":
        raise RuntimeError(f"the fanned-out export ended {fanned.status}: {fanned.error} (logs in {log_dir})")
    sequential_s, sequential = _sequential(reviewer, ids)
    report(f"\nexport of {options.items} items, request to bundle ready:")
    report(f"{'way':<34}  {'seconds':>8}  {'items/s':>8}  {'zipping s':>9}  {'bundle MB':>9}")
    for way, seconds, bundle in ((f"fan-out (relay, batch worker x{BATCH_CONCURRENCY})", fanned_s, fanned),
                                 ("sequential, one process (baseline)", sequential_s, sequential)):
        report(f"{way:<34}  {seconds:>8.2f}  {options.items / seconds:>8.1f}  {_zipping_s(bundle):>9.2f}  "
               f"{(bundle.bytes or 0) / 1e6:>9.1f}")


def _zipping_s(bundle: ExportBundle) -> float:
    """From the last item made to the bundle ready: the assembly."""
    last = bundle.items.aggregate(last=Max("done_at"))["last"]
    return (bundle.finished_at - last).total_seconds() if last and bundle.finished_at else float("nan")
