"""The live stream served by a real web process, fed by a real relay through Redis.

Harbor's Alice and Bob, Northside's Carol: each sees their agency's channel and their own,
and nothing else; a reconnecting browser gets what it missed, once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bench.sse import Stream
from core.accounts.models import Tenant, User
from core.platform.channels import tenant_channel, user_channel
from tests.helpers.people import make_user
from tests.helpers.processes import Process, processes, start_relay, start_web
from tests.helpers.web import (
    agency,
    announce,
    cookies_of,
    cursor_of,
    emit_on,
    label,
    messages_until,
    next_messages,
    open_stream,
    open_transaction,
    wait_relayed,
)

pytestmark = pytest.mark.usefixtures("outbox_db")


@dataclass(frozen=True)
class Stack:
    url: str
    web: Process


@pytest.fixture(scope="module")
def stack(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One web process and one relay for the whole module (starting them costs seconds)."""
    log_dir = tmp_path_factory.mktemp("live")
    web, url = start_web(log_dir, LIVE_KEEPALIVE_S="1", LIVE_POLL_INTERVAL_S="1")
    relay = start_relay(log_dir)
    with processes(web, relay):
        yield Stack(url, web)


def test_strangers_get_401_and_users_without_an_agency_role_403(stack: Stack, harbor: Tenant) -> None:
    anonymous = Stream(stack.url)
    assert anonymous.status == 401
    anonymous.close()
    for user in (make_user("nobody", harbor), make_user("staff", None)):
        refused = Stream(stack.url, cookies=cookies_of(user))
        assert refused.status == 403
        refused.close()


def test_a_malformed_last_event_id_is_a_400_naming_it(stack: Stack, alice: User) -> None:
    stream = Stream(stack.url, cookies=cookies_of(alice), last_event_id="yesterday")
    assert stream.status == 400
    assert b'"field": "Last-Event-ID"' in stream.body()


def test_a_connected_client_receives_the_relayed_event_with_its_cursor_as_id(stack: Stack, alice: User) -> None:
    stream = open_stream(stack.url, cookies_of(alice))
    event = announce(tenant_channel(agency(alice)), "hello", agency(alice))
    (message,) = next_messages(stream, 1)
    assert (message["type"], message["payload"]) == ("test.happened", {"label": "hello"})
    assert message["cursor"] == f"{event.txid}-{event.id}" == stream.last_id
    stream.close()


def test_a_client_offline_during_a_publish_gets_it_exactly_once_on_reconnecting(stack: Stack, alice: User) -> None:
    cookies, channel = cookies_of(alice), tenant_channel(agency(alice))
    stream = open_stream(stack.url, cookies)
    resume_from = stream.last_id  # the position the stream gave it before any event
    assert resume_from is not None
    stream.close()
    wait_relayed(announce(channel, "while away", agency(alice)))  # published to nobody
    back = open_stream(stack.url, cookies, last_event_id=resume_from)
    assert [label(m) for m in next_messages(back, 1)] == ["while away"]
    live = announce(channel, "after", agency(alice))
    assert messages_until(back, "after") == ["after"]  # no second "while away" at the switch
    assert back.last_id == f"{live.txid}-{live.id}"
    back.close()


def test_events_committed_out_of_id_order_reach_live_and_reconnecting_clients_once(stack: Stack,
                                                                                   alice: User) -> None:
    cookies, channel = cookies_of(alice), tenant_channel(agency(alice))
    connected = open_stream(stack.url, cookies)
    before_both = open_stream(stack.url, cookies)
    older_id = before_both.last_id
    before_both.close()
    with open_transaction() as b, open_transaction() as a:  # B takes its transaction id first
        id_a = emit_on(a, channel, "A", agency(alice))  # A: the smaller id...
        id_b = emit_on(b, channel, "B", agency(alice))
        assert id_a < id_b
        b.commit()
        assert [label(m) for m in next_messages(connected, 1)] == ["B"]
        saw_b = open_stream(stack.url, cookies, last_event_id=cursor_of(id_b))
        a.commit()  # ...committed last
    assert [label(m) for m in next_messages(connected, 1)] == ["A"]
    assert [label(m) for m in next_messages(saw_b, 1)] == ["A"]
    # A client that saw neither reconnects with its older id: B then A (commit-safe order).
    from_older = open_stream(stack.url, cookies, last_event_id=older_id)
    assert [label(m) for m in next_messages(from_older, 2)] == ["B", "A"]
    announce(channel, "end", agency(alice))
    for stream in (connected, saw_b, from_older):
        assert messages_until(stream, "end") == ["end"]  # and neither of them a second time
        stream.close()


def test_a_user_never_receives_another_agencys_or_a_colleagues_own_events(stack: Stack, alice: User, bob: User,
                                                                          carol: User) -> None:
    harbor, northside = agency(alice), agency(carol)
    streams = {user.username: open_stream(stack.url, cookies_of(user)) for user in (alice, bob, carol)}
    for channel, text, tenant in [
        (tenant_channel(northside), "northside news", northside),
        (user_channel(northside, carol.pk), "for carol", northside),
        (user_channel(harbor, bob.pk), "for bob", harbor),
        (user_channel(harbor, alice.pk), "for alice", harbor),
        (tenant_channel(harbor), "harbor news", harbor),
        (tenant_channel(harbor), "end", harbor),
        (tenant_channel(northside), "end", northside),
    ]:
        announce(channel, text, tenant)
    received = {name: messages_until(stream, "end") for name, stream in streams.items()}
    assert received == {"alice": ["for alice", "harbor news", "end"], "bob": ["for bob", "harbor news", "end"],
                        "carol": ["northside news", "for carol", "end"]}
    for stream in streams.values():
        stream.close()


def test_a_replay_never_crosses_into_another_agency(stack: Stack, alice: User, carol: User) -> None:
    carol_stream = open_stream(stack.url, cookies_of(carol))
    start = carol_stream.last_id
    carol_stream.close()
    wait_relayed(announce(tenant_channel(agency(alice)), "harbor only", agency(alice)))
    wait_relayed(announce(tenant_channel(agency(carol)), "northside", agency(carol)))
    again = open_stream(stack.url, cookies_of(carol), last_event_id=start)
    assert [label(m) for m in next_messages(again, 1)] == ["northside"]
    again.close()


def test_an_event_whose_redis_message_was_lost_arrives_by_the_poll(stack: Stack, alice: User) -> None:
    stream = open_stream(stack.url, cookies_of(alice))
    with open_transaction() as writer:
        event_id = emit_on(writer, tenant_channel(agency(alice)), "lost", agency(alice))
        # As if the relay had published it and Redis had dropped the message.
        writer.execute("UPDATE outbox_event SET status = 'completed', completed_at = now() WHERE id = %s",
                       [event_id])
    # The poll runs every second here; the margin is for a machine busy with other tests.
    assert [label(m) for m in next_messages(stream, 1, timeout=30)] == ["lost"]
    stream.close()


def test_keep_alives_move_an_idle_streams_id_past_events_not_for_it(stack: Stack, alice: User, bob: User) -> None:
    alice_stream = open_stream(stack.url, cookies_of(alice))
    bob_stream = open_stream(stack.url, cookies_of(bob))  # puts Bob's own channel in the group
    for_bob = announce(user_channel(agency(bob), bob.pk), "for bob", agency(bob))
    next_messages(bob_stream, 1)
    deadline = time.monotonic() + 5
    while alice_stream.last_id != f"{for_bob.txid}-{for_bob.id}" and time.monotonic() < deadline:
        block = alice_stream.next_block(2)
        assert block is not None
        assert block.data is None  # Alice never receives Bob's event...
        assert block.comments == ("keep-alive",)
    assert alice_stream.last_id == f"{for_bob.txid}-{for_bob.id}"  # ...but resumes after it
    alice_stream.close()
    bob_stream.close()
