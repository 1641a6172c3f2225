"""Integration tests run against the project's own PostgreSQL and Redis (tests/settings.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django_redis import get_redis_connection


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Rate-limit counters and cached pages start empty (the test cache DB only)."""
    assert settings.REDIS_CACHE_URL.rsplit("/", 1)[-1] != "1", "tests must not use the development cache"
    client = get_redis_connection("default")
    client.flushdb()
    yield
    client.flushdb()
