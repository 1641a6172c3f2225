"""Statements deferred to the commit (core/platform/postgresql) follow the transaction: they run
with the COMMIT, vanish with a rollback (of the transaction or of the savepoint they were
queued in), run when a nested block is released, and a failing one fails the commit whole."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import DatabaseError, transaction
from django.db import connection as default_connection

from core.platform.postgresql.base import DatabaseWrapper

pytestmark = pytest.mark.django_db(transaction=True)

connection: DatabaseWrapper = default_connection  # type: ignore[assignment]  # the ENGINE in settings

INSERT = "INSERT INTO deferred_probe (note) VALUES (%s)"


@pytest.fixture(autouse=True)
def probe_table() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE deferred_probe (note text PRIMARY KEY)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE deferred_probe")


def notes() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT note FROM deferred_probe ORDER BY note")
        return [row[0] for row in cursor.fetchall()]


def test_a_deferred_statement_runs_with_the_commit_not_before() -> None:
    with transaction.atomic():
        connection.defer(INSERT, ["first"])
        connection.defer(INSERT, ["second"])
        assert notes() == []  # still queued
    assert notes() == ["first", "second"]
    assert connection.deferred == []


def defer_then_fail(note: str) -> None:
    with transaction.atomic():
        connection.defer(INSERT, [note])
        raise RuntimeError("the state change fails")


def test_a_rollback_drops_what_was_deferred() -> None:
    with pytest.raises(RuntimeError):
        defer_then_fail("lost")
    with transaction.atomic():
        pass  # a later transaction commits nothing of the earlier one
    assert notes() == []


def test_a_savepoint_rolled_back_drops_only_its_own_statements() -> None:
    with transaction.atomic():
        connection.defer(INSERT, ["outer"])
        with pytest.raises(RuntimeError):
            defer_then_fail("inner")
    assert notes() == ["outer"]


def test_a_released_savepoint_runs_its_statements_for_the_outer_transaction_to_see() -> None:
    with transaction.atomic():
        with transaction.atomic():
            connection.defer(INSERT, ["nested"])
        assert notes() == ["nested"]  # visible to the rest of the transaction


def change_and_defer(statement: str, note: str) -> None:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(INSERT, ["state change"])
        connection.defer(statement, [note])


def test_a_failing_deferred_statement_fails_the_commit_and_nothing_is_kept() -> None:
    with transaction.atomic():
        connection.defer(INSERT, ["taken"])
    with pytest.raises(DatabaseError):
        change_and_defer(INSERT, "taken")  # the deferred row violates the primary key at commit
    assert notes() == ["taken"]  # the state change rolled back with its deferred statement
    with transaction.atomic():  # and the connection is usable
        connection.defer(INSERT, ["after"])
    assert notes() == ["after", "taken"]


def test_nothing_can_be_deferred_in_autocommit() -> None:
    with pytest.raises(RuntimeError, match="only inside a transaction"):
        connection.defer(INSERT, ["nowhere"])
