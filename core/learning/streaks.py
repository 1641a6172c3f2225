"""Streaks: the consecutive local days on which a learner did something (a graded submission,
or an answer in spaced review: core/learning/review.py).

A day is the learner's local day (`user.zone`: their own time zone, else their agency's), and
the day of an activity is the day the learner acted (a submission's creation), not the day a
worker got to it: a grade recorded after midnight, or after hours of downtime, still counts
for the day it was submitted.

Two writes keep the streak:

- `record_activity`, inside the transaction that records the activity: the day extends the
  streak if it follows the last active day, starts a new one after a gap, and does nothing
  on a day already counted (one conditional upsert; replays are harmless);
- `roll_over`, a beat job (`learning.roll_over_streaks`, every 15 minutes): a streak whose
  last active day is before yesterday, in its learner's zone at the moment of the run, is
  reset to 0. The comparison is of dates, computed by PostgreSQL per time zone
  (DST-correct), so the job is a batch by time zone, not a timer per learner, and a run after
  hours of downtime finds exactly the streaks that lapsed meanwhile. Each run resets at most
  STREAK_ROLLOVER_BATCH per statement, with a `streak.lapsed` event on each learner's channel.

Pages never show a lapsed streak even before the job ran: `current_streak` reads it through
the same date rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import connection, transaction

from core.learning import queries
from core.platform.channels import user_channel
from outbox.emit import emit


@dataclass(frozen=True)
class StreakView:
    current: int  # 0 when the last active day is before yesterday
    longest: int
    last_active_day: date | None
    today: date


def record_activity(tenant_id: int, user_id: int, at: datetime) -> StreakView | None:
    """Count the local day of `at` for the learner (in the caller's transaction). Returns the
    streak when this changed it, None when the day was counted already."""
    with connection.cursor() as cursor:
        cursor.execute(queries.STREAK_RECORD, {"tenant_id": tenant_id, "user_id": user_id, "at": at})
        row = cursor.fetchone()
    if row is None:
        return None
    current, longest, day, today = row
    emit("streak.extended", aggregate_type="user", aggregate_id=user_id, tenant_id=tenant_id,
         channel=user_channel(tenant_id, user_id),
         payload={"user_id": user_id, "current": current, "longest": longest, "day": day.isoformat()})
    return StreakView(current, longest, day, today)


def current_streak(user_id: int) -> StreakView:
    """The learner's streak as of now in their zone (a lapsed one reads 0)."""
    with connection.cursor() as cursor:
        cursor.execute(queries.STREAK_OF, {"user_id": user_id})
        current, longest, day, today = cursor.fetchone()
    return StreakView(current, longest, day, today)


def roll_over_batch() -> int:
    """Reset one batch of lapsed streaks (one transaction, an event per learner); how many
    were reset. Returns fewer than STREAK_ROLLOVER_BATCH when none are left."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(queries.STREAK_ROLL_OVER, {"batch": settings.STREAK_ROLLOVER_BATCH})
            reset = cursor.fetchall()
        for tenant_id, user_id, longest in reset:  # each learner's page hears of their own only
            emit("streak.lapsed", aggregate_type="user", aggregate_id=user_id, tenant_id=tenant_id,
                 channel=user_channel(tenant_id, user_id), payload={"user_id": user_id, "current": 0,
                                                                    "longest": longest})
    return len(reset)


def roll_over(max_batches: int = 100) -> int:
    """Reset every lapsed streak, batch by batch (at most `max_batches`: the next run goes on)."""
    total = 0
    for _ in range(max_batches):
        done = roll_over_batch()
        total += done
        if done < settings.STREAK_ROLLOVER_BATCH:
            break
    return total
