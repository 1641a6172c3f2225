from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from core.demo import describe_logins, seed_tenants_and_users


class Command(BaseCommand):
    help = "Create or refresh the demo tenants, users and data. Safe to run repeatedly."

    def handle(self, *args: Any, **options: Any) -> None:
        seed_tenants_and_users()
        self.stdout.write("Demo logins (username  password  roles  agency):")
        for line in describe_logins():
            self.stdout.write(f"  {line}")
