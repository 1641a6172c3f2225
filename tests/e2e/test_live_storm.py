"""A reconnect storm against a real web process: hundreds of streams of many users opened at
once (as after a restart), half of them resuming from a cursor, with a real relay.

The full-size figures (10,000 streams) come from `python -m bench.live --storm`
(docs/live.md); this is the size CI affords, with the same client.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from bench.live import make_sessions, pings, publish
from bench.storm import AsyncStream, open_all, wait_for_watched
from core.accounts.models import Tenant
from tests.helpers.processes import Process, processes, start_relay, start_web

pytestmark = pytest.mark.usefixtures("outbox_db")

POOL_MAX = 16  # FERRY_DB_POOL_MAX's default: the web process's connections


@dataclass(frozen=True)
class Stack:
    url: str
    web: Process


@pytest.fixture(scope="module")
def stack(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp("storm")
    web, url = start_web(log_dir, LIVE_POLL_INTERVAL_S="1")
    relay = start_relay(log_dir)
    with processes(web, relay):
        yield Stack(url, web)


def threads_of(pid: int) -> int:
    return len(os.listdir(Path("/proc") / str(pid) / "task"))


def web_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ferry-web' "
                       "AND datname = current_database()")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def test_a_storm_of_500_streams_opens_replays_in_order_and_keeps_agencies_apart(
        stack: Stack, harbor: Tenant, northside: Tenant) -> None:
    harbor_sessions = make_sessions(harbor.pk, 100)  # four streams each
    northside_sessions = make_sessions(northside.pk, 20, prefix="bench-live-north-")  # five each
    missed = [f"missed-{n}" for n in range(40)]
    replay_from = publish(harbor.pk, ["replay-from", *missed])
    threads_before = threads_of(stack.web.pid)
    harbor_streams = [AsyncStream(stack.url, f"sessionid={harbor_sessions[n % 100]}",
                                  last_event_id=replay_from if n % 2 else None) for n in range(400)]
    northside_streams = [AsyncStream(stack.url, f"sessionid={northside_sessions[n % 20]}") for n in range(100)]

    async def storm() -> tuple[int, int]:
        await open_all(harbor_streams + northside_streams, timeout=60)
        await asyncio.sleep(0.5)
        during = threads_of(stack.web.pid), await asyncio.to_thread(web_connections)
        for stream in harbor_streams + northside_streams:
            stream.watch = "to-harbor" if stream in harbor_streams else "to-northside"
        await asyncio.to_thread(publish, harbor.pk, ["to-harbor"])
        await asyncio.to_thread(publish, northside.pk, ["to-northside"])
        await wait_for_watched(harbor_streams + northside_streams, 30)
        await asyncio.sleep(0.5)  # anything that should not arrive would by now
        for stream in harbor_streams + northside_streams:
            stream.close()
        return during

    threads, connections = asyncio.run(storm())
    statuses = {s.status for s in harbor_streams + northside_streams}
    assert statuses == {200}, [(s.status, s.body[:200], s.error) for s in harbor_streams if s.status != 200][:5]
    assert threads - threads_before <= 10, f"{threads_before} threads before the storm, {threads} during"
    assert connections <= POOL_MAX
    for stream in harbor_streams:
        expected = [*missed, "to-harbor"] if stream.last_event_id else ["to-harbor"]
        assert pings(stream) == expected  # the replay complete, in order, then live; nothing of Northside
    for stream in northside_streams:
        assert pings(stream) == ["to-northside"]


def test_the_ninth_stream_of_one_user_is_refused_with_429_and_others_still_open(
        stack: Stack, harbor: Tenant) -> None:
    mine, other = make_sessions(harbor.pk, 2, prefix="bench-live-cap-")

    async def open_streams() -> tuple[list[int], dict[str, str], int]:
        eight = [AsyncStream(stack.url, f"sessionid={mine}") for _ in range(8)]
        await open_all(eight)
        ninth, elsewhere = AsyncStream(stack.url, f"sessionid={mine}"), AsyncStream(stack.url, f"sessionid={other}")
        await open_all([ninth, elsewhere])
        for stream in [*eight, elsewhere]:
            stream.close()
        return [s.status for s in [*eight, ninth]], ninth.headers, elsewhere.status

    statuses, refused_headers, elsewhere = asyncio.run(open_streams())
    assert statuses == [200] * 8 + [429]
    assert refused_headers["retry-after"] == "30"
    assert elsewhere == 200
