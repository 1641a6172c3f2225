"""psycopg connection arguments for processes that talk to Postgres directly (the relay)."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def conninfo(alias: str = "default", **overrides: Any) -> dict[str, Any]:
    """Connection keywords for Django's database `alias`, with application_name kept."""
    db = settings.DATABASES[alias]
    options = {k: v for k, v in db.get("OPTIONS", {}).items() if k != "pool"}
    info = {"dbname": db["NAME"], "user": db["USER"], "password": db["PASSWORD"] or None,
            "host": db["HOST"] or None, "port": db["PORT"] or None, **options, **overrides}
    return {k: v for k, v in info.items() if v is not None}
