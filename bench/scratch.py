"""A scratch database for a benchmark: created on the configured server, migrated, used by
the benchmark's command run again inside it (DATABASE_URL pointing there), then dropped. The
benchmark runs through the very code and connection settings of production, and the
development database is never touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from django.conf import settings
from psycopg import sql

from core.platform.db import conninfo

ROOT = Path(__file__).resolve().parents[1]


def database_url(name: str) -> str:
    """DATABASE_URL with the database `name` instead of the configured one."""
    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def drop(name: str) -> None:
    admin = {**conninfo(), "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as db:
        db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def recreate(name: str) -> None:
    drop(name)
    admin = {**conninfo(), "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as db:
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def manage(name: str, process: str, *args: str) -> None:
    """`manage.py *args` in the database `name` (FERRY_PROCESS=`process` names the connections)."""
    env = {**os.environ, "DATABASE_URL": database_url(name), "FERRY_PROCESS": process,
           "DJANGO_SETTINGS_MODULE": "core.config.settings"}
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def run_isolated(name: str, command: str, args: list[str], keep: bool) -> None:
    """Create and migrate the database `name`, run `manage.py command --inside *args` in it,
    drop it (unless `keep`)."""
    recreate(name)
    try:
        manage(name, command, "migrate", "--noinput", "-v", "0")
        manage(name, command, command, "--inside", *args)
    finally:
        if not keep:
            drop(name)
