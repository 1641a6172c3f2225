from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from core.accounts.models import LoginThrottle, Tenant, User


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")


@admin.register(User)
class FerryUserAdmin(UserAdmin):
    list_display = ("username", "email", "tenant", "is_staff")
    list_filter = ("tenant", "groups", "is_staff")
    fieldsets = (*UserAdmin.fieldsets, ("Tenant", {"fields": ("tenant",)}))  # type: ignore[misc]


@admin.register(LoginThrottle)
class LoginThrottleAdmin(admin.ModelAdmin):
    """Failed sign-ins per account name or address; deleting a row lifts its lockout."""

    list_display = ("scope", "failures", "window_started_at", "locked_until")
    search_fields = ("scope",)
    readonly_fields = ("scope", "failures", "window_started_at", "locked_until")
