"""The one place an event becomes the browser's SSE message (core/live/events.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from core.live.events import frame_of, live_event
from core.live.hub import tenant_of
from outbox.reader import ChannelEvent, Cursor


def event(**overrides: object) -> ChannelEvent:
    fields = {"id": 77, "txid": 9001, "event_id": "3f2b6e1c-0a4e-4c7e-9a51-1b8e6c0f5d21", "tenant_id": 7,
              "event_type": "schedule.optimized", "aggregate_type": "route_plan", "aggregate_id": "12",
              "payload": {"version": 3, "note": "line\nbreak"}, "channel": "tenant:7:events",
              "created_at": datetime(2026, 3, 10, 9, 0, tzinfo=timezone(timedelta(hours=-5)))}
    return ChannelEvent(**{**fields, **overrides})  # type: ignore[arg-type]


def test_the_frame_names_its_cursor_and_carries_one_line_of_json() -> None:
    frame = frame_of(event()).decode()
    id_line, data_line, blank, end = frame.split("\n")
    assert id_line == "id: 9001-77"
    assert (blank, end) == ("", "")
    message = json.loads(data_line.removeprefix("data: "))
    assert message == {"cursor": "9001-77", "event_id": "3f2b6e1c-0a4e-4c7e-9a51-1b8e6c0f5d21", "tenant_id": 7,
                       "type": "schedule.optimized", "aggregate": {"type": "route_plan", "id": "12"},
                       "payload": {"version": 3, "note": "line\nbreak"}, "created_at": "2026-03-10T14:00:00+00:00"}


def test_a_live_event_keeps_its_cursor_and_channel_for_the_hub() -> None:
    live = live_event(event())
    assert (live.cursor, live.channel) == (Cursor(9001, 77), "tenant:7:events")


def test_the_hub_reads_the_tenant_from_a_channel_name() -> None:
    assert tenant_of("tenant:7:user:70:events") == 7
    assert tenant_of("platform:ops:events") is None
    assert tenant_of("tenant:x:events") is None
