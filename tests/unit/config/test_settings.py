"""Settings come from the environment, and production refuses unsafe defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.platform.env import database_from_url, env_bool, env_int

ROOT = Path(__file__).resolve().parents[3]


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    """Import core.config.settings in a fresh interpreter with `env` on top of a clean environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_", "FERRY_",
                                                                        "DEBUG", "SECRET_KEY"))}
    code = ("import django, json; from django.conf import settings; django.setup(); "
            "print(json.dumps({'db': settings.DATABASES['default']['NAME'], "
            "'host': settings.DATABASES['default']['HOST'], 'broker': settings.REDIS_BROKER_URL, "
            "'cache': settings.REDIS_CACHE_URL, 'pubsub': settings.REDIS_PUBSUB_URL, "
            "'debug': settings.DEBUG, 'hosts': settings.ALLOWED_HOSTS}))")
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
        env={**base, "DJANGO_SETTINGS_MODULE": "core.config.settings", **env},
    )


def test_defaults_point_at_the_projects_own_servers_on_three_redis_databases() -> None:
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert '"db": "ferry"' in result.stdout
    assert '"broker": "redis://127.0.0.1:56379/0"' in result.stdout
    assert '"cache": "redis://127.0.0.1:56379/1"' in result.stdout
    assert '"pubsub": "redis://127.0.0.1:56379/2"' in result.stdout
    assert '"debug": true' in result.stdout


def test_a_setting_from_the_environment_wins_over_the_default() -> None:
    result = load_settings(
        DATABASE_URL="postgres://u:p@db.internal:6543/elsewhere",
        REDIS_CACHE_URL="redis://cache.internal:6379/4",
        ALLOWED_HOSTS="a.example,b.example",
    )
    assert result.returncode == 0, result.stderr
    assert '"db": "elsewhere"' in result.stdout
    assert '"host": "db.internal"' in result.stdout
    assert '"cache": "redis://cache.internal:6379/4"' in result.stdout
    assert '"hosts": ["a.example", "b.example"]' in result.stdout


def test_production_with_debug_on_and_the_default_secret_refuses_to_start() -> None:
    result = load_settings(FERRY_ENV="production", DEBUG="1")
    assert result.returncode != 0
    assert "Refusing to start with FERRY_ENV=production" in result.stderr
    assert "DEBUG is on" in result.stderr
    assert "SECRET_KEY is the development default" in result.stderr


def test_production_with_a_real_secret_and_debug_off_starts() -> None:
    result = load_settings(FERRY_ENV="production", SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    assert '"debug": false' in result.stdout


def test_a_malformed_value_names_its_variable() -> None:
    result = load_settings(CELERY_VISIBILITY_TIMEOUT="soon")
    assert result.returncode != 0
    assert "CELERY_VISIBILITY_TIMEOUT='soon' is not an integer" in result.stderr


def test_env_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG='maybe' is not a boolean"):
        env_bool("FLAG", False)
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("COUNT", "-3")
    with pytest.raises(ImproperlyConfigured, match="COUNT=-3 must be at least 0"):
        env_int("COUNT", 1, minimum=0)


def test_database_url_must_name_postgres_and_a_database() -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must be a postgres:// URL"):
        database_from_url("DATABASE_URL", "mysql://x@y/z")
    with pytest.raises(ImproperlyConfigured, match="names no database"):
        database_from_url("DATABASE_URL", "postgres://x@y:5432/")
    parsed = database_from_url("DATABASE_URL", "postgres://u:p%40ss@h:1/d?sslmode=require")
    assert (parsed["USER"], parsed["PASSWORD"], parsed["PORT"], parsed["OPTIONS"]) == (
        "u", "p@ss", "1", {"sslmode": "require"})
