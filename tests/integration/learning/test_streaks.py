"""Streaks (core/learning/streaks.py): Lena's consecutive local days of activity, counted in her
time zone by PostgreSQL (DST included), extended by graded submissions, reset by the rollover
batch when a day is missed, and never lost to a worker or beat that was late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.test import Client

from core.accounts.models import User
from core.learning import streaks
from tests.helpers.outbox import events_of
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


def days_ago(n: int, zone: str, hour: int = 12) -> datetime:
    """Noon (or `hour`) of the local day `n` days before today in `zone`, as an aware datetime."""
    local_today = datetime.now(ZoneInfo(zone)).date()
    day = local_today - timedelta(days=n)
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(zone))


def in_zone(user: User, zone: str) -> User:
    User.objects.filter(id=user.id).update(time_zone=zone)
    user.time_zone = zone
    return user


def act(user: User, at: datetime) -> streaks.StreakView | None:
    """Record an activity as the grading task does: inside its effects' transaction."""
    assert user.tenant_id is not None
    with transaction.atomic(durable=True):
        return streaks.record_activity(user.tenant_id, user.id, at)


def test_consecutive_local_days_extend_the_streak_and_a_second_activity_of_a_day_changes_nothing(
        lena: User) -> None:
    zone = "America/Los_Angeles"
    in_zone(lena, zone)
    first = act(lena, days_ago(2, zone))
    assert first is not None
    assert first.current == 1
    assert act(lena, days_ago(1, zone)) is not None
    assert act(lena, days_ago(1, zone, hour=20)) is None
    view = act(lena, days_ago(0, zone))
    assert view is not None
    assert (view.current, view.longest) == (3, 3)
    assert streaks.current_streak(lena.id).current == 3
    assert [e.payload["current"] for e in events_of("streak.extended")] == [1, 2, 3]
    assert events_of("streak.extended")[0].channel == f"tenant:{lena.tenant_id}:user:{lena.id}:events"


def test_the_day_is_the_learners_local_day_not_utcs(lena: User) -> None:
    in_zone(lena, "Pacific/Auckland")
    # 11:30 UTC yesterday and 10:30 UTC today are both the same Auckland evening... or not:
    # what counts is PostgreSQL's local date of each instant in her zone.
    zone = ZoneInfo("Pacific/Auckland")
    late_evening = days_ago(1, "Pacific/Auckland", hour=23)
    just_after_midnight = late_evening + timedelta(hours=1, minutes=30)
    assert late_evening.astimezone(UTC).date() == just_after_midnight.astimezone(UTC).date()  # one UTC day
    act(lena, late_evening)
    view = act(lena, just_after_midnight)
    assert view is not None
    assert view.current == 2  # two Auckland days
    assert view.last_active_day == just_after_midnight.astimezone(zone).date()


def test_a_dst_change_day_is_one_day(lena: User) -> None:
    in_zone(lena, "America/New_York")
    zone = ZoneInfo("America/New_York")
    # 2026-03-08 is 23 hours long in New York: the days before, of and after it are three days.
    for day in (7, 8, 9):
        act(lena, datetime(2026, 3, day, 23, 30, tzinfo=zone))
    with connection.cursor() as cursor:
        cursor.execute("SELECT current, run_start_day, last_active_day FROM learning_streak WHERE user_id = %s",
                       [lena.id])
        current, start, last = cursor.fetchone()
    assert current == 3
    assert (start.isoformat(), last.isoformat()) == ("2026-03-07", "2026-03-09")


def test_a_missed_day_reads_zero_at_once_and_the_rollover_resets_it_once(lena: User, rita: User) -> None:
    zone = "Asia/Kolkata"
    in_zone(lena, zone)
    act(lena, days_ago(3, zone))
    act(lena, days_ago(2, zone))  # a streak of 2 that ended the day before yesterday
    in_zone(rita, zone)
    act(rita, days_ago(1, zone))  # yesterday: still alive today
    assert streaks.current_streak(lena.id).current == 0  # read through the date rule, before any job
    assert streaks.current_streak(rita.id).current == 1
    assert streaks.roll_over() == 1
    assert streaks.roll_over() == 0  # the second run finds nothing
    (lapsed,) = events_of("streak.lapsed")
    assert lapsed.payload == {"user_id": lena.id, "current": 0, "longest": 2}
    assert streaks.current_streak(lena.id).longest == 2


def test_a_grade_recorded_late_continues_the_run_even_after_the_rollover_zeroed_it(lena: User) -> None:
    zone = "Europe/Lisbon"
    in_zone(lena, zone)
    act(lena, days_ago(3, zone))
    act(lena, days_ago(2, zone))
    assert streaks.roll_over() == 1  # the day before yesterday was the last: reset
    # Yesterday's submission is graded only now (a worker was down): the run goes on.
    view = act(lena, days_ago(1, zone))
    assert view is not None
    assert (view.current, view.longest) == (3, 3)
    assert streaks.current_streak(lena.id).current == 3


def test_the_learn_page_shows_the_streak(client: Client, lena: User) -> None:
    act(lena, days_ago(1, "UTC"))
    act(lena, days_ago(0, "UTC"))
    sign_in(client, lena)
    page = client.get("/learning/")
    assert page.context["streak"].current == 2
    assert 'id="streak-current">2<' in page.content.decode()
