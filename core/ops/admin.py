from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.ops.models import HealRun


@admin.register(HealRun)
class HealRunAdmin(admin.ModelAdmin):
    """Read-only: runs are written by core/ops/services.py only."""

    list_display = ("id", "name", "trigger", "actor_label", "tenant", "dry_run", "status", "requested_at",
                    "finished_at", "examined", "repaired", "errors")
    list_filter = ("name", "trigger", "status", "dry_run", "tenant")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
