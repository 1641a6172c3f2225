from __future__ import annotations

from django.apps import AppConfig


class PeopleConfig(AppConfig):
    """An agency's people, managed by its agency admins: invitations, roles, deactivation, the
    second factor and password resets (each a write function with its outbox event)."""

    name = "core.people"
    label = "people"
    default_auto_field = "django.db.models.BigAutoField"
