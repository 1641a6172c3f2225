"""Ops: the record of every heal run (ADR 0012)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.accounts.models import Tenant


class HealRun(models.Model):
    """One run of a heal job: who or what started it, what it examined, what it repaired.

    Written only by core/ops/services.py. A platform-wide run (tenant NULL, from beat or the
    command) also keeps its figures per tenant in `by_tenant`, so a tenant's ops and auditors
    see that tenant's share and nothing of the others (core/ops/selectors.py).
    """

    class Name(models.TextChoices):
        SEARCH_INDEX = "search_index"
        PENDING_GRADINGS = "pending_gradings"
        REPUTATION = "reputation"

    class Trigger(models.TextChoices):
        BEAT = "beat"
        COMMAND = "command"
        API = "api"
        PAGE = "page"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    name = models.CharField(max_length=30, choices=Name.choices)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    # Who, in words: a username, "beat", or the OS user and host of a command.
    actor_label = models.CharField(max_length=150)
    # Indexed by ops_healrun_tenant (tenant first), not by an index of its own.
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                               db_index=False)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    examined = models.IntegerField(default=0)
    repaired = models.IntegerField(default=0)
    errors = models.IntegerField(default=0)
    error = models.TextField(blank=True)
    # Of the repairs listed in details, those that took effect (the heal's confirm: the derived
    # state now matches), counted by ops.verify_heal_runs until all did or the verify window
    # passed; verified_at is when that count became final.
    confirmed = models.IntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    # {"<tenant id>": {"examined": n, "repaired": m, "confirmed": k}}
    by_tenant = models.JSONField(default=dict, blank=True)
    # What was (or, in a dry run, would be) repaired: [{"tenant_id", "action", ...}], capped.
    details = models.JSONField(default=list, blank=True)
    # A long-running job with the lifecycle columns of outbox/jobs.py: the outbox event whose
    # delivery runs it (a redelivery of that event may resume it), how many deliveries have
    # claimed it, and when a run still `running` was lost with its process.
    claimed_event = models.UUIDField(null=True, blank=True)
    attempts = models.IntegerField(default=0)
    deadline_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["-requested_at"], name="ops_healrun_recent"),
            models.Index(fields=["tenant", "-requested_at"], name="ops_healrun_tenant"),
        ]
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"heal {self.name} #{self.pk} ({self.status})"


class OpsAction(models.Model):
    """One thing an operator did (core/ops/services.py): who, what, to which events (the filter
    they chose), how many, when. Shown on the Ops page; kept RETENTION_OPS_ACTIONS_DAYS."""

    class Action(models.TextChoices):
        REDRIVE = "redrive"
        DISCARD = "discard"
        HEAL = "heal"
        PAUSE = "pause"
        RESUME = "resume"

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=20, choices=Action.choices)
    # What was chosen: {"ids": [...]}, {"all": true}, {"fingerprint": ...}, {"heal": ..., ...}, or a
    # bulk action's filter with its "bulk_id"
    target = models.JSONField(default=dict)
    count = models.IntegerField(default=0)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-at"], name="ops_opsaction_tenant_at")]

    def __str__(self) -> str:
        return f"{self.actor_label}: {self.action} ({self.count})"


class BulkAction(models.Model):
    """Redrive or discard every open dead letter an operator's filter chose, in the background
    (core/ops/services.py, adr/0022): how many the filter matched when they confirmed it, how
    many it has examined and acted on so far, and the outcome.

    A long-running job with the lifecycle columns of outbox/jobs.py. It works in chunks, each
    one transaction that closes its letters and counts them here, so a redelivery after a
    killed worker goes on where the last chunk ended and nothing is sent twice. tenant NULL is
    every tenant's letters (platform staff, by the command)."""

    class Kind(models.TextChoices):
        REDRIVE = "redrive"
        DISCARD = "discard"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                               db_index=False)
    action = models.CharField(max_length=10, choices=Kind.choices)
    # The filter (outbox.selectors.DeadLetterFilter.to_dict), with the as_of the count was taken at.
    filters = models.JSONField(default=dict)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    actor_label = models.CharField(max_length=150)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    matched = models.IntegerField(default=0)  # open letters the filter chose when it was confirmed
    examined = models.IntegerField(default=0)  # of those, how many the job has come to
    acted = models.IntegerField(default=0)  # and closed (redriven or discarded) itself
    last_id = models.BigIntegerField(default=0)  # the last dead letter examined (the chunks go in id order)
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    claimed_event = models.UUIDField(null=True, blank=True)
    attempts = models.IntegerField(default=0)
    deadline_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-requested_at"], name="ops_bulkaction_tenant")]

    def __str__(self) -> str:
        return f"bulk {self.action} #{self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def percent(self) -> int:
        return 100 if self.finished or not self.matched else min(100, self.examined * 100 // self.matched)


class QueuePause(models.Model):
    """A Celery queue paused by platform staff (core/ops/services.py, adr/0022): while its row
    exists, workers do not consume from it (core/ops/worker.py checks every few seconds); the
    relay keeps publishing, so its messages wait in the broker. Resuming deletes the row."""

    queue = models.CharField(max_length=50, unique=True)
    paused_at = models.DateTimeField(default=timezone.now)
    actor_label = models.CharField(max_length=150)
    reason = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"queue {self.queue} paused by {self.actor_label}"
