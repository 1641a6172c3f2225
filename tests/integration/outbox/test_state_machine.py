"""At-least-once end to end, under any interleaving of commits, crashes, flushes and sweeps.

A hypothesis state machine drives the real pieces in-process (emit, the relay, Redis, the
consumer base class) against the real database and Redis. At quiescence every committed
change has exactly one effect (the inbox absorbed every duplicate), no rolled-back change has
any, and the changes emitted with an ordering key took effect in the order they committed,
although workers take messages from either end of the queue and some consumers fail first.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from core.config.celery import app
from core.platform.db import conninfo
from outbox.consumers import ENVELOPE_HEADER
from outbox.delivery import sweep_stalled
from outbox.emit import emit
from relays.relay import Relay, RelayConfig
from tests.support.models import Effect


class RelayCrashed(Exception):
    """The relay died after publishing, before committing."""


class CrashingRelay(Relay):
    def _publish(self, events: Any, messages: Any) -> None:
        super()._publish(events, messages)
        raise RelayCrashed


def reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE outbox_event, outbox_history, outbox_inbox, outbox_attempt, outbox_deadletter, "
                       "outbox_key, support_effect")


def execute(raw: bytes) -> None:
    """What a worker does with one message from the queue."""
    envelope = json.loads(raw)
    headers = envelope["headers"]
    _args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
    app.tasks[headers["task"]].apply(kwargs=kwargs, task_id=headers["id"],
                                     headers={ENVELOPE_HEADER: headers[ENVELOPE_HEADER]})


class OutboxMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        reset()
        self.broker = redis.Redis.from_url(settings.REDIS_BROKER_URL)
        self.broker.flushdb()
        config = RelayConfig(batch_size=3)
        self.relay = Relay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL, config)
        self.crashing = CrashingRelay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL, config)
        self.committed: set[str] = set()
        self.rolled_back: set[str] = set()
        self.order: dict[str, list[str]] = {}  # per ordering key, the changes in commit order
        self.count = 0

    def _key(self) -> str:
        self.count += 1
        return f"k{self.count}"

    @rule(ordering=st.sampled_from([None, "visit:1", "visit:2"]), fails_first=st.booleans())
    def commit_change(self, ordering: str | None, fails_first: bool) -> None:
        key = self._key()
        with transaction.atomic():
            emit("test.effect_requested", aggregate_type="test", aggregate_id=key,
                 payload={"key": key, "fail_attempts": int(fails_first)}, task="tests.record_effect",
                 tenant_id=None, ordering_key=ordering)
        self.committed.add(key)
        if ordering is not None:
            self.order.setdefault(ordering, []).append(key)

    @rule()
    def roll_back_change(self) -> None:
        key = self._key()
        try:
            with transaction.atomic():
                emit("test.effect_requested", aggregate_type="test", aggregate_id=key, payload={"key": key},
                     task="tests.record_effect", tenant_id=None)
                raise RuntimeError("the state change failed")
        except RuntimeError:
            self.rolled_back.add(key)

    @rule()
    def relay_step(self) -> None:
        self.relay.relay_batch()

    @rule()
    def relay_crashes_between_publish_and_commit(self) -> None:
        try:
            self.crashing.relay_batch()
        except RelayCrashed:
            # The process died: its connection (and transaction) go with it.
            self.crashing.close()
            self.crashing = CrashingRelay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL,
                                          RelayConfig(batch_size=3))

    @rule()
    def redis_is_flushed(self) -> None:
        self.broker.flushdb()

    @precondition(lambda self: self.broker.llen("default") > 0)
    @rule()
    def worker_runs_a_task(self) -> None:
        raw = self.broker.rpop("default")
        if raw is not None:
            execute(raw)  # type: ignore[arg-type]

    @precondition(lambda self: self.broker.llen("default") > 0)
    @rule()
    def another_worker_runs_the_newest_task(self) -> None:
        raw = self.broker.lpop("default")
        if raw is not None:
            execute(raw)  # type: ignore[arg-type]

    @rule()
    def time_passes_and_retries_fall_due(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE outbox_event SET available_at = now() WHERE status = 'pending'")

    @precondition(lambda self: self.broker.llen("default") > 0)
    @rule()
    def worker_dies_before_the_task_runs(self) -> None:
        self.broker.rpop("default")  # the message is gone with the worker

    @precondition(lambda self: self.broker.llen("default") > 0)
    @rule()
    def worker_dies_after_the_effect_before_the_ack(self) -> None:
        raw = self.broker.rpop("default")
        if raw is not None:
            execute(raw)  # type: ignore[arg-type]
            self.broker.lpush("default", raw)  # type: ignore[arg-type]  # redelivered: never acknowledged

    @rule()
    def sweep_runs(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE outbox_event SET redeliver_at = now() WHERE status = 'relayed'")
        sweep_stalled()

    def quiesce(self) -> None:
        """Stop the faults; let the relay, the workers and the sweep finish everything."""
        for _ in range(200):
            while self.relay.relay_batch():
                pass
            while (raw := self.broker.rpop("default")) is not None:
                execute(raw)  # type: ignore[arg-type]
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM outbox_event WHERE status IN ('pending', 'relayed')")
                if cursor.fetchone()[0] == 0:
                    return
            self.time_passes_and_retries_fall_due()
            self.sweep_runs()
        raise AssertionError("the system did not quiesce")

    def teardown(self) -> None:
        try:
            self.quiesce()
            effects: dict[str, int] = {}
            for key in Effect.objects.values_list("key", flat=True):
                effects[key] = effects.get(key, 0) + 1
            assert set(effects) == self.committed, "a committed change lost its effect, or a ghost appeared"
            assert all(count == 1 for count in effects.values()), f"duplicate effects: {effects}"
            assert not set(effects) & self.rolled_back
            in_effect_order = list(Effect.objects.order_by("id").values_list("key", flat=True))
            for ordering, keys in self.order.items():
                taken = [key for key in in_effect_order if key in set(keys)]
                assert taken == keys, f"{ordering}: committed {keys}, took effect {taken}"
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM outbox_inbox")
                assert cursor.fetchone()[0] == len(self.committed)
        finally:
            self.relay.close()
            self.crashing.close()
            self.broker.close()


@pytest.mark.usefixtures("outbox_db")
def test_every_committed_change_takes_effect_exactly_once_and_in_order_per_key_whatever_fails() -> None:
    run_state_machine_as_test(OutboxMachine, settings=hsettings(
        max_examples=int(os.environ.get("FERRY_STATEFUL_EXAMPLES", "30")), stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
