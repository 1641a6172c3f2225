"""Django's PostgreSQL backend, plus statements deferred to the end of the transaction.

`connection.defer(statement, params)` queues a statement to run in the current transaction,
just before it commits; at the commit, the queued statements and the COMMIT go to the
server in one pipeline, so they cost no round trip of their own. The outbox uses it: a
write function's `emit()` adds its event row to the transaction without a statement of its
own (outbox/emit.py, adr/0014-outbox-ordering-fairness-cost.md).

The statements run as prepared statements (server-side binding, planned once per connection,
not parsed and planned at every commit as Django's client-side binding would): their
parameters must have types the server can infer or that the statement casts.

The queue follows the transaction: a savepoint rolled back drops what was queued inside
it; a savepoint released (a nested atomic block ending) runs what is queued at once, so the
rows exist for whatever the outer transaction does next; a rollback drops everything.
Outside a transaction (autocommit) nothing can be deferred.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from django.db.backends.utils import debug_transaction

Params = Mapping[str, Any] | Sequence[Any] | None


@dataclass(frozen=True)
class Deferred:
    statement: str
    params: Params


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deferred: list[Deferred] = []
        self._deferred_marks: dict[str, int] = {}

    def defer(self, statement: str, params: Params = None) -> None:
        """Run `statement` just before this transaction commits (see the module's doc)."""
        if self.get_autocommit():
            raise RuntimeError("statements can be deferred only inside a transaction")
        self.deferred.append(Deferred(statement, params))

    def run_deferred(self) -> None:
        """Run the queued statements now (in a pipeline: one round trip)."""
        if not self.deferred:
            return
        queued, self.deferred = self.deferred, []
        with self.wrap_database_errors, self.connection.pipeline(), psycopg.Cursor(self.connection) as cursor:
            _execute(cursor, queued)

    def _commit(self) -> None:
        if self.connection is None or not self.deferred:
            super()._commit()
            return
        queued, self.deferred = self.deferred, []
        self._deferred_marks.clear()
        with debug_transaction(self, "COMMIT"), self.wrap_database_errors, self.connection.pipeline():
            with psycopg.Cursor(self.connection) as cursor:
                _execute(cursor, queued)
            self.connection.commit()

    def _rollback(self) -> None:
        self.deferred = []
        self._deferred_marks.clear()
        super()._rollback()

    def _close(self) -> None:
        self.deferred = []
        self._deferred_marks.clear()
        super()._close()

    def _savepoint(self, sid: str) -> None:
        self._deferred_marks[sid] = len(self.deferred)
        super()._savepoint(sid)

    def _savepoint_rollback(self, sid: str) -> None:
        del self.deferred[self._deferred_marks.pop(sid, len(self.deferred)):]
        super()._savepoint_rollback(sid)

    def _savepoint_commit(self, sid: str) -> None:
        self._deferred_marks.pop(sid, None)
        self.run_deferred()
        super()._savepoint_commit(sid)


def _execute(cursor: Any, queued: list[Deferred]) -> None:
    for item in queued:
        cursor.execute(item.statement, item.params, prepare=True)
