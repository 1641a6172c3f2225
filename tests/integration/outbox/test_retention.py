"""Retention (core/platform/retention.py, outbox.enforce_retention): every table that grows
with traffic keeps only its policy's window, deleted in bounded batches, recorded as an
event; an accelerated soak keeps the tables flat while traffic goes on."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from core.accounts.models import Tenant, User, UserSession
from core.audit.models import HistoryExport
from core.learning.models import Notification
from core.ops.models import BulkAction, HealRun
from core.platform.retention import POLICIES
from core.privacy.models import PatientRead, ReadKind
from outbox.models import DeadLetter, DeliveryAttempt, InboxEntry, OutboxEvent
from outbox.tasks import enforce_retention
from tests.helpers.learning import published
from tests.helpers.outbox import deliver, emit_effects

# Deletes and the record of a run commit (durable transactions): a committed-data database.
with_outbox_db = pytest.mark.usefixtures("outbox_db")

OLD = timedelta(days=400)  # older than every default window
YOUNG = timedelta(hours=1)
SIX_YEARS_AGO = timedelta(days=2200)


def inbox(age: timedelta) -> None:
    InboxEntry.objects.create(event_id=uuid.uuid4(), outbox_id=1, task_name="t", attempt=1, worker="w",
                              processed_at=timezone.now() - age)


def attempt(age: timedelta, finished: bool = True) -> None:
    started = timezone.now() - age
    DeliveryAttempt.objects.create(outbox_id=1, event_id=uuid.uuid4(), attempt=1, worker="w", started_at=started,
                                   finished_at=started if finished else None)


def dead_letter(age: timedelta, redriven: bool) -> None:
    created = timezone.now() - age
    DeadLetter.objects.create(outbox_id=1, event_id=uuid.uuid4(), event_type="t", error="e", attempts=8,
                              created_at=created, redriven_at=created if redriven else None)


def heal_run(age: timedelta, status: str) -> None:
    HealRun.objects.create(name="search_index", trigger="beat", actor_label="beat", status=status,
                           requested_at=timezone.now() - age)


def notification(recipient: User, version_id: int, age: timedelta) -> None:
    assert recipient.tenant_id is not None
    Notification.objects.create(tenant_id=recipient.tenant_id, recipient=recipient, reason="decision",
                                source=f"test:{uuid.uuid4().hex[:8]}", version_id=version_id, message="m",
                                created_at=timezone.now() - age)


def user_session(user: User, age: timedelta) -> None:
    UserSession.objects.create(session_key=uuid.uuid4().hex, user=user, last_seen_at=timezone.now() - age)


def patient_read(user: User, age: timedelta) -> None:
    assert user.tenant_id is not None
    PatientRead.objects.create(tenant_id=user.tenant_id, user_id=user.pk, kind=ReadKind.DAY, subject="2026-03-10",
                               visit_ids=[1, 2], at=timezone.now() - age, last_at=timezone.now() - age)


def counts() -> dict[str, int]:
    return {"inbox": InboxEntry.objects.count(), "attempts": DeliveryAttempt.objects.count(),
            "dead_letters": DeadLetter.objects.count(), "heal_runs": HealRun.objects.count(),
            "notifications": Notification.objects.count(), "user_sessions": UserSession.objects.count(),
            "patient_reads": PatientRead.objects.count()}


@pytest.mark.django_db
@pytest.mark.usefixtures("beat_schedules")
def test_every_growing_table_has_a_policy_run_hourly_by_beat() -> None:
    assert {(p.table, p.age_column) for p in POLICIES.values()} == {
        ("outbox_inbox", "processed_at"), ("outbox_attempt", "started_at"), ("outbox_deadletter", "created_at"),
        ("ops_healrun", "requested_at"), ("learning_notification", "created_at"),
        ("core_usersession", "last_seen_at"), ("privacy_patientread", "at"), ("learning_digest", "created_at"),
        ("ops_opsaction", "at"), ("audit_historyexport", "requested_at"), ("ops_bulkaction", "requested_at"),
        ("outbox_metric_minute", "at"), ("outbox_metric_hour", "at"), ("dispatch_schedulerun", "ran_at")}
    task = PeriodicTask.objects.get(task="outbox.enforce_retention")
    assert (task.enabled, task.interval.every, task.interval.period) == (True, 3600, "seconds")


@with_outbox_db
@override_settings(RETENTION_BATCH=2)
def test_old_rows_go_in_batches_young_and_unsettled_ones_stay_and_the_run_is_recorded(
        bob: User, lena: User, harbor: Tenant) -> None:
    version = published(bob, bob)
    for _ in range(7):
        inbox(OLD)
    inbox(YOUNG)
    for finished in (True, True, True, False):
        attempt(OLD, finished)
    attempt(YOUNG)
    dead_letter(OLD, redriven=True)
    dead_letter(OLD, redriven=True)
    dead_letter(OLD, redriven=False)  # nobody acted on it: it stays
    dead_letter(YOUNG, redriven=True)
    heal_run(OLD, "succeeded")
    heal_run(OLD, "failed")
    heal_run(OLD, "running")  # unfinished: stays
    heal_run(YOUNG, "succeeded")
    Notification.objects.all().delete()
    notification(lena, version.id, OLD)
    notification(lena, version.id, OLD)
    notification(lena, version.id, YOUNG)
    UserSession.objects.all().delete()
    user_session(lena, OLD)
    user_session(lena, OLD)
    user_session(lena, YOUNG)
    patient_read(lena, SIX_YEARS_AGO)  # the read audit keeps six years
    patient_read(lena, OLD)
    patient_read(lena, YOUNG)
    for status in ("expired", "done", "failed"):  # a year after their files: the settled ones go
        HistoryExport.objects.create(tenant=harbor, format="csv", status=status,
                                     requested_at=timezone.now() - OLD)
    for status in ("succeeded", "running"):  # an unfinished bulk action stays
        BulkAction.objects.create(tenant=harbor, action="redrive", actor_label="oscar", status=status,
                                  requested_at=timezone.now() - OLD)
    # The figures: minutes are kept 30 days, hours a year.
    for table, ages in (("outbox_metric_minute", (timedelta(days=31), timedelta(days=29))),
                        ("outbox_metric_hour", (OLD, timedelta(days=300)))):
        for age in ages:
            with connection.cursor() as cursor:
                cursor.execute(f"INSERT INTO {table} (at, tenant_id, event_type, task_name, queue, emitted) "
                               "VALUES (%s, %s, 'x.y', '', '', 1)", [timezone.now() - age, harbor.id])

    deleted = enforce_retention()

    assert deleted == {"inbox": 7, "attempts": 3, "dead_letters": 2, "heal_runs": 2, "notifications": 2,
                       "user_sessions": 2, "patient_reads": 1, "digests": 0, "ops_actions": 0, "history_exports": 2,
                       "bulk_actions": 1, "metric_minutes": 1, "metric_hours": 1, "schedule_runs": 0}
    assert counts() == {"inbox": 1, "attempts": 2, "dead_letters": 2, "heal_runs": 2, "notifications": 1,
                        "user_sessions": 1, "patient_reads": 2}
    assert DeadLetter.objects.get(created_at__lt=timezone.now() - timedelta(days=300)).redriven_at is None
    assert list(HistoryExport.objects.values_list("status", flat=True)) == ["done"]
    assert HealRun.objects.get(requested_at__lt=timezone.now() - timedelta(days=300)).status == "running"
    [recorded] = OutboxEvent.objects.filter(event_type="retention.applied")
    assert recorded.tenant_id is None  # a platform event: no agency's auditors see it
    assert recorded.payload["deleted"] == deleted
    assert recorded.payload["keep_days"]["inbox"] == 14

    assert enforce_retention() == dict.fromkeys(deleted, 0)
    assert OutboxEvent.objects.filter(event_type="retention.applied").count() == 1  # nothing to record


@with_outbox_db
@override_settings(RETENTION_BATCH=2, RETENTION_MAX_BATCHES=2)
def test_a_run_is_bounded_and_the_next_one_goes_on() -> None:
    for _ in range(7):
        inbox(OLD)
    assert enforce_retention()["inbox"] == 4
    assert enforce_retention()["inbox"] == 3
    assert InboxEntry.objects.count() == 0


@with_outbox_db
def test_an_accelerated_soak_keeps_the_tables_flat_while_traffic_goes_on() -> None:
    """Traffic at a steady rate with windows of two seconds: what the tables hold stops growing
    once the window is full, while the rows written keep growing."""
    window_s, rounds, per_round = 2.0, 12, 40
    held: list[int] = []
    written = 0
    with override_settings(RETENTION_INBOX_DAYS=window_s / 86400, RETENTION_ATTEMPTS_DAYS=window_s / 86400):
        for n in range(rounds):
            emit_effects([f"soak-{n}-{i}" for i in range(per_round)])
            written += deliver("tests.record_effect")
            enforce_retention()
            held.append(InboxEntry.objects.count() + DeliveryAttempt.objects.count())
            time.sleep(0.5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM outbox_log WHERE event_type = 'retention.applied'")
        runs_recorded = cursor.fetchone()[0]
    print(f"\nsoak: rows held per round {held}, {written} events processed")
    assert written == rounds * per_round
    # The window holds about window_s / 0.5 s rounds of traffic (plus the round's slack); after it
    # fills, the tables stop growing although twice as much traffic follows.
    full = held[rounds // 2 - 1]
    assert max(held[rounds // 2:]) <= full + 2 * per_round * 2, held
    assert held[-1] < 2 * per_round * (rounds // 2), held
    assert runs_recorded >= rounds // 2 - 1
