"""Positions in commit-safe outbox order, and the doorbell the relay rings with them."""

from __future__ import annotations

import pytest

from outbox import doorbell
from outbox.reader import MAX_ID, START, Cursor, InvalidCursor


def test_a_cursor_reads_back_its_own_text() -> None:
    cursor = Cursor(918273, 42)
    assert str(cursor) == "918273-42"
    assert Cursor.parse(" 918273-42 ") == cursor


def test_cursors_order_by_transaction_first_then_id() -> None:
    late_small_id, early_large_id = Cursor(901, 5), Cursor(900, 77)
    assert sorted([late_small_id, early_large_id, START]) == [START, early_large_id, late_small_id]
    assert Cursor(900, MAX_ID) > Cursor(900, 10**12)


@pytest.mark.parametrize("text", ["", "12", "a-b", "1-2-3", "-1-2", "1-" + "9" * 20, "1_2"])
def test_malformed_cursors_are_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursor.parse(text)


def test_the_doorbell_carries_the_cursor_and_nothing_else() -> None:
    message = doorbell.ring(Cursor(7, 8))
    assert message == b'{"cursor":"7-8"}'
    assert doorbell.cursor_in(message) == Cursor(7, 8)


@pytest.mark.parametrize("data", [b"not json", b"{}", b'{"cursor": "x"}', None, b'["7-8"]'])
def test_an_unreadable_doorbell_has_no_cursor(data: object) -> None:
    assert doorbell.cursor_in(data) is None
