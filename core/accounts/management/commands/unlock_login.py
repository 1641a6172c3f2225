from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.accounts import throttle


class Command(BaseCommand):
    help = ("Forget the failed sign-ins of account names or client addresses, lifting their lockout "
            "(core/accounts/throttle.py). Locks also run out by themselves after LOGIN_LOCKOUT_S.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("usernames", nargs="*", help="account names to unlock")
        parser.add_argument("--address", action="append", default=[], help="a client address to unlock (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        scopes = ([throttle.user_scope(name) for name in options["usernames"]]
                  + [throttle.address_scope(address) for address in options["address"]])
        if not scopes:
            raise CommandError("name at least one account name or --address")
        cleared = set(throttle.clear(*scopes))
        for scope in scopes:
            self.stdout.write(f"{scope}: {'unlocked' if scope in cleared else 'had no failures'}")
