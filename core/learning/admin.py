"""Read-only admin views for platform staff: changes go through the write functions
(core/learning/services.py), so the admin never edits these rows."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.learning.models import Content, Notification, SearchDocument, Submission, Version


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Content)
class ContentAdmin(ReadOnlyAdmin):
    list_display = ("id", "tenant", "kind", "live_version", "live_seq", "live_changed_at")
    list_filter = ("tenant", "kind")


@admin.register(Version)
class VersionAdmin(ReadOnlyAdmin):
    list_display = ("id", "tenant", "content", "number", "title", "status", "author", "created_at")
    list_filter = ("tenant", "status")
    search_fields = ("title",)


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyAdmin):
    list_display = ("id", "tenant", "problem", "learner", "status", "enqueues", "attempts", "created_at")
    list_filter = ("tenant", "status")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "tenant", "recipient", "reason", "message", "created_at", "read_at")
    list_filter = ("tenant", "reason")


@admin.register(SearchDocument)
class SearchDocumentAdmin(ReadOnlyAdmin):
    list_display = ("content_id", "tenant_id", "kind", "version_id", "live_seq", "title", "indexed_at")
    list_filter = ("kind",)
    search_fields = ("title",)
