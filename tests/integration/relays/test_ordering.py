"""Ordering keys: one key's events are relayed one at a time in commit order, other keys go on
in parallel, and a dead event holds its key or lets it pass as it was emitted to."""

from __future__ import annotations

import threading

import pytest
import redis
from django.db import connection, transaction

from outbox import delivery
from outbox.emit import emit
from outbox.models import DeadLetter, OutboxEvent
from relays.relay import Relay
from tests.helpers.outbox import emit_effect, queued_keys

pytestmark = pytest.mark.usefixtures("outbox_db")


def complete(outbox_id: int) -> None:
    """The consumer's effect commits (as OutboxTask does: completion in its transaction)."""
    with transaction.atomic():
        delivery.complete(outbox_id)


def kill(outbox_id: int) -> DeadLetter:
    delivery.kill(outbox_id, "RuntimeError: gave up", "")
    return DeadLetter.objects.get(outbox_id=outbox_id)


def key_row(key: str) -> tuple[int, int] | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_seq, done_seq FROM outbox_key WHERE ordering_key = %s", [key])
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def test_one_keys_events_go_one_at_a_time_in_order_and_other_keys_in_parallel(
        relay: Relay, broker: redis.Redis) -> None:
    first, second = emit_effect("a1", ordering_key="content:1"), emit_effect("a2", ordering_key="content:1")
    emit_effect("b1", ordering_key="content:2")
    emit_effect("plain")
    relay.relay_batch()
    assert sorted(queued_keys(broker)) == ["a1", "b1", "plain"]  # a2 waits for a1
    assert relay.relay_batch() == 0
    complete(first)
    assert relay.relay_batch() == 1
    assert queued_keys(broker)[-1] == "a2"
    assert [OutboxEvent.objects.get(id=i).key_seq for i in (first, second)] == [1, 2]


def test_the_sequence_of_a_key_is_the_commit_order_of_its_transactions(relay: Relay, broker: redis.Redis) -> None:
    # Two transactions emit for one key; the one that commits first is first, whatever their start.
    started, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with transaction.atomic():
            emit("test.effect_requested", aggregate_type="test", aggregate_id="slow", payload={"key": "slow"},
                 task="tests.record_effect", tenant_id=None, ordering_key="visit:7")
            started.set()
            release.wait(5)
        connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert started.wait(5)
    emit_effect("fast", ordering_key="visit:7")  # queued at commit: takes the key's row first
    release.set()
    writer.join()
    relay.relay_batch()
    assert queued_keys(broker) == ["fast"]
    complete(OutboxEvent.objects.get(aggregate_id="fast").id)
    relay.relay_batch()
    assert queued_keys(broker) == ["fast", "slow"]


def test_a_dead_event_that_holds_its_key_stops_it_until_redriven(relay: Relay, broker: redis.Redis) -> None:
    first = emit_effect("h1", ordering_key="content:3")
    second = emit_effect("h2", ordering_key="content:3")
    relay.relay_batch()
    letter = kill(first)
    assert relay.relay_batch() == 0  # h2 is held behind the dead h1
    assert OutboxEvent.objects.get(id=second).status == "pending"
    assert delivery.redrive([letter.id], actor_id=None) == 1
    assert relay.relay_batch() == 1
    assert queued_keys(broker) == ["h1", "h1"]  # h1 again, still before h2
    complete(first)
    assert relay.relay_batch() == 1
    assert queued_keys(broker)[-1] == "h2"


def test_a_dead_event_that_lets_its_key_pass_goes_out_unordered_when_redriven(
        relay: Relay, broker: redis.Redis) -> None:
    first = emit_effect("p1", ordering_key="content:4", if_dead="pass")
    emit_effect("p2", ordering_key="content:4", if_dead="pass")
    relay.relay_batch()
    letter = kill(first)
    assert relay.relay_batch() == 1  # p2 goes on without p1
    assert queued_keys(broker) == ["p1", "p2"]
    assert delivery.redrive([letter.id], actor_id=None) == 1
    assert OutboxEvent.objects.get(id=first).key_seq is None  # no longer ordered: its turn has passed
    assert relay.relay_batch() == 1
    assert queued_keys(broker)[-1] == "p1"


def test_an_event_the_sweep_kills_lets_its_key_pass_only_if_it_was_emitted_to(relay: Relay) -> None:
    passing = emit_effect("s1", ordering_key="content:5", if_dead="pass")
    emit_effect("s2", ordering_key="content:5", if_dead="pass")
    holding = emit_effect("t1", ordering_key="content:6")
    emit_effect("t2", ordering_key="content:6")
    relay.relay_batch()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE outbox_event SET redeliver_at = now() - interval '1 second' WHERE status = 'relayed'")
    assert delivery.sweep_stalled(max_deliveries=1).dead == 2
    assert {OutboxEvent.objects.get(id=i).status for i in (passing, holding)} == {"dead"}
    assert key_row("content:5") == (2, 1)
    assert key_row("content:6") == (2, 0)
    assert relay.relay_batch() == 1  # s2 only


def test_completing_a_keyed_event_wakes_an_idle_relay_for_the_next(relay: Relay) -> None:
    first = emit_effect("w1", ordering_key="content:8")
    emit_effect("w2", ordering_key="content:8")
    relay.relay_batch()
    woken = threading.Event()

    def wait() -> None:
        relay.wait_for_work()
        woken.set()

    waiter = threading.Thread(target=wait)
    waiter.start()
    assert not woken.wait(0.5)  # idle: nothing of w2's key may go yet (it polls only every 2 s)
    complete(first)
    assert woken.wait(0.8), "the completion did not wake the relay"
    waiter.join(5)


def test_the_mover_forgets_settled_keys_and_a_key_used_again_starts_over(relay: Relay) -> None:
    done = emit_effect("d1", ordering_key="content:9")
    emit_effect("u1", ordering_key="content:10")
    relay.relay_batch()
    complete(done)
    relay.move_completed()
    assert key_row("content:9") is None
    assert key_row("content:10") == (1, 0)  # its event is in flight
    again = emit_effect("d2", ordering_key="content:9")
    assert OutboxEvent.objects.get(id=again).key_seq == 1


def test_a_bad_ordering_key_or_policy_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="ordering_key"):
        emit_effect("x", ordering_key="")
    with pytest.raises(ValueError, match="if_dead"):
        emit_effect("x", ordering_key="k", if_dead="skip")
    assert not OutboxEvent.objects.exists()

