"""Outbox tables as Django models, for reads (auditors, ops, admin) and for the inbox.

The event tables are created by outbox/sql/*.sql (a partitioned table is beyond Django's
schema editor); OutboxEvent reads the view over both of them. All writes to them go
through the named statements in outbox/queries.py.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models


class Status(models.TextChoices):
    PENDING = "pending"
    RELAYED = "relayed"
    COMPLETED = "completed"
    DEAD = "dead"


class OutboxEvent(models.Model):
    """One emitted event: what happened, to what, for whom, and its delivery history.

    Read from the outbox_log view: the hot table (events not yet moved) and the history.
    Never updated except its delivery columns; never deleted except by archival.
    """

    id = models.BigIntegerField(primary_key=True)
    event_id = models.UUIDField(unique=False, db_index=False)
    txid = models.BigIntegerField()
    tenant_id = models.BigIntegerField(null=True)
    actor_id = models.BigIntegerField(null=True)
    trace_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=100)
    aggregate_type = models.CharField(max_length=50)
    aggregate_id = models.CharField(max_length=64)
    payload = models.JSONField()
    task_name = models.CharField(max_length=200, null=True)
    queue = models.CharField(max_length=32, null=True)
    channel = models.CharField(max_length=200, null=True)
    redeliver_after = models.IntegerField(null=True)
    priority = models.SmallIntegerField()
    created_at = models.DateTimeField()
    available_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices)
    attempts = models.IntegerField()
    relayed_at = models.DateTimeField(null=True)
    redeliver_at = models.DateTimeField(null=True)
    completed_at = models.DateTimeField(null=True)
    last_error = models.TextField()
    # Events of one ordering key take effect one at a time, in commit order (key_seq); a dead
    # one holds its key's later events until redriven when key_holds (adr/0014).
    ordering_key = models.CharField(max_length=200, null=True)
    key_seq = models.BigIntegerField(null=True)
    key_holds = models.BooleanField(null=True)

    class Meta:
        db_table = "outbox_log"
        managed = False
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.id} {self.event_type} {self.aggregate_type}:{self.aggregate_id}"

    @property
    def destination(self) -> str:
        return f"task {self.task_name} on {self.queue}" if self.task_name else f"channel {self.channel}"


class InboxEntry(models.Model):
    """A consumer processed this event; written in the same transaction as its effects."""

    event_id = models.UUIDField(primary_key=True)
    outbox_id = models.BigIntegerField(db_index=True)
    task_name = models.CharField(max_length=200)
    tenant_id = models.BigIntegerField(null=True)
    attempt = models.IntegerField()
    worker = models.CharField(max_length=200)
    processed_at = models.DateTimeField()

    class Meta:
        db_table = "outbox_inbox"
        verbose_name_plural = "inbox entries"
        # For retention's deletes by age (core/platform/retention.py): rows arrive in time order,
        # so a BRIN index finds old ones at a tiny fraction of a B-tree's write cost.
        indexes = [BrinIndex(fields=["processed_at"], name="outbox_inbox_processed")]

    def __str__(self) -> str:
        return f"{self.task_name} processed {self.event_id}"


class DeliveryAttempt(models.Model):
    """One execution of a task event by a worker: when, where, and how it ended."""

    class Outcome(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        DUPLICATE = "duplicate"
        RETRYING = "retrying"
        DEAD = "dead"

    outbox_id = models.BigIntegerField()
    event_id = models.UUIDField()
    attempt = models.IntegerField()
    worker = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    error = models.TextField(blank=True)

    class Meta:
        db_table = "outbox_attempt"
        indexes = [models.Index(fields=["event_id", "attempt"], name="outbox_attempt_event"),
                   BrinIndex(fields=["started_at"], name="outbox_attempt_started")]

    def __str__(self) -> str:
        return f"attempt {self.attempt} of {self.event_id}: {self.outcome}"


class DeadLetter(models.Model):
    """An event whose delivery failed for good; ops can redrive it or discard it. Open until
    one of the two (redriven_at, discarded_at)."""

    outbox_id = models.BigIntegerField()
    event_id = models.UUIDField(unique=True)
    tenant_id = models.BigIntegerField(null=True, db_index=True)
    task_name = models.CharField(max_length=200, null=True)
    event_type = models.CharField(max_length=100)
    error = models.TextField()
    traceback = models.TextField(blank=True)
    attempts = models.IntegerField()
    created_at = models.DateTimeField()
    redriven_at = models.DateTimeField(null=True, blank=True)
    redriven_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set aside by an operator (core/ops bulk discard): the event stays dead and is not sent
    # again; the letter is closed like a redriven one.
    discarded_at = models.DateTimeField(null=True, blank=True)
    discarded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "outbox_deadletter"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at"],
                         condition=models.Q(redriven_at__isnull=True, discarded_at__isnull=True),
                         name="outbox_deadletter_open"),
            BrinIndex(fields=["created_at"], name="outbox_deadletter_created"),
        ]

    def __str__(self) -> str:
        return f"dead letter for event #{self.outbox_id} ({self.task_name})"


class ArchiveRun(models.Model):
    """One audited run of the archival command: which partition went where, by whom."""

    partition = models.CharField(max_length=100)
    range_start = models.DateTimeField()
    range_end = models.DateTimeField()
    rows = models.BigIntegerField(default=0)
    export_path = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    archived_table = models.CharField(max_length=200, blank=True)
    actor = models.CharField(max_length=150)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True)
    status = models.CharField(max_length=20, default="running")
    error = models.TextField(blank=True)

    class Meta:
        db_table = "outbox_archiverun"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"archive of {self.partition} ({self.status})"
