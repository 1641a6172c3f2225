"""The read audit's SQL, by name (adr/0017-read-audit.md).

The statements run as server-side prepared statements (core.platform.db.run_prepared): on the
hot path of every patient page they cost one round trip and no parse or plan. Their
parameters are cast, so the server knows their types whatever the client sends.

A page reads in autocommit, so the statement is its own transaction, and it commits like any
other: a read record is as durable as the data it audits (adr/0017-read-audit.md weighs the
0.15 ms that waiting for the WAL flush costs).
"""

from __future__ import annotations

from psycopg import sql

_COLUMNS = sql.SQL("tenant_id, user_id, kind, subject, visit_ids, request_id, client_address")
_VALUES = sql.SQL("%(tenant_id)s::bigint, %(user_id)s::bigint, %(kind)s::text, %(subject)s::text, "
                  "%(visit_ids)s::bigint[], %(request_id)s::text, %(address)s::text")

# One page view or API call: one row. No read first, no other table touched.
_RECORD_READ = sql.SQL("""
INSERT INTO privacy_patientread (at, last_at, repeats, {columns})
SELECT now(), now(), 1, {values}
RETURNING id
""")

# A re-fetch (the live board): the first of its window inserts the row, the next ones of the
# same user, day and address fold into it (the partial unique index privacy_read_refetch_window
# is the arbiter, so two re-fetches at once cannot both insert). The visits shown are usually
# the same list (sorted on both sides), which the equality test settles without unnesting; a
# changed day adds the new ids to the union, so "who saw visit X" stays complete.
_RECORD_REFETCH = sql.SQL("""
INSERT INTO privacy_patientread AS r (at, last_at, repeats, window_start, {columns})
SELECT now(), now(), 1,
       date_bin(make_interval(secs => %(window_s)s::integer), now(), timestamptz '2000-01-01 00:00:00+00'),
       {values}
ON CONFLICT (user_id, subject, client_address, window_start) WHERE kind = 'day_board'
DO UPDATE SET last_at = excluded.at, repeats = r.repeats + 1,
              visit_ids = CASE WHEN r.visit_ids = excluded.visit_ids THEN r.visit_ids
                               ELSE ARRAY(SELECT DISTINCT v FROM unnest(r.visit_ids || excluded.visit_ids) v ORDER BY v)
                          END
RETURNING id
""")


RECORD_READ = _RECORD_READ.format(columns=_COLUMNS, values=_VALUES).as_string()
RECORD_REFETCH = _RECORD_REFETCH.format(columns=_COLUMNS, values=_VALUES).as_string()
