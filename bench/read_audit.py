"""read_audit_bench: what the read audit of patient data costs (adr/0017-read-audit.md).

Like heal_bench, it runs in a database of its own (`ferry_readbench`, created, migrated and
dropped). Inside, it builds a day of `--visits` visits and a read history of `--history`
records, then prints:

- one record_read (the INSERT a patient page adds), for a day of `--visits` visits and of
  1,000, and one live re-fetch folded into its window's row (the upsert);
- the dispatcher's day page (the view: its queries and its rendering), with and without
  recording;
- the search "who saw visit X" over the history, for a visit of the oldest day (the worst
  case: every record is read), without and with a GIN index on the visit ids, and what that
  index would add to each record.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any
from unittest import mock

from django.contrib.auth.models import Group
from django.db import connection
from django.test import RequestFactory

from bench import queries, scratch
from core.accounts.models import Tenant, User
from core.dispatch import views
from core.platform.roles import Role
from core.privacy import selectors, services
from core.privacy.models import ReadKind

BENCH_DB = "ferry_readbench"
DAY = date(2026, 3, 10)

Report = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    visits: int = 60  # a busy agency's day
    history: int = 200_000  # reads kept: a year of a 50-dispatcher agency is about 2 million
    calls: int = 2_000


def run_isolated(options: BenchOptions, keep: bool, report: Report) -> None:
    report(f"read_audit_bench: building {BENCH_DB} (migrations) …")
    scratch.run_isolated(BENCH_DB, "read_audit_bench", ["--visits", str(options.visits), "--history",
                                                        str(options.history), "--calls", str(options.calls)], keep)


# --- inside -----------------------------------------------------------------------------------------


def _execute(statement: str, params: dict[str, Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone() if cursor.description else None


def _micros_per_call(calls: int, action: Callable[[], object]) -> float:
    action()  # the first call prepares the statement
    started = time.perf_counter()
    for _ in range(calls):
        action()
    return (time.perf_counter() - started) / calls * 1e6


def _day_view_s(user: User) -> float:
    """Seconds of one day view (its queries and template), as a dispatcher."""
    request = RequestFactory().get(f"/dispatch/day/{DAY.isoformat()}/")
    request.user = user
    started = time.perf_counter()
    response = views.day_view(request, DAY.isoformat())
    assert response.status_code == 200
    return time.perf_counter() - started


@contextmanager
def _not_recorded() -> Iterator[None]:
    with mock.patch.object(services, "record_read", return_value=0):
        yield


def _search_ms(tenant_id: int, visit_id: int, rounds: int = 3) -> float:
    filters = selectors.ReadFilter(visit_id=visit_id)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        selectors.reads_page(tenant_id, filters, None, 50)
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def _dispatcher(tenant: Tenant) -> User:
    user = User.objects.create_user(username="read-bench", tenant=tenant)
    user.groups.set([Group.objects.get(name=Role.DISPATCHER.value)])
    return user


def _record_rows(options: BenchOptions, reader: services.Reader) -> list[tuple[str, str]]:
    """One record (INSERT) for a day of `visits` and of 1,000; one re-fetch folded (upsert)."""
    rows = []
    for n, kind in ((options.visits, ReadKind.DAY), (1000, ReadKind.DAY), (options.visits, ReadKind.DAY_BOARD)):
        ids = list(range(1, n + 1))
        what = "a live re-fetch folded into its row (upsert)" if kind is ReadKind.DAY_BOARD else "record_read (INSERT)"
        micros = _micros_per_call(options.calls, lambda kind=kind, ids=ids: services.record_read(  # type: ignore[misc]
            reader, kind, "d", ids))
        rows.append((f"{what}, {n:,} visits", f"{micros:.0f} µs"))
    return rows


def _page_rows(options: BenchOptions, user: User) -> list[tuple[str, str]]:
    """The day view's median, without and with its record (interleaved, so that drift in the
    machine's speed weighs on both alike)."""
    bare: list[float] = []
    recorded: list[float] = []
    for _ in range(max(50, options.calls // 10)):
        with _not_recorded():
            bare.append(_day_view_s(user))
        recorded.append(_day_view_s(user))
    without, with_record = statistics.median(bare) * 1000, statistics.median(recorded) * 1000
    return [(f"day page view, {options.visits} visits, not recorded (median)", f"{without:.2f} ms"),
            (f"day page view, {options.visits} visits, recorded (median)",
             f"{with_record:.2f} ms ({with_record - without:+.2f} ms, {(with_record - without) / without:+.1%})")]


def run_inside(options: BenchOptions, report: Report) -> None:
    if connection.settings_dict["NAME"] != BENCH_DB:
        raise RuntimeError(f"read_audit_bench --inside runs only in {BENCH_DB}")
    tenant = Tenant.objects.create(name="Read bench", slug="read-bench")
    user = _dispatcher(tenant)
    _execute(queries.BENCH_DAY, {"tenant_id": tenant.pk, "day": DAY, "visits": options.visits})
    reader = services.Reader(tenant.pk, user.pk, "0" * 32, "127.0.0.1")
    rows = [*_record_rows(options, reader), *_page_rows(options, user), *_history_rows(options, tenant, user, reader)]
    width = max(len(label) for label, _ in rows)
    version = connection.cursor().connection.info.server_version
    report(f"read_audit_bench on PostgreSQL {version // 10000}.{version % 10000}, database {BENCH_DB}")
    for label, value in rows:
        report(f"  {label:<{width}}  {value}")


def _history_rows(options: BenchOptions, tenant: Tenant, user: User, reader: services.Reader) -> list[tuple[str, str]]:
    """The search for one visit over the history, without and with a GIN index of the ids."""
    _execute(queries.BENCH_READ_HISTORY, {"tenant_id": tenant.pk, "user_id": user.pk, "rows": options.history,
                                          "visits": options.visits})
    _execute(queries.BENCH_ANALYZE)
    (per_row,) = _execute(queries.BENCH_READ_SIZE)
    (oldest,) = _execute(queries.BENCH_OLDEST_VISIT_ID)
    ids = list(range(1, options.visits + 1))

    def record() -> None:
        services.record_read(reader, ReadKind.DAY, "d", ids)

    def record_1000() -> None:
        services.record_read(reader, ReadKind.DAY, "d", range(1, 1001))

    rows = [(f"history: {options.history:,} records of {options.visits} visits", f"{per_row:.0f} bytes a record"),
            ("who saw visit X (oldest day), no index of ids", f"{_search_ms(tenant.pk, oldest):.0f} ms"),
            ("record_read, no index of ids", f"{_micros_per_call(options.calls, record):.0f} µs")]
    started = time.perf_counter()
    _execute(queries.BENCH_GIN_CREATE)
    built = time.perf_counter() - started
    _execute(queries.BENCH_ANALYZE)
    (with_gin,) = _execute(queries.BENCH_READ_SIZE)
    rows += [(f"GIN index on visit_ids built in {built:.1f} s", f"{with_gin:.0f} bytes a record"),
             ("who saw visit X (oldest day), GIN index", f"{_search_ms(tenant.pk, oldest):.1f} ms"),
             ("record_read, GIN index", f"{_micros_per_call(options.calls, record):.0f} µs"),
             ("record_read, 1,000 visits, GIN index", f"{_micros_per_call(options.calls, record_1000):.0f} µs")]
    _execute(queries.BENCH_GIN_DROP)
    return rows
