"""relay_bench's end-to-end part: from a committed event to its consumer's effect.

Runs in a database of its own (`ferry_relaybench_e2e`, migrated like Ferry's) and the bench's
Redis database, with real processes: `celery worker`s running the bench's tasks (bench/tasks.py),
relays (`manage.py relay`) and writers (bench/e2e_writer.py, through Django). It measures:

- throughput: a committed backlog of task events to their effects (inbox row, event completed),
  against plain Celery (a row and transaction.on_commit(task.delay)) on the same workers;
- latency: commit -> effect at a steady trickle, both ways;
- ordering: keys x events with ordering keys, two relays and two workers, one relay killed
  (SIGKILL) half way and restarted as a supervisor would; inversions must be none;
- fairness: with one tenant's backlog pending, how many relay batches until another tenant's
  new event is relayed, how long until its effect, and how many tasks ran before it.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg import sql

from bench import queries as bench_queries
from bench.processes import Process, wait_until
from bench.relay import ROOT, bench_conninfo, database_url, emit_params, emit_sql, percentile
from relays.messages import ClaimedEvent
from relays.relay import Relay, RelayConfig

E2E_DB = "ferry_relaybench_e2e"
WORKERS = 2

Report = Callable[[str], None]


@dataclass
class E2EOptions:
    events: int = 20_000
    rounds: int = 2
    trickle_rate: float = 200.0
    trickle_seconds: float = 10.0
    ordered_keys: int = 1000
    ordered_per_key: int = 20
    fair_backlog: int = 100_000
    max_queued: int = 32
    reuse: bool = False


class Topology:
    """The bench's processes: workers and relays on the e2e database and Redis."""

    def __init__(self, conninfo: dict[str, Any], broker_url: str, options: E2EOptions) -> None:
        self.conninfo, self.broker_url, self.options = conninfo, broker_url, options
        self.log_dir = Path(tempfile.mkdtemp(prefix="relay-e2e-"))
        self.env = {**os.environ, "DATABASE_URL": database_url(conninfo, E2E_DB),
                    "REDIS_BROKER_URL": broker_url, "REDIS_PUBSUB_URL": broker_url, "LOG_LEVEL": "WARNING",
                    "DEBUG": "0", "RELAY_MAX_QUEUED": str(options.max_queued)}
        self.started: list[Process] = []

    def start(self, name: str, args: list[str]) -> Process:
        process = Process(name, args, self.env, self.log_dir, ROOT)
        self.started.append(process)
        return process

    def worker(self, name: str) -> Process:
        return self.start(name, [str(Path(sys.executable).parent / "celery"), "-A", "core.config", "worker",
                                 "-Q", "default", "--concurrency", "1", "--hostname", f"{name}@%h",
                                 "--without-gossip", "--without-mingle", "--loglevel", "WARNING"])

    def relay(self, name: str) -> Process:
        return self.start(name, [sys.executable, "manage.py", "relay", "--name", name])

    def write(self, mode: str, first: int, count: int, *options: str) -> dict[str, Any]:
        """Run a writer to its end; returns what it printed (JSON), if anything."""
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "bench.e2e_writer", mode, "--first", str(first), "--count", str(count), *options],
            cwd=ROOT, env=self.env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"the {mode} writer failed:\n{result.stderr[-3000:]}")
        lines = result.stdout.strip().splitlines()
        return json.loads(lines[-1]) if lines else {}

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()
        self.started.clear()


# --- the database ------------------------------------------------------------------------


def prepare_database(conninfo: dict[str, Any], reuse: bool, env: dict[str, str], report: Report) -> None:
    """Create and migrate the e2e database (kept with --reuse), then empty its tables."""
    with psycopg.connect(**{**conninfo, "dbname": "postgres"}, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (E2E_DB,)).fetchone()
        if exists and not reuse:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(E2E_DB)))
            exists = None
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(E2E_DB)))
    report(f"  migrating {E2E_DB}")
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    with connect(conninfo) as db:
        db.execute(bench_queries.E2E_TABLES)


def connect(conninfo: dict[str, Any]) -> psycopg.Connection[Any]:
    return psycopg.connect(**bench_conninfo(conninfo, E2E_DB), autocommit=True)


def reset(db: psycopg.Connection[Any], broker: redis.Redis, attempts: int = 5) -> None:
    """Empty the bench's tables and Redis. Workers may still be finishing the last phase's
    tasks, and TRUNCATE takes its tables' locks in its own order: a deadlock with one of them
    (seen once, after the fairness phase) is retried."""
    for attempt in range(1, attempts + 1):
        try:
            db.execute(bench_queries.E2E_RESET)
            break
        except psycopg.errors.DeadlockDetected:
            if attempt == attempts:
                raise
            time.sleep(0.5)
    broker.flushdb()


@dataclass(frozen=True)
class Effects:
    count: int
    first: datetime | None
    last: datetime | None
    latencies_ms: list[float]


def outbox_effects(db: psycopg.Connection[Any], event_type: str = "bench.happened") -> Effects:
    row = db.execute(bench_queries.OUTBOX_EFFECTS, {"event_type": event_type}).fetchone()
    assert row is not None
    return Effects(int(row[0]), row[1], row[2], sorted(float(s) * 1000 for s in row[3]))


def plain_effects(db: psycopg.Connection[Any], first: int, last: int) -> Effects:
    row = db.execute(bench_queries.PLAIN_EFFECTS, {"first": first, "last": last}).fetchone()
    assert row is not None
    return Effects(int(row[0]), row[1], row[2], sorted(float(s) * 1000 for s in row[3]))


def count(db: psycopg.Connection[Any], statement: str) -> int:
    row = db.execute(statement).fetchone()
    return int(row[0]) if row else 0


def wait_for(db: psycopg.Connection[Any], statement: str, target: int, timeout: float, what: str) -> None:
    """Poll a cheap count until it reaches `target` (the figures are read once, afterwards)."""
    wait_until(lambda: count(db, statement) >= target, timeout, 0.2, f"{target:,} effects of {what}")


# --- measurements ------------------------------------------------------------------------


def measure_throughput(top: Topology, db: psycopg.Connection[Any], broker: redis.Redis,
                       report: Report) -> dict[str, float]:
    """Committed backlog -> effects, the outbox's way and plain Celery's, alternating rounds."""
    n = top.options.events
    outbox: list[float] = []
    celery: list[float] = []
    for round_no in range(top.options.rounds):
        reset(db, broker)
        committed = datetime.fromisoformat(top.write("outbox", 0, n, "--bulk")["committed_at"])
        wait_for(db, bench_queries.INBOX_COUNT, n, 600, "the outbox's backlog")
        done = outbox_effects(db)
        assert done.last is not None
        outbox.append(n / (done.last - committed).total_seconds())
        reset(db, broker)
        committed = datetime.fromisoformat(top.write("celery", 0, n, "--bulk")["committed_at"])
        wait_for(db, bench_queries.PLAIN_DONE, n, 600, "plain Celery's backlog")
        done = plain_effects(db, 0, n - 1)
        assert done.last is not None
        celery.append(n / (done.last - committed).total_seconds())
        report(f"  round {round_no + 1}: outbox {outbox[-1]:,.0f} events/s, plain Celery {celery[-1]:,.0f} events/s")
    reset(db, broker)
    return {"e2e_events_per_s": statistics.median(outbox), "celery_e2e_events_per_s": statistics.median(celery)}


def measure_latency(top: Topology, db: psycopg.Connection[Any], broker: redis.Redis) -> dict[str, float]:
    """Commit -> effect at a steady trickle, one event per transaction, both ways."""
    n = int(top.options.trickle_rate * top.options.trickle_seconds)
    rate = str(top.options.trickle_rate)
    results: dict[str, float] = {}
    reset(db, broker)
    top.write("outbox", 0, n, "--rate", rate)
    wait_for(db, bench_queries.INBOX_COUNT, n, 60, "the outbox's trickle")
    outbox = outbox_effects(db)
    results["e2e_p50_ms"] = percentile(outbox.latencies_ms, 50)
    results["e2e_p99_ms"] = percentile(outbox.latencies_ms, 99)
    reset(db, broker)
    top.write("celery", 0, n, "--rate", rate)
    wait_for(db, bench_queries.PLAIN_DONE, n, 60, "plain Celery's trickle")
    plain = plain_effects(db, 0, n - 1)
    results["celery_e2e_p50_ms"] = percentile(plain.latencies_ms, 50)
    results["celery_e2e_p99_ms"] = percentile(plain.latencies_ms, 99)
    reset(db, broker)
    return results


def measure_ordering(top: Topology, db: psycopg.Connection[Any], broker: redis.Redis, first_relay: Process,
                     report: Report) -> dict[str, float]:
    """Keys x events with ordering keys through two relays and two workers; one relay is killed
    half way and restarted. Every key's effects must be in commit order, each exactly once."""
    keys, per_key = top.options.ordered_keys, top.options.ordered_per_key
    total = keys * per_key
    reset(db, broker)
    second_relay = top.relay("relay-b")
    started = time.perf_counter()
    writer = threading.Thread(target=top.write, args=("ordered", 0, total, "--keys", str(keys)))
    writer.start()

    wait_until(lambda: count(db, bench_queries.ORDERED_COUNT) >= total // 2, 600, 0.05, "half of the ordered effects")
    first_relay.signal(signal.SIGKILL)
    report(f"  relay-a killed (SIGKILL) at {count(db, bench_queries.ORDERED_COUNT):,} of {total:,} effects; "
           "restarted")
    first_relay.restart()
    writer.join()
    wait_for(db, bench_queries.ORDERED_COUNT, total, 600, "the ordered events")
    elapsed = time.perf_counter() - started
    time.sleep(1.0)  # a duplicate effect would show now
    row = db.execute(bench_queries.ORDERED_INVERSIONS).fetchone()
    assert row is not None
    inversions, seen_keys, rows, distinct = (int(v) for v in row)
    second_relay.stop()
    reset(db, broker)
    return {"ordered_keys": seen_keys, "ordered_events": total, "ordered_effects": rows,
            "ordered_duplicate_effects": rows - distinct, "ordered_inversions": inversions,
            "ordered_events_per_s": total / elapsed}


def measure_fairness(top: Topology, db: psycopg.Connection[Any], broker: redis.Redis) -> dict[str, float]:
    """A tenant's backlog pending and draining (relay in this process, workers running); then
    another tenant commits one event: batches until it is relayed, time and tasks to its effect."""
    reset(db, broker)
    db.execute(bench_queries.FILL_BACKLOG, {"count": top.options.fair_backlog, "tenant": 1})
    batches: list[list[int]] = []
    lock = threading.Lock()

    def published(events: Sequence[ClaimedEvent]) -> None:
        with lock:
            batches.append([event.tenant_id or 0 for event in events])

    relay = Relay(bench_conninfo(top.conninfo, E2E_DB), top.broker_url, top.broker_url,
                  RelayConfig(max_queued=top.options.max_queued), on_published=published)
    with running(relay):
        wait_for(db, bench_queries.INBOX_COUNT, 2000, 120, "the backlog draining")
        with lock:
            before = len(batches)
        emit_sql(db, {**emit_params(-2, tenant_id=2, task="bench.noop"), "event_type": "bench.other_tenant"})
        wait_until(lambda: any(2 in batch for batch in batches[before:]), 30, 0.005, "the other tenant's event relayed")
        with lock:
            waited = next(i for i, batch in enumerate(batches[before:], 1) if 2 in batch)
        wait_until(lambda: outbox_effects(db, "bench.other_tenant").count, 30, 0.01, "the other tenant's effect")
        effect = outbox_effects(db, "bench.other_tenant")
        ahead = db.execute(bench_queries.TASKS_BETWEEN, {"event_type": "bench.other_tenant"}).fetchone()
    reset(db, broker)
    return {"fair_wait_batches": waited, "fair_wait_ms": effect.latencies_ms[0],
            "fair_wait_tasks_ahead": int(ahead[0]) if ahead else -1}


@contextmanager
def running(relay: Relay) -> Iterator[None]:
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        relay.stopping = True
        thread.join(timeout=30)
        relay.close()


# --- the whole part ------------------------------------------------------------------------


def run(conninfo: dict[str, Any], broker_url: str, options: E2EOptions, report: Report) -> dict[str, Any]:
    top = Topology(conninfo, broker_url, options)
    report(f"end to end: {E2E_DB}, {WORKERS} celery workers, relay processes (logs in {top.log_dir})")
    prepare_database(conninfo, options.reuse, top.env, report)
    broker = redis.Redis.from_url(broker_url)
    results: dict[str, Any] = {}
    try:
        with connect(conninfo) as db:
            reset(db, broker)
            for i in range(WORKERS):
                top.worker(f"bench-worker-{i + 1}")
            relay = top.relay("relay-a")
            top.write("outbox", -100, 100, "--bulk")  # warm-up: the processes are up and running
            wait_for(db, bench_queries.INBOX_COUNT, 100, 120, "the warm-up events")

            report(f"[e2e 1/4] throughput: {options.events:,} committed events to their effects, "
                   f"outbox vs plain Celery, {options.rounds} rounds")
            results.update(measure_throughput(top, db, broker, report))

            report(f"[e2e 2/4] latency at {options.trickle_rate:.0f} events/s for {options.trickle_seconds:.0f} s, "
                   "outbox vs plain Celery")
            results.update(measure_latency(top, db, broker))

            report(f"[e2e 3/4] ordering: {options.ordered_keys:,} keys x {options.ordered_per_key} events, "
                   "two relays, two workers, one relay killed half way")
            results.update(measure_ordering(top, db, broker, relay, report))

            relay.stop()
            report(f"[e2e 4/4] fairness: tenant 1's {options.fair_backlog:,}-event backlog draining, "
                   "then one event of tenant 2")
            results.update(measure_fairness(top, db, broker))
    finally:
        top.stop_all()
        broker.close()
    results["e2e_vs_celery"] = results["e2e_events_per_s"] / results["celery_e2e_events_per_s"]
    return results
