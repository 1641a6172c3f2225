from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand

from core.accounts.demo import describe_logins, seed_tenants_and_users


class Command(BaseCommand):
    help = "Create or refresh the demo tenants, users and data. Safe to run repeatedly."

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = seed_tenants_and_users()
        # Each app with a `demo` module seeds its own data: demo.seed(tenants, stdout).
        for config in apps.get_app_configs():
            module = f"{config.name}.demo"
            if config.name != "core.accounts" and importlib.util.find_spec(module) is not None:
                importlib.import_module(module).seed(tenants, self.stdout)
        self.stdout.write("Demo logins (username  password  roles  agency):")
        for line in describe_logins():
            self.stdout.write(f"  {line}")
