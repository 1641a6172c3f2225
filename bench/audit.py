"""audit_bench: the auditors' history at a year's size (adr/0021-audit-history-at-scale.md).

In a database of its own (`ferry_auditbench`: created, migrated, dropped), for each size asked
(`--history 10000000,100000000`), it builds a year of outbox history with the migrations'
schema and indexes: eight agencies of different sizes (the largest 40 % of the events, the
smallest 1 %), Ferry's real event types, times and transaction ids increasing together, a hot
table with a few pending, relayed and dead events. Then, as each agency's auditor through the
JSON API (the request's whole path: middleware, query, rendering), it times a page of 50 for
each filter, for the largest and the smallest agency, an export of a month, and prints the
table and index sizes. Sizes are built one after the other; their figures are printed side
by side.
"""

from __future__ import annotations

import json
import logging
import random
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate, pairwise
from typing import Any

import psycopg
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from psycopg import sql

from bench import queries, scratch
from core.accounts.models import Tenant, User
from core.platform.db import conninfo
from core.platform.roles import Role
from outbox import queries as outbox_queries

BENCH_DB = "ferry_auditbench"
LOAD_CHUNK = 500_000
Report = Callable[[str], None]


@dataclass(frozen=True)
class Kind:
    """A kind of event in the history: what it is about, where it goes, how common it is."""

    event_type: str
    aggregate_type: str
    task: tuple[str, str] | None  # (task name, queue); None: a pub/sub event
    weight: float


KINDS = (
    Kind("visit.updated", "visit", None, 0.20),
    Kind("visit.created", "visit", None, 0.10),
    Kind("notification.created", "notification", ("learning.deliver_notification", "default"), 0.10),
    Kind("submission.received", "submission", ("learning.grade_submission", "default"), 0.08),
    Kind("submission.grading_started", "submission", None, 0.08),
    Kind("submission.graded", "submission", None, 0.08),
    Kind("lesson.finished", "lesson", None, 0.08),
    Kind("streak.extended", "user", None, 0.06),
    Kind("reputation.changed", "user", None, 0.05),
    Kind("notification.read", "notification", None, 0.04),
    Kind("optimize_day.requested", "day", ("dispatch.optimize_day", "interactive"), 0.03),
    Kind("schedule.optimized", "plan", None, 0.03),
    Kind("clinician.updated", "clinician", None, 0.02),
    Kind("content.published", "content", ("learning.index_content", "batch"), 0.015),
    Kind("learning.digest_sent", "user", None, 0.015),
    Kind("version.submitted", "version", None, 0.008),
    Kind("account.password_reset_requested", "user", ("people.send_password_reset", "default"), 0.0015),
    Kind("heal.requested", "heal_run", ("ops.run_heal", "batch"), 0.0005),
)

# (name, share of the events, people who act in it)
AGENCIES = (("Large", 0.40, 2000), ("Regional", 0.22, 1100), ("Metro", 0.13, 650), ("Valley", 0.09, 450),
            ("Coastal", 0.07, 350), ("Lakeside", 0.05, 250), ("Hillside", 0.03, 150), ("Small", 0.01, 50))

# The filters timed, each a page of 50 newest first (the API's default order).
FILTERS = ("latest", "event_type", "rare_event_type", "aggregate", "aggregate_type", "actor", "window",
           "status_dead", "page2", "type_and_window", "actor_and_type", "count")


@dataclass(frozen=True)
class BenchOptions:
    sizes: tuple[int, ...] = (1_000_000,)
    calls: int = 40  # distinct requests timed per filter and agency
    export_days: int = 30


@dataclass
class Agency:
    name: str
    share: float
    actors: int
    tenant_id: int
    auditor: User = field(repr=False)
    client: Client = field(repr=False)

    def sign_in(self) -> None:
        """A fresh session (an auditor's idle one ends: a build of 100 M events takes long)."""
        self.client.force_login(self.auditor)


def run_isolated(options: BenchOptions, keep: bool, as_json: bool, report: Report, reuse: bool = False) -> None:
    """Build and measure in BENCH_DB, dropped afterwards unless `keep`. With `reuse`, the history
    a kept run built is measured again, after any new migrations (no build)."""
    args = ["--history", ",".join(str(size) for size in options.sizes), "--calls", str(options.calls),
            "--export-days", str(options.export_days), *(["--json"] if as_json else [])]
    if reuse:
        report(f"audit_bench: measuring the history kept in {BENCH_DB} (migrating it first) …")
        scratch.manage(BENCH_DB, "audit_bench", "migrate", "--noinput", "-v", "0")
        scratch.manage(BENCH_DB, "audit_bench", "audit_bench", "--inside", "--reuse", *args)
        return
    report(f"audit_bench: building {BENCH_DB} (migrations) …")
    scratch.run_isolated(BENCH_DB, "audit_bench", args, keep)


# --- inside: building a history ----------------------------------------------------------------


@contextmanager
def _db() -> Iterator[psycopg.Connection[Any]]:
    """A connection of its own (the loads and index builds run two at a time)."""
    with psycopg.connect(**conninfo(), autocommit=True) as db:
        db.execute("SET synchronous_commit = off")
        db.execute("SET maintenance_work_mem = '1GB'")
        db.execute("SET max_parallel_maintenance_workers = 0")  # two builds at once use the two cores
        yield db


Step = Callable[[psycopg.Connection[Any]], object]


def _in_parallel(steps: list[Step], what: str, report: Report) -> float:
    """Run `steps` two at a time, each on a connection of its own; report progress; seconds."""
    started = time.perf_counter()
    done = 0

    def run(step: Step) -> None:
        with _db() as db:
            step(db)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in pool.map(run, steps):
            done += 1
            if done == len(steps) or done % max(1, len(steps) // 10) == 0:
                report(f"  {what}: {done}/{len(steps)} after {time.perf_counter() - started:.0f} s")
    return time.perf_counter() - started


def _statement(statement: sql.Composable | str, params: dict[str, Any] | None = None,
               seed: float | None = None) -> Step:
    """A step that runs `statement` (after setseed(`seed`): each chunk of the history draws the
    same rows whichever connection loads it)."""

    def step(db: psycopg.Connection[Any]) -> None:
        if seed is not None:
            db.execute("SELECT setseed(%s)", (seed,))
        db.execute(statement, params)  # type: ignore[arg-type]

    return step


def _schema_indexes() -> list[tuple[str, str, bool]]:
    """(name, definition, is the primary key) of outbox_history's indexes, as migrated."""
    with _db() as db:
        return [(name, definition, primary) for name, definition, primary
                in db.execute(queries.AUDIT_HISTORY_INDEXES).fetchall()]


def _drop_indexes(indexes: list[tuple[str, str, bool]]) -> None:
    with _db() as db:
        for name, _definition, primary in indexes:
            statement = "ALTER TABLE outbox_history DROP CONSTRAINT {}" if primary else "DROP INDEX {}"
            db.execute(sql.SQL(statement).format(sql.Identifier(name)))


def _create_index(name: str, definition: str, primary: bool) -> Step:
    """Make the index again on the partitioned table and all its partitions. (Its definition
    is PostgreSQL's own text of it: pg_get_indexdef, with ON ONLY, which would skip the
    partitions, made ON.)"""
    if primary:
        columns = definition[definition.index("(") + 1:definition.rindex(")")].split(", ")
        return _statement(sql.SQL("ALTER TABLE outbox_history ADD CONSTRAINT {} PRIMARY KEY ({})").format(
            sql.Identifier(name), sql.SQL(", ").join(sql.Identifier(column) for column in columns)))
    return _statement(definition.replace(" ON ONLY ", " ON ", 1))


def _load_params(rows: int, agencies: list[Agency], lo: int, hi: int, start: datetime,
                 last_txid: int) -> dict[str, Any]:
    tenant_weights = [0.0, *accumulate(agency.share for agency in agencies)][:-1]
    total = sum(kind.weight for kind in KINDS)
    kind_weights = [0.0, *accumulate(kind.weight / total for kind in KINDS)][:-1]
    return {
        "lo": lo, "hi": hi, "txid_step": (last_txid - 3) / rows, "start": start, "slot_s": 365 * 86400 / rows,
        "tenants": [agency.tenant_id for agency in agencies], "actors": [agency.actors for agency in agencies],
        "tenant_weights": tenant_weights, "kind_weights": kind_weights,
        "event_types": [kind.event_type for kind in KINDS], "aggregate_types": [kind.aggregate_type for kind in KINDS],
        "task_names": [kind.task[0] if kind.task else None for kind in KINDS],
        "queues": [kind.task[1] if kind.task else None for kind in KINDS],
        "aggregates": max(1000, rows // 20),
    }


def build(rows: int, agencies: list[Agency], indexes: list[tuple[str, str, bool]], start: datetime,
          report: Report) -> dict[str, float]:
    """A history of `rows` events over the year from `start`, indexed, vacuumed, analysed."""
    with _db() as db:
        db.execute(queries.AUDIT_TRUNCATE)
        db.execute(queries.AUDIT_PARTITIONS, {"months_back": 13})
    _drop_indexes(indexes)
    with _db() as db:  # the history's transaction ids end below the database's current one
        (current,) = db.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()  # type: ignore[misc]
    last_txid = max(4, min(current - 1000, 3 + rows // 3))
    bounds = [*range(1, rows + 1, LOAD_CHUNK), rows + 1]
    loads = [_statement(queries.AUDIT_LOAD, _load_params(rows, agencies, lo, hi, start, last_txid),
                        seed=n / len(bounds))
             for n, (lo, hi) in enumerate(pairwise(bounds))]
    timings = {"load_s": _in_parallel(loads, "loading", report)}
    with _db() as db:
        db.execute(queries.AUDIT_SEQUENCE, {"last_id": rows})
        db.execute(queries.AUDIT_HOT, {"next_txid": last_txid, "rows": 300,
                                       "tenants": [agency.tenant_id for agency in agencies]})
        partitions = [name for (name,) in db.execute(queries.AUDIT_PARTITION_NAMES).fetchall()]
    # The largest builds first, so the two connections finish together.
    order = sorted(indexes, key=lambda index: -len(index[1]))
    timings["index_s"] = _in_parallel([_create_index(*index) for index in order], "indexing", report)
    timings["vacuum_s"] = _in_parallel(
        [_statement(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(name))) for name in partitions],
        "vacuuming", report)
    with _db() as db:
        db.execute("ANALYZE outbox_history")
        db.execute("ANALYZE outbox_event")
        db.execute("CHECKPOINT")
    return timings


# --- inside: the mover's cost ---------------------------------------------------------------------

MOVER_EVENTS = 200_000


def mover_rate(agencies: list[Agency]) -> dict[str, float]:
    """Events per second the relay's mover moves from the hot table into this history (its
    batches of 5,000, each a transaction): what the history's indexes cost the hot path."""
    with _db() as db:
        (txid,) = db.execute("SELECT pg_current_xact_id()::text::bigint - 1").fetchone()  # type: ignore[misc]
        db.execute(queries.AUDIT_COMPLETED_HOT, {"txid": txid, "rows": MOVER_EVENTS,
                                                 "tenants": [agency.tenant_id for agency in agencies]})
        db.execute("VACUUM ANALYZE outbox_event")
        started = time.perf_counter()
        moved = 0
        while count := db.execute(outbox_queries.MOVE_COMPLETED, {"limit": 5000}).rowcount:
            moved += count
        elapsed = time.perf_counter() - started
    return {"events": moved, "seconds": round(elapsed, 2), "events_per_s": round(moved / elapsed)}


def mover_baseline(agencies: list[Agency], indexes: list[tuple[str, str, bool]], report: Report) -> dict[str, float]:
    """The mover's rate with the auditors' indexes of before (ADR 0006's), then the current ones
    made again: the same history, the same run."""
    current = [index for index in indexes if index[0] in queries.AUDIT_INDEXES_NOW_NAMES]
    with _db() as db:
        for name in queries.AUDIT_INDEXES_NOW_NAMES:
            db.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    _in_parallel([_statement(statement) for statement in queries.AUDIT_INDEXES_BEFORE], "indexes of before", report)
    rate = mover_rate(agencies)
    with _db() as db:
        for name in queries.AUDIT_INDEXES_BEFORE_NAMES:
            db.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    _in_parallel([_create_index(*index) for index in current], "indexes of now", report)
    return rate


# --- inside: timing the auditors' requests -----------------------------------------------------


def _agencies() -> list[Agency]:
    """The agencies and an auditor of each (no second factor: the bench times pages); those of
    a kept run if there are."""
    auditors = Group.objects.get(name=Role.AUDITOR.value)
    agencies = []
    for name, share, actors in AGENCIES:
        tenant, _ = Tenant.objects.get_or_create(slug=f"audit-bench-{name.lower()}",
                                                 defaults={"name": f"{name} agency", "mfa_roles": []})
        user, made = User.objects.get_or_create(username=f"auditor-{name.lower()}", defaults={"tenant": tenant})
        if made:
            user.groups.set([auditors])
        agencies.append(Agency(name, share, actors, tenant.pk, user, Client(HTTP_HOST=settings.ALLOWED_HOSTS[0])))
    return agencies


def _get(agency: Agency, path: str, params: dict[str, Any]) -> tuple[float, Any]:
    """Milliseconds of one request, and its JSON."""
    started = time.perf_counter()
    response = agency.client.get(path, params)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{path} {params} answered {response.status_code}: {response.content[:300]!r}")
    return elapsed, response.json()


def _sample(agency: Agency, rows: int, wanted: int) -> list[tuple[str, str, int | None]]:
    """Rows of the agency's history drawn from random pages: real aggregates and actors."""
    percent = min(100.0, 100.0 * wanted * 4 / max(1.0, rows * agency.share))
    with connection.cursor() as cursor:
        while True:  # sampling whole pages, a small percentage may draw none of the agency's: widen
            cursor.execute(queries.AUDIT_SAMPLE, {"percent": percent, "tenant_id": agency.tenant_id,
                                                  "rows": wanted * 4})
            sample = cursor.fetchall()
            if len(sample) >= wanted or percent >= 100:
                return sample
            percent = min(100.0, percent * 4)


def _cases(agency: Agency, rows: int, start: datetime, calls: int,
           draw: random.Random) -> dict[str, list[dict[str, Any]]]:
    """For each filter, `calls` requests' parameters (drawn before anything is timed)."""
    sample = _sample(agency, rows, calls)
    actors = [actor for _, _, actor in sample if actor is not None] or [agency.tenant_id * 100000 + 1]
    common = [kind.event_type for kind in KINDS if kind.weight >= 0.03]
    rare = [kind.event_type for kind in KINDS if kind.weight < 0.01]

    def day() -> datetime:
        return start + timedelta(days=draw.uniform(1, 363))

    def each(make: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
        return [make() for _ in range(calls)]

    return {
        "latest": each(dict),
        "event_type": each(lambda: {"event_type": draw.choice(common)}),
        "rare_event_type": each(lambda: {"event_type": draw.choice(rare)}),
        "aggregate": [{"aggregate_type": kind, "aggregate_id": aid} for kind, aid, _ in draw.choices(sample, k=calls)],
        "aggregate_type": each(lambda: {"aggregate_type": draw.choice(KINDS).aggregate_type}),
        "actor": each(lambda: {"actor_id": draw.choice(actors)}),
        "window": each(lambda: (lambda since: {"since": since.isoformat(),
                                               "until": (since + timedelta(days=1)).isoformat()})(day())),
        "status_dead": each(lambda: {"status": "dead"}),
        "page2": each(lambda: {"event_type": draw.choice(common)}),
        "type_and_window": each(lambda: (lambda since: {
            "event_type": draw.choice(common), "since": since.isoformat(),
            "until": (since + timedelta(days=7)).isoformat()})(day())),
        "actor_and_type": each(lambda: {"actor_id": draw.choice(actors), "event_type": draw.choice(common)}),
        "count": each(lambda: draw.choice([{}, {"event_type": draw.choice(common)}, {"event_type": draw.choice(rare)},
                                           {"actor_id": draw.choice(actors)}, {"status": "dead"}])),
    }


def _timed(agency: Agency, name: str, params: dict[str, Any]) -> float:
    if name == "count":
        return _get(agency, "/api/audit/events/count", params)[0]
    if name == "page2":  # the first page untimed; the second, from its next_before, timed
        _, first = _get(agency, "/api/audit/events", params)
        if first["next_before"] is None:
            raise RuntimeError(f"{agency.name}: no second page of {params}")
        params = {**params, "before": first["next_before"]}
    return _get(agency, "/api/audit/events", params)[0]


def _percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"p50_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 2)}


def _export(agency: Agency, days: int, fmt: str) -> dict[str, float]:
    """The agency's last `days` days exported, read to the end: rows, seconds, rows per second."""
    until = datetime.now(UTC)
    params = {"since": (until - timedelta(days=days)).isoformat(), "until": until.isoformat()}
    started = time.perf_counter()
    response = agency.client.get(f"/api/audit/export.{fmt}", params)
    if not isinstance(response, StreamingHttpResponse) or response.status_code != 200:
        raise RuntimeError(f"export.{fmt} answered {response.status_code}")
    lines = size = 0
    for piece in response.streaming_content:
        lines += piece.count(b"\n")
        size += len(piece)
    elapsed = time.perf_counter() - started
    rows = lines - (1 if fmt == "csv" else 0)  # the CSV header; no field of these rows holds a newline
    return {"rows": rows, "seconds": round(elapsed, 2), "rows_per_s": round(rows / elapsed), "megabytes": size >> 20}


def measure(rows: int, agencies: list[Agency], start: datetime, options: BenchOptions,
            report: Report) -> dict[str, Any]:
    draw = random.Random(rows)
    result: dict[str, Any] = {}
    for agency in (agencies[0], agencies[-1]):
        agency.sign_in()
        cases = _cases(agency, rows, start, options.calls, draw)
        for name in FILTERS:
            times = [_timed(agency, name, params) for params in cases[name]]
            result[f"{agency.name.lower()}_{name}"] = _percentiles(times)
        report(f"  timed the filters as the {agency.name} agency's auditor")
    for fmt in ("csv", "jsonl"):
        result[f"export_{fmt}"] = _export(agencies[0], options.export_days, fmt)
        report(f"  exported {options.export_days} days of the {agencies[0].name} agency as {fmt}")
    with connection.cursor() as cursor:
        cursor.execute(queries.AUDIT_SIZES)
        result["sizes_mb"] = {name: round(size / 2**20) for name, size in cursor.fetchall()}
    result["mover"] = mover_rate(agencies)
    report(f"  the mover moved {result['mover']['events']:,} events into the history")
    return result


# --- inside: the run and its report -------------------------------------------------------------


def _kept(progress: Report) -> tuple[datetime, dict[str, float]]:
    """A kept history, analysed again (its statistics, new ones included): its start."""
    with _db() as db:
        partitions = [name for (name,) in db.execute(queries.AUDIT_PARTITION_NAMES).fetchall()]
        (start,) = db.execute(queries.AUDIT_FIRST_EVENT).fetchone()  # type: ignore[misc]
    took = _in_parallel([_statement(sql.SQL("ANALYZE {}").format(sql.Identifier(name))) for name in partitions],
                        "analysing", progress)
    return start, {"load_s": 0.0, "index_s": 0.0, "vacuum_s": took}


def run_inside(options: BenchOptions, as_json: bool, report: Report, progress: Report, reuse: bool = False) -> None:
    if connection.settings_dict["NAME"] != BENCH_DB:
        raise RuntimeError(f"audit_bench --inside runs only in {BENCH_DB}")
    logging.getLogger("ferry.http").setLevel(logging.WARNING)  # a line per request would drown the report
    agencies = _agencies()
    indexes = _schema_indexes()
    start = datetime.now(UTC) - timedelta(days=365)
    figures: dict[int, dict[str, Any]] = {}
    for rows in options.sizes[-1:] if reuse else options.sizes:
        progress(f"audit_bench: a history of {rows:,} events{' (kept)' if reuse else ''}")
        if reuse:
            start, timings = _kept(progress)
        else:
            timings = build(rows, agencies, indexes, start, progress)
        figures[rows] = {**timings, **measure(rows, agencies, start, options, progress)}
        if rows == options.sizes[0] and not reuse:  # the baseline once, at the smallest size (fastest built)
            figures[rows]["mover_before"] = mover_baseline(agencies, indexes, progress)
        for line in _table({rows: figures[rows]}, agencies, options):  # each size's figures as soon as known
            progress(line)
    table = _table(figures, agencies, options)
    if as_json:  # the JSON alone on stdout; the table for people on stderr, with the progress
        report(json.dumps(_summary(figures, agencies)))
    for line in table:
        (progress if as_json else report)(line)


def _summary(figures: dict[int, dict[str, Any]], agencies: list[Agency]) -> dict[str, Any]:
    """The largest size's figures as `<filter>_p95_ms` (the worse of the two agencies) and
    `export_rows_per_s`, with every size's figures under `sizes`."""
    largest = figures[max(figures)]
    names = [agency.name.lower() for agency in (agencies[0], agencies[-1])]
    summary: dict[str, Any] = {"history_rows": max(figures)}
    for name in FILTERS:
        summary[f"{name}_p95_ms"] = max(largest[f"{agency}_{name}"]["p95_ms"] for agency in names)
    summary["export_rows_per_s"] = largest["export_csv"]["rows_per_s"]
    summary["export_jsonl_rows_per_s"] = largest["export_jsonl"]["rows_per_s"]
    summary["mover_events_per_s"] = largest["mover"]["events_per_s"]
    smallest = figures[min(figures)]
    if "mover_before" in smallest:
        summary["mover_baseline"] = {"history_rows": min(figures), "before_events_per_s":
                                     smallest["mover_before"]["events_per_s"],
                                     "now_events_per_s": smallest["mover"]["events_per_s"]}
    summary["sizes"] = {str(rows): values for rows, values in figures.items()}
    return summary


def _table(figures: dict[int, dict[str, Any]], agencies: list[Agency], options: BenchOptions) -> list[str]:
    large, small = agencies[0], agencies[-1]
    sizes = sorted(figures)
    version = connection.cursor().connection.info.server_version
    lines = [f"audit_bench on PostgreSQL {version // 10000}.{version % 10000}, database {BENCH_DB}: "
             f"{len(agencies)} agencies, the {large.name} with {large.share:.0%} of the events, the {small.name} "
             f"with {small.share:.0%}; {options.calls} requests per filter and agency, a page of 50 each",
             "", f"{'p50 / p95 ms':<22}" + "".join(f"{f'{rows:,} events':>36}" for rows in sizes),
             f"{'':<22}" + f"{large.name:>18}{small.name:>18}" * len(sizes)]
    for name in FILTERS:
        cells = ""
        for rows in sizes:
            for agency in (large, small):
                value = figures[rows][f"{agency.name.lower()}_{name}"]
                cells += f"{value['p50_ms']:>9.1f} /{value['p95_ms']:>6.1f}  "
        lines.append(f"{name:<22}{cells}")
    lines.append("")
    for rows in sizes:
        size = figures[rows]
        lines.append(f"{rows:,} events: built in {size['load_s']:.0f} s + indexes {size['index_s']:.0f} s + "
                     f"vacuum {size['vacuum_s']:.0f} s")
        for fmt in ("csv", "jsonl"):
            export = size[f"export_{fmt}"]
            lines.append(f"  export {fmt:<5} {options.export_days} days of the {large.name} agency: "
                         f"{export['rows']:,} rows in {export['seconds']} s = {export['rows_per_s']:,} rows/s "
                         f"({export['megabytes']} MB)")
        lines.append("  sizes (MB): " + ", ".join(f"{name} {mb:,}" for name, mb in size["sizes_mb"].items()))
        mover = f"  mover into this history: {size['mover']['events_per_s']:,} events/s"
        if "mover_before" in size:
            mover += f" (with the indexes of before: {size['mover_before']['events_per_s']:,} events/s)"
        lines.append(mover)
    return lines
