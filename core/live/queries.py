"""The live stream's SQL: where "now" is, and a user's channels after a cursor.

Both follow the commit-safe order of outbox/reader.py: events sort by (txid, id), and a
read returns only events of transactions below a horizon such that every transaction of
this database below it has finished as of the statement's own snapshot. No event can then
appear later before a cursor already passed: one that commits late with a smaller id is
read after, never skipped.

The horizon differs from read_after's (the snapshot's xmin) in one way: transactions of
*other databases* on the same server are ignored. They cannot write our outbox, yet xmin
counts them, so a long transaction anywhere on the server (a migration, a benchmark,
another application) would stall every live stream until it ended (ADR 0009).
"""

from __future__ import annotations

# The first transaction id that may still add events to this database's outbox, as of the
# statement's snapshot: the oldest transaction the snapshot sees running (pg_snapshot_xip:
# 64-bit ids), unless pg_stat_activity shows it belongs to another database (backend_xid:
# the same id's low 32 bits); the snapshot's xmax if none is left. A transaction missing from
# pg_stat_activity (it ended just now, or it is prepared) is kept: a later read sees it.
_HORIZON = """(
    SELECT least(pg_snapshot_xmax(pg_current_snapshot())::text::bigint, min(running::text::bigint))
    FROM pg_snapshot_xip(pg_current_snapshot()) AS running
    WHERE NOT EXISTS (
        SELECT FROM pg_stat_activity AS elsewhere
        WHERE elsewhere.datname <> current_database()
          AND elsewhere.backend_xid::text::bigint = mod(running::text::bigint, 4294967296))
)"""

# The current position: every event below the horizon is at or before (horizon - 1, max id),
# and every event still to commit comes after it. A stream that starts here replays nothing.
HORIZON = f"SELECT {_HORIZON} - 1"

# Events of some channels after a cursor, oldest first. From outbox_log, the view over the
# hot table and the history: pub/sub events complete when published and move to the history
# within about a second, and a reconnecting browser may ask for hours of them. The partial
# indexes on (channel, txid, id) of both tables serve it. Channel names carry their tenant
# (core/channels.py), so the channels are the tenant filter. The payload comes as text:
# Django's connections hand jsonb over as text (for JSONField), so it is decoded once, in Python.
READ_CHANNELS_AFTER = f"""
SELECT id, txid, event_id::text, tenant_id, event_type, aggregate_type, aggregate_id, payload::text, channel,
       created_at
FROM outbox_log
WHERE channel = ANY(%(channels)s)
  AND (txid, id) > (%(txid)s, %(id)s)
  AND txid < {_HORIZON}
ORDER BY txid, id
LIMIT %(limit)s
"""  # noqa: S608 - composed only from constants
