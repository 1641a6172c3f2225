"""Hand-written SQL of the audit app: the lines of its exports, the lifecycle of its export jobs."""

from __future__ import annotations

from outbox.jobs import JobTable
from outbox.queries import ISO_UTC

# Background exports of the history (core/audit/exports.py, outbox/jobs.py).
HISTORY_EXPORTS = JobTable("audit_historyexport")


# --- the lines of an export of the history (outbox.selectors.export, adr/0021) -----------------
#
# An export is the history's largest read (a month of a large agency is millions of events), so
# PostgreSQL writes each event's line, and Python only joins them: expressions over the columns
# of outbox_log, constant text. The columns are presenters.CSV_COLUMNS; the JSON line has the
# fields of presenters.event_dict. Times are ISO 8601 in UTC.


def _iso(column: str) -> str:
    return f"coalesce({ISO_UTC.format(column)}, '')"


def _quoted(text: str) -> str:
    """A CSV field: always quoted, inner quotes doubled (RFC 4180)."""
    return f"""'"' || replace({text}, '"', '""') || '"'"""


_DESTINATION = ("CASE WHEN task_name IS NOT NULL THEN 'task ' || task_name || ' on ' || queue "
                "ELSE 'channel ' || channel END")

CSV_LINE = "concat_ws(',', " + ", ".join([
    "id", "event_id", "txid || '-' || id", _iso("created_at"), _quoted("event_type"), _quoted("aggregate_type"),
    _quoted("aggregate_id"), "coalesce(actor_id::text, '')", _quoted("trace_id"), _quoted(_DESTINATION), "status",
    "attempts", _iso("relayed_at"), _iso("completed_at"), _quoted("last_error"), _quoted("payload::text"),
]) + ") || E'\\n'"

JSONL_LINE = "json_build_object(" + ", ".join(f"'{name}', {value}" for name, value in (
    ("id", "id"), ("event_id", "event_id"), ("cursor", "txid || '-' || id"), ("created_at", "created_at"),
    ("event_type", "event_type"), ("aggregate_type", "aggregate_type"), ("aggregate_id", "aggregate_id"),
    ("actor_id", "actor_id"), ("trace_id", "trace_id"), ("destination", _DESTINATION), ("priority", "priority"),
    ("status", "status"), ("attempts", "attempts"), ("available_at", "available_at"), ("relayed_at", "relayed_at"),
    ("completed_at", "completed_at"), ("last_error", "last_error"), ("payload", "payload"),
)) + ")::text || E'\\n'"
