"""Tests talk to the project's real PostgreSQL and Redis, never stand-ins."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django_redis import get_redis_connection


@pytest.mark.django_db
def test_the_database_is_postgresql_15_or_newer() -> None:
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        assert int(cursor.fetchone()[0]) >= 150000


def test_the_cache_is_a_real_redis_in_its_own_database() -> None:
    cache.set("probe", "value", 10)
    assert cache.get("probe") == "value"
    client = get_redis_connection("default")
    info = client.info("server")
    assert info["redis_version"].split(".")[0] >= "7"
    assert client.connection_pool.connection_kwargs["db"] == settings.REDIS_TEST_BASE + 1


@pytest.mark.django_db
def test_healthz_reports_both_services(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "postgres": "ok", "redis": "ok"}
