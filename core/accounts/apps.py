from __future__ import annotations

from datetime import timedelta

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    # The label stays "core": the tables (core_tenant, core_user), AUTH_USER_MODEL ("core.User")
    # and the migration history other apps depend on were made under it, and renaming the app
    # of a custom user model is a migration hazard with nothing to gain (adr/0013-layers.md).
    name = "core.accounts"
    label = "core"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from core.accounts import sessions
        from core.platform.retention import Policy, register

        user_logged_in.connect(sessions.signed_in, dispatch_uid="core.accounts.sessions.signed_in")
        user_logged_out.connect(sessions.signed_out, dispatch_uid="core.accounts.sessions.signed_out")
        # A session registry row outlives its session only until the session could not be valid.
        register(Policy("user_sessions", "core_usersession", "last_seen_at",
                        lambda: timedelta(seconds=settings.SESSION_COOKIE_AGE)))
