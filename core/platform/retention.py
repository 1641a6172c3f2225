"""Retention: how long each table that grows with traffic keeps its rows (adr/0016-retention.md).

Apps register a policy per table when they are ready (`register(Policy(...))`); beat runs
`outbox.enforce_retention` every hour, which deletes what is older than each policy's keep
in bounded batches (one short transaction each, at most `max_batches` per policy and run:
the next run goes on) and records what it deleted as an outbox event. Tables are named by
their apps, never by the caller: nothing here takes a table name from outside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from psycopg import sql


@dataclass(frozen=True)
class Policy:
    """Rows of `table` whose `age_column` is older than `keep()` go, if `condition` holds."""

    name: str
    table: str
    age_column: str
    keep: Callable[[], timedelta]  # read at each run, so settings changes apply without a restart
    condition: str = "true"  # SQL over the table's columns, written by the registering app

    def delete_batch(self) -> sql.Composed:
        return sql.SQL("""
DELETE FROM {table} WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM {table} WHERE {age} < now() - make_interval(secs => %(keep_s)s) AND ({condition})
    LIMIT %(batch)s FOR UPDATE SKIP LOCKED))
""").format(table=sql.Identifier(self.table), age=sql.Identifier(self.age_column),
            condition=sql.SQL(self.condition))  # the registering app's own SQL, never input


POLICIES: dict[str, Policy] = {}


def register(policy: Policy) -> None:
    """Keep `policy.table` bounded; a second policy under one name is a bug."""
    known = POLICIES.get(policy.name)
    if known is not None and (known.table, known.age_column, known.condition) != (
            policy.table, policy.age_column, policy.condition):
        raise ValueError(f"a retention policy named {policy.name!r} is already registered")
    POLICIES[policy.name] = policy


def prune(policy: Policy, *, batch: int, max_batches: int) -> int:
    """Delete up to batch x max_batches expired rows, one transaction per batch; how many went."""
    deleted = 0
    statement = policy.delete_batch()
    for _ in range(max_batches):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, {"keep_s": policy.keep().total_seconds(), "batch": batch})
            gone = cursor.rowcount
        deleted += gone
        if gone < batch:
            break
    return deleted
