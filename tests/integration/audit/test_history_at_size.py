"""The auditors' history at size (adr/0021): each filter reads index ranges, never a whole
partition; a time window reads only its months; counts are exact when small and estimated when
large; exports are complete and commit-safe while transactions overlap; all within one tenant."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection

from core.platform.db import conninfo
from outbox import queries, selectors
from outbox.models import OutboxEvent
from outbox.selectors import EXACT_COUNT_UP_TO, HistoryFilter, PayloadMatch
from tests.helpers.web import emit_on

pytestmark = pytest.mark.usefixtures("outbox_db")

LARGE, SMALL = 901, 902
ROWS = 60_000
DAYS = 150
TYPES = ("visit.updated", "visit.created", "lesson.finished", "submission.graded", "content.published")

# Five months of completed events, oldest first, nine in ten the large agency's; actors and
# aggregates repeat, a third of the events have no actor; ids come from the outbox sequence.
HISTORY = """
INSERT INTO outbox_history (txid, tenant_id, actor_id, event_type, aggregate_type, aggregate_id, payload, channel,
                            created_at, available_at, status, attempts, relayed_at, completed_at)
SELECT 3 + g / 10, CASE WHEN g %% 10 = 0 THEN %(small)s ELSE %(large)s END,
       CASE WHEN g %% 3 = 0 THEN NULL ELSE 100 + g %% 40 END,
       CASE WHEN g %% 500 = 1 THEN 'content.published' ELSE (%(types)s::text[])[1 + g %% 4] END,
       'visit', (g %% 7000)::text, jsonb_build_object('visit_id', g %% 7000), 'tenant:events', at, at, 'completed', 1,
       at, at
FROM generate_series(1, %(rows)s) g
CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + g * (%(days)s * interval '1 day') / %(rows)s AS at) t
"""


@pytest.fixture
def year() -> datetime:
    """The history described above, analysed as autovacuum would; its first day."""
    start = (datetime.now(UTC) - timedelta(days=DAYS)).replace(microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT outbox_ensure_partitions(6, 1)")
        cursor.execute(HISTORY, {"small": SMALL, "large": LARGE, "types": list(TYPES), "rows": ROWS,
                                 "start": start, "days": DAYS})
        cursor.execute("ANALYZE outbox_history")
    return start


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _analyzed(rows: Any) -> list[dict[str, Any]]:
    """The plan nodes of `rows` (a queryset) as run: EXPLAIN ANALYZE."""
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    return list(_nodes((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]))


def _history_scans(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [node for node in nodes if str(node.get("Relation Name", "")).startswith("outbox_history")]


def _rows_read(scans: list[dict[str, Any]]) -> int:
    """Rows each scan of the history produced or read and threw away."""
    return sum(int(node["Actual Rows"]) * int(node["Actual Loops"]) + int(node.get("Rows Removed by Filter", 0))
               + int(node.get("Rows Removed by Index Recheck", 0)) for node in scans)


def _months(since: datetime, until: datetime) -> set[str]:
    """The names of the monthly partitions a window [since, until) overlaps."""
    names, month = set(), since.replace(day=1, hour=0, minute=0, second=0)
    while month < until:
        names.add(f"outbox_history_y{month:%Y}m{month:%m}")
        month = (month + timedelta(days=32)).replace(day=1)
    return names


def _filters(start: datetime) -> dict[str, HistoryFilter]:
    middle = start + timedelta(days=70, hours=5)
    return {
        "latest": HistoryFilter(),
        "event_type": HistoryFilter(event_type="lesson.finished"),
        "rare_event_type": HistoryFilter(event_type="content.published"),
        "aggregate": HistoryFilter(aggregate_type="visit", aggregate_id="1234"),
        "actor": HistoryFilter(actor_id=117),
        "window": HistoryFilter(since=middle, until=middle + timedelta(days=1)),
        "status_dead": HistoryFilter(status="dead"),
        "type_and_window": HistoryFilter(event_type="visit.updated", since=middle, until=middle + timedelta(days=7)),
        "actor_and_type": HistoryFilter(actor_id=117, event_type="visit.created"),
        "payload": HistoryFilter(payload=PayloadMatch.parse("payload.visit_id = 1234")),
        "payload_and_type": HistoryFilter(event_type="visit.updated",
                                          payload=PayloadMatch.parse("payload.visit_id = 7")),
    }


@pytest.mark.parametrize("tenant_id", [LARGE, SMALL])
def test_every_filter_reads_a_few_index_entries_of_the_history_not_a_partition(
        year: datetime, tenant_id: int) -> None:
    for name, filters in _filters(year).items():
        _, second = selectors.history_page(tenant_id, filters, None, 50)
        for page, before in (("first", None), ("second", second)):
            if page == "second" and before is None:
                continue  # a filter with one page
            scans = _history_scans(_analyzed(selectors.history_below(tenant_id, filters, before)[:51]))
            # (An empty month, in the past or ahead, may be read whole: there is nothing in it.)
            whole = [node["Relation Name"] for node in scans if node["Node Type"] == "Seq Scan" and _rows_read([node])]
            assert not whole, (name, page, whole)
            # A page of 50 reads a few entries in each month, not the months' thousands.
            assert _rows_read(scans) <= 1500, (name, page, _rows_read(scans))


def test_a_payload_filter_probes_the_payload_index_of_each_month_that_holds_matches(year: datetime) -> None:
    filters = HistoryFilter(payload=PayloadMatch.parse("payload.visit_id = 1234"))
    nodes = _analyzed(selectors.history(LARGE, filters)[:51])
    probed = {node["Index Name"].removesuffix("_payload_idx") for node in nodes
              if node["Node Type"] == "Bitmap Index Scan" and node["Index Name"].endswith("_payload_idx")}
    found = list(selectors.history(LARGE, filters))
    truth = OutboxEvent.objects.filter(tenant_id=LARGE, payload__visit_id=1234)  # read without the index
    assert sorted(event.id for event in found) == sorted(truth.values_list("id", flat=True))
    assert len(found) == 9  # g = 1234 + 7000 k, all of the large agency
    assert {f"outbox_history_y{event.created_at:%Y}m{event.created_at:%m}" for event in found} <= probed
    assert _rows_read(_history_scans(nodes)) <= 50


def test_a_time_window_reads_only_the_partitions_of_its_months(year: datetime) -> None:
    since = year + timedelta(days=40)
    until = since + timedelta(days=3)
    rows = selectors.history(LARGE, HistoryFilter(since=since, until=until))[:51]
    scanned = {node["Relation Name"] for node in _history_scans(_analyzed(rows))}
    assert scanned
    assert scanned <= _months(since, until)


def test_the_keyset_pages_of_a_filter_cover_it_once_newest_first(year: datetime) -> None:
    filters = HistoryFilter(event_type="content.published")
    seen: list[tuple[datetime, int]] = []
    before = None
    while True:
        page, before = selectors.history_page(LARGE, filters, before, 17)
        seen += [(event.created_at, event.id) for event in page]
        if before is None:
            break
    every = list(selectors.history(LARGE, filters).values_list("created_at", "id"))
    assert seen == every == sorted(every, reverse=True)
    assert len(seen) == ROWS // 500  # every 500th event, all of the large agency (g % 10 = 1)


def test_counts_are_exact_when_few_and_an_estimate_when_many(year: datetime) -> None:
    rare = selectors.history_count(SMALL, HistoryFilter(event_type="lesson.finished", actor_id=117))
    truth = selectors.history(SMALL, HistoryFilter(event_type="lesson.finished", actor_id=117)).count()
    assert rare.exact
    assert rare.events == truth
    many = selectors.history_count(LARGE, HistoryFilter())
    assert not many.exact
    assert many.events > EXACT_COUNT_UP_TO
    assert ROWS * 0.9 / 2 <= many.events <= ROWS * 0.9 * 2  # the planner's estimate, within a factor of 2


def _exported(tenant_id: int, filters: HistoryFilter, chunk: int) -> Iterator[list[int]]:
    """The export's chunks, each event's line its id."""
    return ([int(line) for line in lines] for lines in selectors.export(tenant_id, filters, "id::text", chunk=chunk))


def test_an_export_is_complete_and_commit_safe_while_transactions_overlap_and_rows_move() -> None:
    channel = "tenant:77:events"
    with psycopg.connect(**conninfo()) as writer:
        committed = [emit_on(writer, channel, f"e{n}", 77) for n in range(7)]
        writer.commit()
    with psycopg.connect(**conninfo()) as late, psycopg.connect(**conninfo()) as other:
        late_id = emit_on(late, channel, "late", 77)  # open: holds the export's horizon
        after_id = emit_on(other, channel, "after", 77)
        other.commit()  # committed, but above the horizon that `late` holds

        chunks = _exported(77, HistoryFilter(), chunk=2)
        first = next(chunks)
        # Between chunks: the open transaction commits, and the mover moves every completed
        # event from the hot table to the history.
        late.commit()
        other.execute("UPDATE outbox_event SET status = 'completed', completed_at = now(), redeliver_at = NULL")
        moved = other.execute(queries.MOVE_COMPLETED, {"limit": 100}).rowcount
        other.commit()
        assert moved == len(committed) + 2
        rest = [event_id for chunk in chunks for event_id in chunk]

    exported = [*first, *rest]
    assert exported == committed  # each once, oldest first; none of the transactions above the horizon
    again = [event_id for chunk in _exported(77, HistoryFilter(), chunk=3) for event_id in chunk]
    assert sorted(again) == sorted([*committed, late_id, after_id])
    assert list(_exported(78, HistoryFilter(), chunk=3)) == []  # another agency's export sees none of it
