"""Hand-written SQL on Django's connection: typed rows, and prepared statements; and the
connection keywords for processes that talk to PostgreSQL directly (the relay, beat's lock).

Every query module's statements name their columns; `fetch_as` builds each row's dataclass
from those names, so a statement and its row type cannot silently drift apart by position
(a missing or extra column is a TypeError naming it, at the first read).

Django's connections bind parameters in the client, so the server parses and plans each
statement anew; for a large statement run on every task that is most of its cost. `run_prepared`
runs one as a server-side prepared statement on the same connection and transaction (planned
once per connection). Its parameters are typed by the server: a statement must cast those whose
type the server cannot infer (a NULL in a SELECT list, for example).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import psycopg
from django.conf import settings
from django.db import connection

T = TypeVar("T")


def fetch_as(row_type: type[T], statement: str, params: Mapping[str, Any] | None = None) -> list[T]:
    """Run `statement` on Django's connection and build a `row_type` from each row's columns."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        names = [column.name for column in cursor.description]
        return [row_type(**dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def run_prepared(statement: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Run `statement` as a prepared statement on Django's connection, in its current
    transaction; returns the first row, if the statement returns rows. Database errors are
    Django's (IntegrityError, OperationalError...), as from a Django cursor."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(statement, params, prepare=True)
        return cursor.fetchone() if cursor.description else None


def conninfo(alias: str = "default", **overrides: Any) -> dict[str, Any]:
    """psycopg connection keywords for Django's database `alias`, with application_name kept."""
    db = settings.DATABASES[alias]
    options = {k: v for k, v in db.get("OPTIONS", {}).items() if k != "pool"}
    info = {"dbname": db["NAME"], "user": db["USER"], "password": db["PASSWORD"] or None,
            "host": db["HOST"] or None, "port": db["PORT"] or None, **options, **overrides}
    return {k: v for k, v in info.items() if v is not None}
