"""The live hub in-process against the real database and Redis: order, hand-over, isolation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest
import redis
from django.conf import settings

from core.live import events
from core.live.hub import OVERFLOW, Hub, HubConfig, Subscription, tenant_of
from core.live.stream import frames as _frames
from core.platform.channels import tenant_channel, user_channel
from core.platform.db import conninfo
from outbox import doorbell
from outbox.reader import Cursor
from relays.relay import Relay, RelayConfig
from tests.helpers.web import cursor_of, emit_on, open_transaction

pytestmark = pytest.mark.usefixtures("outbox_db")

T = TypeVar("T")
TENANT, OTHER_TENANT, USER, OTHER_USER = 7, 8, 70, 71
MINE = [tenant_channel(TENANT), user_channel(TENANT, USER)]


def publish(channel: str, label: str, tenant_id: int = TENANT) -> int:
    with psycopg.connect(**conninfo()) as connection:
        return emit_on(connection, channel, label, tenant_id)


def run(test: Callable[[Hub], Awaitable[T]], **config: Any) -> T:
    async def main() -> T:
        hub = Hub(HubConfig(**{"poll_interval_s": 0.05, "debounce_s": 0, **config}))
        try:
            return await test(hub)
        finally:
            await hub.close()

    return asyncio.run(main())


async def labels(subscription: Subscription, count: int, timeout: float = 5) -> list[str]:
    """The labels of the next `count` events the subscription receives."""
    found = []
    for _ in range(count):
        event = await asyncio.wait_for(subscription.queue.get(), timeout)
        assert event is not OVERFLOW
        found.append(json.loads(event.frame.decode().split("data: ", 1)[1])["aggregate"]["id"])
    return found


async def nothing_more(subscription: Subscription, wait: float = 0.3) -> bool:
    await asyncio.sleep(wait)
    return subscription.queue.empty()


async def blocking(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(function, *args)


def test_a_new_stream_gets_what_commits_after_it_joined_and_nothing_before() -> None:
    async def scenario(hub: Hub) -> list[str]:
        await blocking(publish, MINE[0], "before")
        subscription = await hub.subscribe(TENANT, MINE)
        await blocking(publish, MINE[0], "after")
        found = await labels(subscription, 1)
        assert await nothing_more(subscription)
        return found

    assert run(scenario) == ["after"]


def test_a_stream_gets_its_tenants_and_its_own_channel_only() -> None:
    async def scenario(hub: Hub) -> list[str]:
        subscription = await hub.subscribe(TENANT, MINE)
        neighbour = await hub.subscribe(TENANT, [tenant_channel(TENANT), user_channel(TENANT, OTHER_USER)])
        for channel, label, tenant in [
            (tenant_channel(OTHER_TENANT), "other agency", OTHER_TENANT),
            (user_channel(OTHER_TENANT, USER), "other agency's user", OTHER_TENANT),
            (user_channel(TENANT, OTHER_USER), "colleague's own", TENANT),
            (tenant_channel(TENANT), "agency news", TENANT),
            (user_channel(TENANT, USER), "mine", TENANT),
        ]:
            await blocking(publish, channel, label, tenant)
        assert await labels(neighbour, 2) == ["colleague's own", "agency news"]
        found = await labels(subscription, 2)
        assert await nothing_more(subscription)
        return found

    assert run(scenario) == ["agency news", "mine"]


def test_an_event_committed_late_with_a_smaller_id_is_delivered_after_not_skipped() -> None:
    async def scenario(hub: Hub) -> tuple[list[str], list[str], str]:
        subscription = await hub.subscribe(TENANT, MINE)
        with open_transaction() as b, open_transaction() as a:  # B took its transaction id first
            id_a = emit_on(a, MINE[0], "A", TENANT)  # the smaller id...
            id_b = emit_on(b, MINE[0], "B", TENANT)
            assert id_a < id_b
            b.commit()
            live_first = await labels(subscription, 1)  # B is readable: its txid is below A's
            a.commit()  # ...committed last
            live_second = await labels(subscription, 1)
        assert await nothing_more(subscription)
        cursor_b = await blocking(cursor_of, id_b)
        return live_first, live_second, cursor_b

    first, second, cursor_b = run(scenario)
    assert (first, second) == (["B"], ["A"])

    async def reconnect(hub: Hub) -> list[str]:
        return [label for chunk in await _stream_frames(hub, Cursor.parse(cursor_b), count=1)
                for label in _labels(chunk)]

    assert run(reconnect) == ["A"]  # the reader who saw B gets A on reconnecting, once


def test_an_event_of_a_younger_transaction_waits_for_the_older_one_to_end() -> None:
    async def scenario(hub: Hub) -> list[str]:
        subscription = await hub.subscribe(TENANT, MINE)
        with open_transaction() as a, open_transaction() as b:
            emit_on(a, MINE[0], "A", TENANT)
            emit_on(b, MINE[0], "B", TENANT)
            b.commit()
            assert await nothing_more(subscription, 0.5)  # B may not overtake A, which may still commit
            a.commit()
            return await labels(subscription, 2)

    assert run(scenario) == ["A", "B"]


def test_a_reconnecting_stream_replays_then_goes_live_without_gap_or_duplicate() -> None:
    async def scenario(hub: Hub) -> list[str]:
        watcher = await hub.subscribe(TENANT, MINE)  # keeps the group's cursor moving
        first = await blocking(publish, MINE[0], "1")
        for label in ("2", "3"):
            await blocking(publish, MINE[0], label)
        await labels(watcher, 3)
        resume_after = Cursor.parse(await blocking(cursor_of, first))
        stream = _frames(hub, TENANT, MINE, resume_after)
        chunks = [await anext(stream)]  # subscribed: from here on the group queues for it
        await blocking(publish, MINE[0], "4")
        chunks += [await asyncio.wait_for(anext(stream), 5) for _ in range(3)]
        await stream.aclose()
        return [label for chunk in chunks for label in _labels(chunk)]

    # The replay (2, 3) is one write; the id line hands over to the live events.
    assert run(scenario) == ["retry", "2", "3", "id", "4"]


def test_a_stream_without_last_event_id_starts_now_with_an_id_to_resume_from() -> None:
    async def scenario(hub: Hub) -> tuple[bytes, list[str]]:
        await blocking(publish, MINE[0], "old")
        stream = _frames(hub, TENANT, MINE, None)
        opening = await anext(stream)
        await blocking(publish, MINE[0], "new")
        live = _label(await asyncio.wait_for(anext(stream), 5))
        await stream.aclose()
        return opening, [live]

    opening, live = run(scenario)
    retry, position, end = opening.decode().split("\n", 2)
    assert (retry, end) == (f"retry: {settings.LIVE_RETRY_MS}", "\n")
    assert position.startswith("id: ")
    Cursor.parse(position[4:])
    assert live == ["new"]


def test_the_doorbell_wakes_the_group_long_before_its_poll() -> None:
    async def scenario(hub: Hub) -> list[str]:
        subscription = await hub.subscribe(TENANT, MINE)
        await asyncio.wait_for(hub.doorbell_connected.wait(), 5)
        event_id = await blocking(publish, MINE[0], "rung")
        client = redis.Redis.from_url(settings.REDIS_PUBSUB_URL)
        cursor = await blocking(cursor_of, event_id)
        client.publish(MINE[0], json.dumps({"cursor": cursor}))
        client.close()
        return await labels(subscription, 1, timeout=5)

    assert run(scenario, poll_interval_s=60, redis_url=settings.REDIS_PUBSUB_URL) == ["rung"]


def test_without_the_doorbell_the_poll_still_delivers() -> None:
    async def scenario(hub: Hub) -> list[str]:
        subscription = await hub.subscribe(TENANT, MINE)
        await blocking(publish, MINE[0], "quiet")
        return await labels(subscription, 1, timeout=5)

    assert run(scenario, poll_interval_s=0.5, redis_url=None) == ["quiet"]


def test_a_stream_too_far_behind_is_told_to_go_and_replay() -> None:
    async def scenario(hub: Hub) -> bool:
        subscription = await hub.subscribe(TENANT, MINE)
        for n in range(4):
            await blocking(publish, MINE[0], str(n))
        await asyncio.sleep(0.5)
        queued = [subscription.queue.get_nowait() for _ in range(subscription.queue.qsize())]
        return queued[-1] is OVERFLOW and len(queued) == 3

    assert run(scenario, queue_limit=2)


def test_the_last_stream_leaving_retires_its_group() -> None:
    async def scenario(hub: Hub) -> bool:
        subscription = await hub.subscribe(TENANT, MINE)
        group = subscription.group
        hub.unsubscribe(subscription)
        await asyncio.sleep(0.3)
        again = await hub.subscribe(TENANT, MINE)
        return group.closed and again.group is not group

    assert run(scenario)


def test_the_relay_rings_the_doorbell_at_the_cursor_of_the_event_the_stream_sends() -> None:
    subscriber = redis.Redis.from_url(settings.REDIS_PUBSUB_URL).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(MINE[0])
    event_id = publish(MINE[0], "same")
    relay = Relay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL, RelayConfig())
    assert relay.relay_batch() == 1
    relay.close()
    published = None
    for _ in range(50):
        published = subscriber.get_message(timeout=0.1)
        if published:
            break
    subscriber.close()
    assert published is not None
    (event,) = events.read_events(Cursor(0, 0), [MINE[0]], 10)
    sent = json.loads(event.frame.decode().split("data: ", 1)[1])
    assert doorbell.cursor_in(published["data"]) == event.cursor
    assert event.frame.startswith(f"id: {sent['cursor']}\n".encode())
    assert (sent["type"], sent["aggregate"], sent["payload"]) == ("test.happened", {"type": "test", "id": "same"},
                                                                   {"label": "same"})
    assert str(event.cursor).endswith(f"-{event_id}")


def test_fifty_streams_replaying_together_share_one_read_and_each_gets_its_own_events() -> None:
    users = list(range(100, 150))

    async def scenario(hub: Hub) -> tuple[int, list[list[str]]]:
        watcher = await hub.subscribe(TENANT, MINE)  # the group exists; its cursor follows the events
        first = await blocking(publish, tenant_channel(TENANT), "all-0")
        for user in users:  # one event on each user's own channel, between the agency's
            await blocking(publish, user_channel(TENANT, user), f"own-{user}")
        await blocking(publish, tenant_channel(TENANT), "all-1")
        await labels(watcher, 2)
        after = Cursor.parse(await blocking(cursor_of, first))
        streams = [_frames(hub, TENANT, [tenant_channel(TENANT), user_channel(TENANT, user)], after)
                   for user in users]
        chunks = await asyncio.gather(*(_first_chunks(stream, 2) for stream in streams))
        for stream in streams:
            await stream.aclose()
        return hub.shared_replays, [[label for chunk in mine[1:] for label in _labels(chunk)] for mine in chunks]

    shared, replays = run(scenario, replay_delay_s=0.05)
    assert shared == 1  # one read for all fifty
    assert replays == [[f"own-{user}", "all-1"] for user in users]  # each its own, in order, nobody else's


async def _first_chunks(stream: AsyncIterator[bytes], count: int) -> list[bytes]:
    return [await asyncio.wait_for(anext(stream), 5) for _ in range(count)]


def test_tenant_of_reads_the_channel_name() -> None:
    assert tenant_of("tenant:12:events") == 12
    assert tenant_of("tenant:12:user:3:events") == 12
    assert tenant_of("tenants:12:events") is None
    assert tenant_of("tenant:x:events") is None


async def _stream_frames(hub: Hub, last: Cursor, count: int) -> list[bytes]:
    """The event frames a reconnecting stream sends first (after its retry hint)."""
    stream = _frames(hub, TENANT, MINE, last)
    frames = [frame async for frame in _take(stream, count + 1)]
    await stream.aclose()
    return frames[1:]


async def _take(stream: AsyncIterator[bytes], count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield await asyncio.wait_for(anext(stream), 5)


def _labels(chunk: bytes) -> list[str]:
    """The labels of the frames in one written chunk (a replay page is written at once)."""
    return [_label(f"{frame}\n\n".encode()) for frame in chunk.decode().split("\n\n") if frame]


def _label(frame: bytes) -> str:
    text = frame.decode()
    if text.startswith("retry:"):
        return "retry"
    if "data: " not in text:
        return "id"
    return str(json.loads(text.split("data: ", 1)[1])["aggregate"]["id"])
