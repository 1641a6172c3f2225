"""The relay in-process, on the test database and Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings

from core.platform.db import conninfo
from relays.relay import Relay, RelayConfig


@pytest.fixture
def relay() -> Iterator[Relay]:
    """A relay with no bound on waiting messages (nothing consumes them in these tests)."""
    instance = Relay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL,
                     RelayConfig(batch_size=50, poll_interval_s=2.0, max_queued=None))
    yield instance
    instance.close()
