"""A relay process that SIGKILLs itself after publishing its first batch, before the commit.

`python -m tests.support.doomed_relay` (with the test environment): the fault is injected
from outside the product, through the relay's `on_published` hook, exactly where a crash
hurts most (rows in Redis, still pending in PostgreSQL).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from django.conf import settings

    from core.platform.db import conninfo
    from relays.messages import ClaimedEvent
    from relays.relay import Relay, RelayConfig

    def die(events: Sequence[ClaimedEvent]) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    relay = Relay(conninfo(application_name="ferry-relay-doomed"), settings.REDIS_BROKER_URL,
                  settings.REDIS_PUBSUB_URL, RelayConfig(name="doomed", poll_interval_s=0.2), on_published=die)
    relay.run()


if __name__ == "__main__":
    main()
