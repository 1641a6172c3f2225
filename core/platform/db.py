"""Reading hand-written SQL into typed rows, by column name.

Every query module's statements name their columns; `fetch_as` builds each row's dataclass
from those names, so a statement and its row type cannot silently drift apart by position
(a missing or extra column is a TypeError naming it, at the first read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django.db import connection

T = TypeVar("T")


def fetch_as(row_type: type[T], statement: str, params: Mapping[str, Any] | None = None) -> list[T]:
    """Run `statement` on Django's connection and build a `row_type` from each row's columns."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        names = [column.name for column in cursor.description]
        return [row_type(**dict(zip(names, row, strict=True))) for row in cursor.fetchall()]
