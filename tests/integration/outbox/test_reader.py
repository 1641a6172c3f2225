"""Reading "everything after cursor X" never skips an event that committed late."""

from __future__ import annotations

import psycopg
import pytest

from core.platform.db import conninfo
from outbox.reader import START, Cursor, InvalidCursor, cursor_of, read_after
from tests.helpers.web import emit_on

pytestmark = pytest.mark.usefixtures("outbox_db")

CHANNEL = "tenant:77:events"


def emit_sql(connection: psycopg.Connection, seq: int) -> int:
    """Write an event in the connection's open transaction, now; its id."""
    return emit_on(connection, CHANNEL, str(seq), 77)


def test_an_event_that_commits_after_a_later_id_is_still_read_after_the_cursor() -> None:
    with psycopg.connect(**conninfo()) as first, psycopg.connect(**conninfo()) as second:
        early_id = emit_sql(first, 1)   # takes the smaller id, commits last
        late_id = emit_sql(second, 2)
        second.commit()
        assert early_id < late_id

        seen = read_after(START, channels=[CHANNEL])
        # The open transaction holds the horizon: nothing after it is handed out yet.
        assert [e.id for e in seen] == []

        first.commit()
        seen = read_after(START, channels=[CHANNEL])
        assert sorted(e.id for e in seen) == [early_id, late_id]
        # Resuming from the last cursor returns nothing twice.
        assert read_after(cursor_of(seen[-1]), channels=[CHANNEL]) == []


def test_a_reader_that_saw_the_later_commit_first_still_gets_the_earlier_id_exactly_once() -> None:
    with psycopg.connect(**conninfo()) as slow, psycopg.connect(**conninfo()) as fast:
        slow_id = emit_sql(slow, 1)
        fast.commit()  # nothing yet
        fast_id = emit_sql(fast, 2)
        fast.commit()
        before = read_after(START, channels=[CHANNEL])
        cursor = cursor_of(before[-1]) if before else START
        slow.commit()
        after = read_after(cursor, channels=[CHANNEL])
        delivered = [e.id for e in before] + [e.id for e in after]
        assert sorted(delivered) == sorted([slow_id, fast_id])
        assert len(delivered) == len(set(delivered))


def test_read_after_keeps_to_its_channels_and_tenant() -> None:
    with psycopg.connect(**conninfo()) as connection:
        emit_sql(connection, 1)
        connection.commit()
    assert len(read_after(START, channels=[CHANNEL])) == 1
    assert read_after(START, channels=["tenant:78:events"]) == []
    assert read_after(START, tenant_id=78) == []
    assert len(read_after(START, tenant_id=77)) == 1


def test_cursors_round_trip_and_bad_ones_are_refused() -> None:
    assert Cursor.parse(str(Cursor(12, 34))) == Cursor(12, 34)
    for bad in ("", "12", "a-b", "-1-2", "1-2-3", "9" * 30 + "-1"):
        with pytest.raises(InvalidCursor):
            Cursor.parse(bad)
