"""Hand-written SQL of the audit app: the lifecycle statements of its export jobs."""

from __future__ import annotations

from outbox.jobs import JobTable

# Background exports of the history (core/audit/exports.py, outbox/jobs.py).
HISTORY_EXPORTS = JobTable("audit_historyexport")
