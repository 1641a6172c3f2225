"""The read audit: one row per page view or API call that showed patient data (adr/0017).

Rows are written only by core/privacy/services.py (one INSERT each) and never updated,
except that the live board's re-fetches of one day by one user from one address within a
collapse window share one row (`repeats`, `last_at` and the union of the visits shown).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.functions import Now


class ReadKind(models.TextChoices):
    """What was read, and through which door."""

    DAY = "day", "day page"
    DAY_BOARD = "day_board", "day board, re-fetched live"
    VISIT = "visit", "visit page"
    API_VISITS = "api_visits", "API: visits"
    API_VISIT = "api_visit", "API: one visit"
    API_ROUTE_PLANS = "api_route_plans", "API: a day's route plans"
    API_ROUTE_PLAN = "api_route_plan", "API: one route plan"


class PatientRead(models.Model):
    """Who (tenant, user, address, request) saw which visits (ids), when, through what.

    The tenant and user are plain ids, not foreign keys: the record must outlive the user
    it names, and an insert on the hot path checks no other table.
    """

    at = models.DateTimeField(db_default=Now())
    last_at = models.DateTimeField(db_default=Now())  # the last re-fetch folded into this row
    repeats = models.IntegerField(db_default=1)
    tenant_id = models.BigIntegerField()
    user_id = models.BigIntegerField()
    kind = models.CharField(max_length=20, choices=ReadKind.choices)
    # The date (YYYY-MM-DD), the visit's or plan's id; empty for every visit of the agency.
    subject = models.CharField(max_length=64, blank=True)
    visit_ids = ArrayField(models.BigIntegerField())  # sorted, each once
    visit_count = models.GeneratedField(expression=Func(F("visit_ids"), function="cardinality"),
                                        output_field=models.IntegerField(), db_persist=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_address = models.CharField(max_length=64, blank=True)
    # The start of the collapse window of a live board re-fetch; NULL for the other kinds.
    window_start = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Auditors' pages: a tenant's rows newest first (keyset by id).
            models.Index(fields=["tenant_id", "-id"], name="privacy_read_tenant"),
            BrinIndex(fields=["at"], name="privacy_read_at"),  # retention and time windows
        ]
        constraints = [
            models.UniqueConstraint(fields=["user_id", "subject", "client_address", "window_start"],
                                    condition=Q(kind=ReadKind.DAY_BOARD), name="privacy_read_refetch_window"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} by user {self.user_id} at {self.at}"
