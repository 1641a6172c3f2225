"""heal_bench: heal_search_index at scale, in a database of its own.

The outer command creates `ferry_healbench` on the configured server, migrates it, and runs
itself again inside it (`--inside`, with DATABASE_URL pointing there), so the heal runs
through the very code and connection settings it runs with in production, while the
development database and its outbox history are never touched. The inside run builds a
tenant of published, indexed content in bulk (INSERT ... SELECT generate_series), loses
some documents, then times the examination (the set-based gap query) and a full heal run
(examination plus one outbox event per gap), and checks the repair count.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from bench import queries, scratch
from core.accounts.models import Tenant, User
from core.learning.heals import find_search_index_gaps
from core.learning.rendering import RENDER_REVISION
from core.ops.services import execute_heal, finish_heal_run, start_command_run

BENCH_DB = "ferry_healbench"
EXAMINATION_TARGET_S = 5.0

Report = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    documents: int = 100_000
    missing: int = 1_000
    rounds: int = 3


# --- outside: the bench database ---------------------------------------------------------------


def run_isolated(options: BenchOptions, keep: bool, report: Report) -> None:
    """Create and migrate the bench database, run the benchmark inside it, drop it (unless keep)."""
    report(f"heal_bench: building {BENCH_DB} (migrations) …")
    scratch.run_isolated(BENCH_DB, "heal_bench", ["--documents", str(options.documents),
                                                  "--missing", str(options.missing), "--rounds", str(options.rounds)],
                         keep)


# --- inside: the data set and the measurements -----------------------------------------------------


def _execute(statement: str, params: dict[str, Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return int(cursor.rowcount)


@transaction.atomic
def build_data_set(options: BenchOptions) -> Tenant:
    """A tenant with `documents` published, indexed contents, `missing` of them not indexed."""
    tenant = Tenant.objects.create(name="Heal bench", slug="heal-bench")
    author = User.objects.create(username="heal-bench", tenant=tenant)
    params = {"tenant_id": tenant.id, "author_id": author.id, "documents": options.documents,
              "missing": options.missing, "step": max(1, options.documents // max(1, options.missing)),
              "render_revision": RENDER_REVISION}
    for statement in (queries.BENCH_CONTENT, queries.BENCH_VERSIONS, queries.BENCH_PUBLISH, queries.BENCH_INDEX):
        _execute(statement, params)
    lost = _execute(queries.BENCH_LOSE_DOCUMENTS, params)
    if lost != options.missing:
        raise RuntimeError(f"lost {lost} documents, wanted {options.missing}")
    return tenant


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE learning_content, learning_version, learning_searchdocument")


def time_examination(rounds: int) -> tuple[list[float], int, int]:
    """Seconds of each examination (the set-based gap query), and examined / gaps of the last."""
    times: list[float] = []
    examined = gaps = 0
    for _ in range(rounds):
        started = time.perf_counter()
        by_tenant, found = find_search_index_gaps()
        times.append(time.perf_counter() - started)
        examined, gaps = sum(by_tenant.values()), len(found)
    return times, examined, gaps


def repairs_emitted(run_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(queries.BENCH_REPAIRS_EMITTED, {"run": str(run_id)})
        return int(cursor.fetchone()[0])


def run_inside(options: BenchOptions, report: Report) -> bool:
    """Build, measure, report. Returns True if both targets are met."""
    if connection.settings_dict["NAME"] != BENCH_DB:
        raise RuntimeError(f"refusing to load {options.documents:,} documents into {connection.settings_dict['NAME']}"
                           f": --inside runs only in {BENCH_DB}")
    started = time.perf_counter()
    build_data_set(options)
    analyze()
    load_s = time.perf_counter() - started
    times, examined, gaps = time_examination(options.rounds)
    run = start_command_run("search_index", actor_label="heal_bench")
    started = time.perf_counter()
    result, error = execute_heal(run)
    heal_s = time.perf_counter() - started
    run = finish_heal_run(run.id, result, error)
    emitted = repairs_emitted(run.id)
    examination_ok = max(times) < EXAMINATION_TARGET_S
    repairs_ok = emitted == options.missing == run.repaired
    rows = [
        ("documents published", f"{options.documents:,}", ""),
        ("documents missing from the index", f"{options.missing:,}", ""),
        ("data set built in", f"{load_s:.1f} s", ""),
        ("rows examined (live content + index)", f"{examined:,}", ""),
        ("gaps found", f"{gaps:,}", f"= {options.missing:,}"),
        (f"examination, {options.rounds} runs: min / median / max",
         " / ".join(f"{t * 1000:.0f}" for t in (min(times), statistics.median(times), max(times))) + " ms",
         f"< {EXAMINATION_TARGET_S:.0f} s  {'ok' if examination_ok else 'MISSED'}"),
        ("heal run (examine + emit repairs)", f"{heal_s * 1000:.0f} ms", ""),
        ("repair events emitted (outbox)", f"{emitted:,}",
         f"= {options.missing:,}  {'ok' if repairs_ok else 'MISSED'}"),
        ("heal run recorded", f"#{run.id} {run.status}: examined {run.examined:,}, repaired {run.repaired:,}", ""),
    ]
    width = max(len(label) for label, _, _ in rows)
    version = connection.cursor().connection.info.server_version
    report(f"heal_bench on PostgreSQL {version // 10000}.{version % 10000}, database {BENCH_DB}")
    for label, value, target in rows:
        report(f"  {label:<{width}}  {value:>28}  {target}")
    return examination_ok and repairs_ok
