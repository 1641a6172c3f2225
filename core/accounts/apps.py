from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    # The label stays "core": the tables (core_tenant, core_user), AUTH_USER_MODEL ("core.User")
    # and the migration history other apps depend on were made under it, and renaming the app
    # of a custom user model is a migration hazard with nothing to gain (adr/0013-layers.md).
    name = "core.accounts"
    label = "core"
    verbose_name = "Accounts"
