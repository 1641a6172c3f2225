from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from core.accounts.models import Tenant, User


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")


@admin.register(User)
class FerryUserAdmin(UserAdmin):
    list_display = ("username", "email", "tenant", "is_staff")
    list_filter = ("tenant", "groups", "is_staff")
    fieldsets = (*UserAdmin.fieldsets, ("Tenant", {"fields": ("tenant",)}))  # type: ignore[misc]
