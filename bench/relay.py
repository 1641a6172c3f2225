"""relay_bench: the relay's figures, with a naive baseline measured in the same run.

Everything happens in a database of its own (`ferry_relaybench` on the configured server,
built from outbox/sql/*.sql) and a Redis database of its own, so a running system is not
disturbed. See `python manage.py relay_bench --help` and docs/relay.md.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis
from celery import Celery, current_app
from kombu import Queue
from psycopg import sql
from psycopg.types.json import Jsonb

from core.platform.tasks import QUEUES
from outbox import queries
from relays.messages import CeleryMessages
from relays.relay import ALL_TENANTS, Relay, RelayConfig

BENCH_DB = "ferry_relaybench"
# The same schema with no history: the claim-cost comparison alternates between the two.
EMPTY_DB = "ferry_relaybench_empty"
TASK = "bench.noop"
ROOT = Path(__file__).resolve().parents[1]

Report = Callable[[str], None]


@dataclass
class BenchOptions:
    events: int = 100_000
    history: int = 10_000_000
    backlog: int = 1_000_000
    naive_events: int = 5_000
    trickle_rate: float = 200.0
    trickle_seconds: float = 10.0
    clients: int = 8
    commit_seconds: float = 8.0
    commit_rounds: int = 3
    batch_size: int = 1000
    reuse: bool = False


# --- the bench database ---------------------------------------------------------------


def admin_conninfo(conninfo: dict[str, Any]) -> dict[str, Any]:
    return {**conninfo, "dbname": "postgres"}


def bench_conninfo(conninfo: dict[str, Any], dbname: str = BENCH_DB) -> dict[str, Any]:
    return {**conninfo, "dbname": dbname, "application_name": "ferry-relay-bench"}


def create_database(conninfo: dict[str, Any], reuse: bool) -> bool:
    """Create the bench databases with the outbox schema; returns True if they were (re)built."""
    with psycopg.connect(**admin_conninfo(conninfo), autocommit=True) as admin:
        exists = admin.execute("SELECT count(*) FROM pg_database WHERE datname IN (%s, %s)",
                               (BENCH_DB, EMPTY_DB)).fetchone()
        if reuse and exists and exists[0] == 2:
            return False
        for name in (BENCH_DB, EMPTY_DB):
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    for name in (BENCH_DB, EMPTY_DB):
        with psycopg.connect(**bench_conninfo(conninfo, name), autocommit=True) as db:
            for path in queries.schema_files():
                db.execute(path.read_text())  # trusted DDL from the repository
            db.execute(BENCH_TABLES)
    return True


def fill_pending(db: psycopg.Connection[Any], count: int, first_key: int = 0) -> None:
    """Commit `count` task events, as emit() would write them, in bulk."""
    db.execute("""
        INSERT INTO outbox_event (tenant_id, event_type, aggregate_type, aggregate_id, payload,
                                  task_name, queue, redeliver_after)
        SELECT 1, 'bench.happened', 'bench', g::text, jsonb_build_object('seq', g),
               %(task)s, 'default', 600
        FROM generate_series(%(first)s + 1, %(first)s + %(count)s) g""",
               {"task": TASK, "first": first_key, "count": count})
    db.execute("VACUUM ANALYZE outbox_event")


def reset_queues(db: psycopg.Connection[Any], broker: redis.Redis) -> None:
    """Empty the hot table and the bench's Redis database; the history stays."""
    db.execute("TRUNCATE outbox_event")
    broker.flushdb()


def history_rows(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) FROM outbox_history").fetchone()
    return int(row[0]) if row else 0


def build_history(db: psycopg.Connection[Any], rows: int, report: Report) -> None:
    """Add completed events until the history holds `rows` of them (in chunks, with progress)."""
    have = history_rows(db)
    chunk = 1_000_000
    while have < rows:
        step = min(chunk, rows - have)
        db.execute("""
            INSERT INTO outbox_history (tenant_id, event_type, aggregate_type, aggregate_id, payload,
                                        task_name, queue, redeliver_after, status, attempts,
                                        relayed_at, completed_at)
            SELECT 1 + g %% 50, 'history.happened', 'history', g::text, jsonb_build_object('seq', g),
                   %(task)s, 'default', 600, 'completed', 1, now(), now()
            FROM generate_series(%(first)s + 1, %(first)s + %(count)s) g""",
                   {"task": TASK, "first": have, "count": step})
        have += step
        report(f"  history: {have:,} / {rows:,} rows")
    db.execute("VACUUM ANALYZE outbox_history")


# --- measurements -----------------------------------------------------------------------


def make_relay(conninfo: dict[str, Any], broker_url: str, options: BenchOptions) -> Relay:
    """The relay as its capacity is measured: nothing consumes the messages here, so the bound
    on waiting messages per queue (which holds a backlog in PostgreSQL while workers are busy)
    is off; the end-to-end figures keep it on (bench/relay_e2e.py). The bench database holds
    only the outbox, so the apps' database gauges are not read."""
    return Relay(bench_conninfo(conninfo), broker_url, broker_url,
                 RelayConfig(batch_size=options.batch_size, poll_interval_s=0.05, max_queued=None,
                             database_gauges=False))


def relayed_count(relay: Relay) -> float:
    (metric,) = relay.metrics.relayed.collect()
    return sum(sample.value for sample in metric.samples if sample.name.endswith("_total"))


@contextmanager
def running(relay: Relay) -> Iterator[threading.Thread]:
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        relay.stopping = True
        thread.join(timeout=30)


def measure_drain(conninfo: dict[str, Any], broker_url: str, options: BenchOptions, count: int,
                  checkpoints: list[int], trim: bool) -> dict[int, float]:
    """Run the relay over `count` committed rows; seconds at which each checkpoint was reached."""
    relay = make_relay(conninfo, broker_url, options)
    broker = redis.Redis.from_url(broker_url)
    reached: dict[int, float] = {}
    started = time.perf_counter()
    with running(relay):
        while len(reached) < len(checkpoints):
            done = relayed_count(relay)
            for mark in checkpoints:
                if mark not in reached and done >= mark:
                    reached[mark] = time.perf_counter() - started
            if trim:  # a million messages would hold a gigabyte of Redis memory
                broker.ltrim("default", 0, 999)
            time.sleep(0.01)
    broker.close()
    return reached


def measure_naive(conninfo: dict[str, Any], broker_url: str, count: int) -> float:
    """The naive relay over `count` committed rows; events per second."""
    done = threading.Event()
    relayed = [0]
    thread = threading.Thread(target=naive_relay, args=(conninfo, broker_url, done, relayed, count),
                              daemon=True)
    started = time.perf_counter()
    thread.start()
    thread.join()
    return count / (time.perf_counter() - started)


def naive_relay(conninfo: dict[str, Any], broker_url: str, stop: threading.Event,
                relayed: list[int], stop_after: int | None = None) -> None:
    """The baseline: one row per transaction, Celery's send_task per row, 100 ms polling."""
    celery = naive_celery(broker_url)
    with psycopg.connect(**bench_conninfo(conninfo), autocommit=True) as db:
        while not stop.is_set() and (stop_after is None or relayed[0] < stop_after):
            with db.transaction():
                row = db.execute("""
                    SELECT id, event_id::text, task_name, payload, tenant_id FROM outbox_event
                    WHERE status = 'pending' AND available_at <= now() ORDER BY priority, id LIMIT 1
                    FOR UPDATE SKIP LOCKED""").fetchone()
                if row is not None:
                    celery.send_task(row[2], kwargs={**row[3], "tenant_id": row[4]}, task_id=row[1],
                                     queue="default")
                    db.execute("""UPDATE outbox_event SET status = 'relayed', attempts = attempts + 1,
                                  relayed_at = now(), redeliver_at = now() + interval '10 min'
                                  WHERE id = %s""", (row[0],))
                    relayed[0] += 1
            if row is None:
                time.sleep(0.1)


def naive_celery(broker_url: str) -> Celery:
    celery = Celery("ferry-bench-naive", broker=broker_url, set_as_current=False)
    celery.conf.update(task_serializer="json", accept_content=["json"],
                       task_queues=[Queue(q, routing_key=q) for q in QUEUES])
    with celery.connection_for_write() as connection:
        for queue in celery.conf.task_queues:
            queue.bind(connection.default_channel).declare()
    return celery


def claim_params(limit: int) -> dict[str, Any]:
    """The CLAIM statement's parameters for a first claim (no cursors, room everywhere), with
    the template of the bench's task, so that the claim fills its messages as the relay's does."""
    room = {"": limit, **dict.fromkeys(QUEUES, limit)}
    with current_app.connection_for_write() as connection:
        messages = CeleryMessages(connection.default_channel)
        messages.prepare(TASK)
    return {"before_tenant": ALL_TENANTS, "max_tenants": 100, "limit": limit, "after": Jsonb({}), "room": Jsonb(room),
            "deal_after": -1, "templates": Jsonb(messages.sql_templates), "tag_prefix": messages.claim_tags()}


def measure_claim(db: psycopg.Connection[Any], batch: int, rounds: int = 30) -> float:
    """Median milliseconds of one claim of `batch` rows (claimed and committed)."""
    fill_pending(db, batch * rounds, first_key=50_000_000)
    with db.transaction():  # warm the plan and caches; not measured
        db.execute(queries.CLAIM, claim_params(1)).fetchall()
    timings = []
    params = claim_params(batch)
    for _ in range(rounds):
        started = time.perf_counter()
        with db.transaction():
            db.execute(queries.CLAIM, params).fetchall()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def emit_params(seq: int, tenant_id: int = 1, task: str = TASK) -> dict[str, Any]:
    return {"event_id": uuid.uuid4(), "tenant_id": tenant_id, "actor_id": None, "trace_id": "",
            "event_type": "bench.happened", "aggregate_type": "bench", "aggregate_id": str(seq),
            "payload": Jsonb({"seq": seq}), "task_name": task, "queue": "default", "channel": None,
            "redeliver_after": 600, "priority": 5, "delay_s": 0.0}


def emit_sql(db: psycopg.Connection[Any], params: dict[str, Any], statement: str = queries.EMIT) -> None:
    """What emit() sends for one event in a transaction of its own: its statement (the row and
    the relay's wake-up check), pipelined with the COMMIT."""
    with db.pipeline(), db.transaction():
        db.execute(statement, params)


def measure_latency(conninfo: dict[str, Any], broker_url: str, relay_args: list[str],
                    options: BenchOptions) -> tuple[float, float]:
    """Commit-to-Redis latency (p50, p99 ms) at a steady trickle, with a relay process running."""
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    relay = start_process(relay_args, conninfo, broker_url)
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}
    total = int(options.trickle_rate * options.trickle_seconds)

    def observe() -> None:
        while len(seen) < total:
            item = broker.brpop(["default"], timeout=2)
            if item is None:
                break
            assert isinstance(item[1], bytes)
            body = json.loads(decode_body(item[1]))
            if int(body[1]["seq"]) >= 0:  # not a start-up probe
                seen[int(body[1]["seq"])] = time.perf_counter()

    try:
        wait_until_relaying(conninfo, broker)
        observer = threading.Thread(target=observe, daemon=True)
        observer.start()
        with psycopg.connect(**bench_conninfo(conninfo), autocommit=True) as db:
            interval = 1 / options.trickle_rate
            next_at = time.perf_counter()
            for seq in range(total):
                next_at += interval
                emit_sql(db, emit_params(10_000_000 + seq))
                committed[10_000_000 + seq] = time.perf_counter()
                time.sleep(max(0.0, next_at - time.perf_counter()))
        observer.join(timeout=10)
    finally:
        stop_process(relay)
        broker.close()
    latencies = sorted(max(0.0, seen[k] - t) * 1000 for k, t in committed.items() if k in seen)
    if len(latencies) < total:
        raise RuntimeError(f"only {len(latencies)} of {total} trickle events reached Redis")
    return percentile(latencies, 50), percentile(latencies, 99)


def wait_until_relaying(conninfo: dict[str, Any], broker: redis.Redis, timeout: float = 60) -> None:
    """Emit probe events until one reaches Redis: the relay process is up; then let it go idle."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(**bench_conninfo(conninfo), autocommit=True) as db:
        while time.monotonic() < deadline:
            emit_sql(db, emit_params(-1))
            if broker.brpop(["default"], timeout=1) is not None:
                broker.delete("default")
                time.sleep(1.0)  # past the relay's linger: it is idle, as at a trickle's start
                return
    raise RuntimeError("the relay process did not relay a probe event in time")


def decode_body(raw: bytes) -> str:
    """The JSON body ([args, kwargs, embed]) of a kombu Redis envelope."""
    return base64.b64decode(json.loads(raw)["body"]).decode()


def percentile(values: list[float], pct: float) -> float:
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values)) - 1))
    return values[index]


def pgbench_path() -> str:
    """Debian's pgbench for the newest installed server version."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if not found:
        raise RuntimeError("pgbench not found (Debian package postgresql-client)")
    return str(found[-1])


# The writers' state changes. "visit edit" has the shape of Ferry's write functions (lock the
# row, change it): a dispatcher moves a visit's time window. "single update" is the cheapest
# state change there is, one statement on a narrow row, against which any extra statement
# weighs most; both are reported (ADR 0007).
BENCH_TABLES = """
CREATE TABLE bench_account (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0);
INSERT INTO bench_account (id) SELECT generate_series(1, 10000);
CREATE TABLE bench_visit (
    id bigint PRIMARY KEY, tenant_id bigint NOT NULL, day date NOT NULL, patient_ref text NOT NULL,
    latitude double precision NOT NULL, longitude double precision NOT NULL,
    window_start time NOT NULL, window_end time NOT NULL, duration_min int NOT NULL,
    required_skill text NOT NULL, priority int NOT NULL, status text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO bench_visit
SELECT g, 1 + g % 20, date '2026-11-23' + (g % 5), 'P-' || g, 52.5 + (g % 100) / 1000.0,
       13.4 + (g % 97) / 1000.0, time '08:00', time '12:00', 45, 'wound-care', 5, 'planned'
FROM generate_series(1, 10000) g;
CREATE INDEX bench_visit_day ON bench_visit (tenant_id, day);
CREATE INDEX bench_visit_status ON bench_visit (tenant_id, status);
"""
STATE_CHANGES = {
    "visit edit": ("SELECT id, window_start, window_end FROM bench_visit WHERE id = :aid FOR UPDATE;\n"
                   "UPDATE bench_visit SET window_start = time '08:00' + (:seq::bigint % 120) * interval '1 minute', "
                   "window_end = time '12:00', updated_at = now() WHERE id = :aid;"),
    "single update": "UPDATE bench_account SET balance = balance + 1 WHERE id = :aid;",
}
# The emit() statement with pgbench variables for its parameters. emit() makes the event id in
# Python; pgbench cannot, so it is spelled from a pgbench random number (making it in the server
# with gen_random_uuid() would charge the database for the writer's work).
_PGBENCH_PARAMS = {
    "event_id": "lpad(:seq::text, 32, '0')::uuid", "tenant_id": "1", "actor_id": "NULL", "trace_id": "''",
    "event_type": "'bench.happened'",
    "aggregate_type": "'bench'", "aggregate_id": ":seq::text",
    "payload": "jsonb_build_object('seq', :seq::bigint)", "task_name": f"'{TASK}'",
    "queue": "'default'", "channel": "NULL", "redeliver_after": "600", "priority": "5", "delay_s": "0",
}


def pgbench_emit(statement: str) -> str:
    text = statement
    for name, value in _PGBENCH_PARAMS.items():
        text = text.replace(f"%({name})s", value)
    return " ".join(text.split()) + ";"


def measure_commits(conninfo: dict[str, Any], clients: int, seconds: float, state_change: str,
                    emit_statement: str | None, workdir: Path) -> float:
    """State-change transactions per second from `clients` pgbench connections (a C client, so
    the figure is the database's), each transaction optionally emitting an event as emit()
    does: its statement pipelined with the COMMIT (no round trip of its own)."""
    script = workdir / f"commits-{abs(hash((state_change, emit_statement)))}.sql"
    body = ["\\set aid random(1, 10000)", "\\set seq random(1, 1000000000)", "BEGIN;", state_change]
    if emit_statement is None:
        body.append("COMMIT;")
    else:
        body += ["\\startpipeline", pgbench_emit(emit_statement), "COMMIT;", "\\endpipeline"]
    script.write_text("\n".join(body) + "\n")
    env = {**os.environ, "PGPASSWORD": conninfo.get("password") or ""}
    result = subprocess.run(  # noqa: S603
        [pgbench_path(), "-h", str(conninfo.get("host", "127.0.0.1")), "-p", str(conninfo.get("port", 5432)),
         "-U", str(conninfo["user"]), "-n", "-c", str(clients), "-j", "2", "-T", str(int(seconds)),
         "-M", "prepared", "-f", str(script), BENCH_DB],
        capture_output=True, text=True, env=env, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("tps ="):
            return float(line.split()[2])
    raise RuntimeError(f"pgbench failed: {result.stderr[-2000:]}")


# emit()'s statement with its wake-up check replaced: NOTIFY at every commit (what
# queries.WAKE_RELAY avoids, ADR 0007), or never (the relay would rely on polling: the floor
# for the wake-up's cost).
EMIT_NOTIFY_ALWAYS = queries.EMIT.replace(queries.WAKE_RELAY, f"pg_notify('{queries.NOTIFY_CHANNEL}', '')::text = ''")
EMIT_NEVER_NOTIFY = queries.EMIT.replace(queries.WAKE_RELAY, "false")


def measure_commit_rates(db: psycopg.Connection[Any], conninfo: dict[str, Any], options: BenchOptions,
                         workdir: Path, variants: dict[str, tuple[str, str | None]]) -> dict[str, float]:
    """Median commit rate of each (state change, outbox statement) variant, interleaved over
    rounds so that drift in the machine's speed hits every variant alike."""
    runs: dict[str, list[float]] = {key: [] for key in variants}
    for _ in range(options.commit_rounds):
        for key, (state_change, statement) in variants.items():
            runs[key].append(measure_commits(conninfo, options.clients, options.commit_seconds,
                                             state_change, statement, workdir))
            db.execute("TRUNCATE outbox_event")
    return {key: statistics.median(values) for key, values in runs.items()}


def database_url(conninfo: dict[str, Any], dbname: str = BENCH_DB) -> str:
    password = f":{conninfo['password']}" if conninfo.get("password") else ""
    host, port = conninfo.get("host", "127.0.0.1"), conninfo.get("port", 5432)
    return f"postgres://{conninfo['user']}{password}@{host}:{port}/{dbname}"


def start_process(args: list[str], conninfo: dict[str, Any], broker_url: str, dbname: str = BENCH_DB,
                  command: list[str] | None = None, **env: str) -> subprocess.Popen[bytes]:
    """A Ferry process on the bench's database and Redis (manage.py `args`, or `command`). Its
    relay holds nothing back: no worker consumes these messages."""
    environment = {**os.environ, "DATABASE_URL": database_url(conninfo, dbname), "REDIS_BROKER_URL": broker_url,
                   "REDIS_PUBSUB_URL": broker_url, "LOG_LEVEL": "WARNING", "RELAY_MAX_QUEUED": "0", **env}
    return subprocess.Popen(command or [sys.executable, "manage.py", *args], cwd=ROOT, env=environment,  # noqa: S603
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


# --- the whole run ----------------------------------------------------------------------


def run(conninfo: dict[str, Any], broker_url: str, options: BenchOptions, report: Report) -> dict[str, Any]:
    results: dict[str, Any] = {}
    rebuilt = create_database(conninfo, options.reuse)
    report(f"bench database {BENCH_DB}: {'created' if rebuilt else 'reused'}")
    broker = redis.Redis.from_url(broker_url)
    with psycopg.connect(**bench_conninfo(conninfo), autocommit=True) as db:
        reset_queues(db, broker)

        report(f"[1/6] relay throughput: {options.events:,} committed task events, "
               f"batches of {options.batch_size}")
        fill_pending(db, options.events)
        seconds = measure_drain(conninfo, broker_url, options, options.events, [options.events], trim=False)
        results["relay_events_per_s"] = options.events / seconds[options.events]
        in_redis = broker.llen("default")
        if in_redis != options.events:
            raise RuntimeError(f"{in_redis} messages in Redis, expected {options.events}")
        reset_queues(db, broker)

        report(f"[2/6] naive baseline: {options.naive_events:,} events, one per transaction, send_task each")
        fill_pending(db, options.naive_events, first_key=options.events)
        results["naive_events_per_s"] = measure_naive(conninfo, broker_url, options.naive_events)
        reset_queues(db, broker)

        report(f"[3/6] commit-to-Redis latency at {options.trickle_rate:.0f} events/s "
               f"for {options.trickle_seconds:.0f} s (relay process, LISTEN/NOTIFY)")
        results["latency_p50_ms"], results["latency_p99_ms"] = measure_latency(
            conninfo, broker_url, ["relay", "--poll-interval", "1"], options)
        reset_queues(db, broker)
        report("       the same with the naive relay (100 ms polling)")
        results["naive_latency_p50_ms"], results["naive_latency_p99_ms"] = measure_latency(
            conninfo, broker_url, ["relay_bench", "--serve-naive-relay"], options)
        reset_queues(db, broker)

        report(f"[4/6] claim cost: {options.history:,} rows of history vs none (two databases, "
               "interleaved rounds)")
        build_history(db, options.history, report)
        results["history_rows"] = history_rows(db)
        db.execute("CHECKPOINT")  # the history's writes are behind us, not inside a measurement
        with psycopg.connect(**bench_conninfo(conninfo, EMPTY_DB), autocommit=True) as empty:
            empty_ms: list[float] = []
            history_ms: list[float] = []
            for _ in range(3):
                for target, timings in ((empty, empty_ms), (db, history_ms)):
                    timings.append(measure_claim(target, options.batch_size))
                    target.execute("TRUNCATE outbox_event")
        results["claim_ms_empty"] = statistics.median(empty_ms)
        results["claim_ms_history"] = statistics.median(history_ms)

        report(f"[5/6] backlog drain: {options.backlog:,} events, time per 100k")
        fill_pending(db, options.backlog, first_key=100_000_000)
        marks = list(range(100_000, options.backlog + 1, 100_000))
        reached = measure_drain(conninfo, broker_url, options, options.backlog, marks, trim=True)
        results["drain_first_100k_s"] = reached[marks[0]]
        results["drain_last_100k_s"] = reached[marks[-1]] - reached[marks[-2]] if len(marks) > 1 else reached[marks[0]]
        results["drain_100k_s"] = [round(reached[m] - reached.get(m - 100_000, 0.0), 2) for m in marks]
        reset_queues(db, broker)

        report(f"[6/6] writers: {options.clients} pgbench clients committing visit edits, with and without "
               "emit(); then with a relay process draining on the same cores")
        workdir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
        visit_edit = STATE_CHANGES["visit edit"]
        try:
            alone = measure_commit_rates(db, conninfo, options, workdir, {
                "without": (visit_edit, None), "emit": (visit_edit, queries.EMIT),
                "single_without": (STATE_CHANGES["single update"], None),
                "single_emit": (STATE_CHANGES["single update"], queries.EMIT),
            })
            relay = start_process(["relay", "--poll-interval", "1"], conninfo, broker_url)
            try:
                wait_until_relaying(conninfo, broker)
                shared = measure_commit_rates(db, conninfo, options, workdir, {
                    "emit": (visit_edit, queries.EMIT),
                    "never_notify": (visit_edit, EMIT_NEVER_NOTIFY),
                    "notify_always": (visit_edit, EMIT_NOTIFY_ALWAYS),
                })
            finally:
                stop_process(relay)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        results["commits_per_s_without_outbox"] = alone["without"]
        results["commits_per_s_with_emit"] = alone["emit"]
        results["emit_commit_ratio"] = alone["emit"] / alone["without"]
        results["single_update_commits_per_s_without_outbox"] = alone["single_without"]
        results["single_update_commits_per_s_with_emit"] = alone["single_emit"]
        results["single_update_emit_commit_ratio"] = alone["single_emit"] / alone["single_without"]
        results["relay_running_commits_per_s_with_emit"] = shared["emit"]
        results["relay_running_commits_per_s_never_notify"] = shared["never_notify"]
        results["relay_running_commits_per_s_notify_every_commit"] = shared["notify_always"]
        results["wakeup_cost_ratio"] = shared["emit"] / shared["never_notify"]
        results["notify_every_commit_ratio"] = shared["notify_always"] / shared["never_notify"]
        reset_queues(db, broker)
    broker.close()
    results["relay_vs_naive"] = results["relay_events_per_s"] / results["naive_events_per_s"]
    return results
