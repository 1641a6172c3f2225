"""The lifecycle statements of long-running jobs, composed per table (outbox/jobs.py), and the
retry backoff of failed deliveries."""

from __future__ import annotations

import pytest

from outbox.delivery import backoff_s
from outbox.jobs import JobTable


def test_the_claim_names_its_table_as_an_identifier_and_admits_only_queued_or_its_own_event() -> None:
    statement = JobTable("dispatch_optimizejob").claim_statement
    assert 'UPDATE "dispatch_optimizejob"' in statement
    assert "status = 'queued' OR (status = 'running' AND claimed_event = %(event_id)s)" in statement
    assert "tenant_id IS NOT DISTINCT FROM %(tenant_id)s" in statement
    assert "RETURNING attempts" in statement


def test_the_abandonment_takes_the_tables_own_status_assignments_and_scope() -> None:
    table = JobTable("ops_healrun", abandoned_status="error", on_abandon="errors = errors + 1")
    statement = table.abandon_statement("tenant_id = %(tenant_id)s")
    assert "SET status = 'error'" in statement
    assert ", errors = errors + 1" in statement
    assert "deadline_at < now() AND tenant_id = %(tenant_id)s" in statement
    assert "AND tenant_id" not in JobTable("ops_healrun").abandon_statement()


@pytest.mark.parametrize(("attempt", "expected"), [(1, 2.0), (2, 4.0), (3, 8.0), (9, 300.0)])
def test_backoff_doubles_up_to_its_cap(attempt: int, expected: float) -> None:
    assert backoff_s(attempt, base=2, cap=300, jitter=False) == expected


def test_jittered_backoff_stays_within_the_exponential_bound() -> None:
    delays = [backoff_s(4, base=2, cap=300, jitter=True) for _ in range(200)]
    assert all(0 <= d <= 16 for d in delays)
    assert len({round(d, 3) for d in delays}) > 100  # spread out, not all the same
