"""The nightly search quality score of published lessons and problems (queries.SCORE_CONTENT_QUALITY).

Beat runs `learning.plan_quality_scores` at 03:15 UTC; it emits one `learning.score_content_quality`
event per agency with published content, in one transaction, and each agency is scored by its
own batch task in its own transaction: an interrupted night resumes where it stopped (the sweep
redelivers what was lost), and a second run rewrites the same scores. Search multiplies text
relevance by (1 + SEARCH_QUALITY_WEIGHT x score) (queries.SEARCH).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction

from core.learning import queries
from outbox.emit import emit


@transaction.atomic(durable=True)
def plan_quality_scores() -> int:
    """One scoring event per agency with published content; how many agencies."""
    with connection.cursor() as cursor:
        cursor.execute(queries.AGENCIES_WITH_LIVE_CONTENT)
        agencies = [row[0] for row in cursor.fetchall()]
    for tenant_id in agencies:
        emit("quality.scoring_due", aggregate_type="tenant", aggregate_id=tenant_id,
             task="learning.score_content_quality", tenant_id=tenant_id, payload={})
    return len(agencies)


def score_agency(tenant_id: int) -> int:
    """Score every published content of the agency (inside the task's effects() transaction);
    how many were scored."""
    if connection.get_autocommit():
        raise RuntimeError("quality scores are written inside the task's effects() transaction")
    with connection.cursor() as cursor:
        cursor.execute(queries.SCORE_CONTENT_QUALITY, {
            "tenant_id": tenant_id, "window_days": settings.QUALITY_WINDOW_DAYS,
            "half_life_days": settings.QUALITY_HALF_LIFE_DAYS})
        return len(cursor.fetchall())
