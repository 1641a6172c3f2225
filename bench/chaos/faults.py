"""Faults injected on a seeded schedule. The injector only breaks things: a process or server
that it kills is started again by the supervisor (bench/chaos/supervisor.py), a link it cuts it
puts back when the partition's time is up, a process it stops it continues. Each fault counts
only when its injection verifiably took place (the process was alive and is dead, the messages
were in Redis when it was flushed, the relay held claimed rows when it was stopped, the link
was down); one that did not is reported with the reason and counted as failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.chaos.topology import QUEUES, RELAYS, WORKERS, Topology, pid_alive

KINDS = (
    "relay_sigkill",          # a relay dies (claimed rows roll back or were published)
    "worker_sigkill",         # a worker and its pool die mid-task
    "workers_paused_flushall",  # workers stopped, queues fill, FLUSHALL drops every message
    "redis_sigkill",          # Redis dies with no persistence: everything in it is lost
    "postgres_sigkill",       # PostgreSQL dies: crash recovery on restart
    "relay_sigstop",          # a relay frozen holding claimed rows, then continued
    "cut_relay_redis",        # partitions: one link down for tens of seconds
    "cut_worker_postgres",
    "cut_web_redis",
    "isolate_relay",          # a relay host cut off from everything
)
# The quick run (CI): at least one partition and one worker-pause-then-flush.
QUICK_KINDS = ("workers_paused_flushall", "isolate_relay", "cut_worker_postgres", "postgres_sigkill",
               "redis_sigkill", "relay_sigstop")
CUTS = {"cut_relay_redis", "cut_worker_postgres", "cut_web_redis", "isolate_relay"}
DROPS = {"workers_paused_flushall", "redis_sigkill"}


class NotInjected(Exception):
    """The fault could not be injected as meant (nothing to drop, nothing held)."""


@dataclass
class Fault:
    kind: str
    at_s: float
    started: float = 0.0
    finished: float = 0.0
    injected: bool = False
    dropped: int = 0
    # The events whose task messages this fault removed from Redis (a message's id is its event's).
    lost_events: set[str] = field(default_factory=set)
    detail: str = ""
    # The work in the system when the fault struck: task messages queued, events in flight.
    queued: int = 0
    in_flight: int = 0


@dataclass(eq=False)  # a Thread must stay hashable
class Injector(threading.Thread):
    """Runs the schedule against the topology while the load runs."""

    topology: Topology
    schedule: list[Fault]
    rng: random.Random
    partition_s: float = 20.0
    stop: threading.Event = field(default_factory=threading.Event)
    done: list[Fault] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _clients: dict[int, redis.Redis] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(name="fault-injector", daemon=True)

    def run(self) -> None:
        try:
            self._inject_all()
        finally:
            for client in self._clients.values():
                client.close()

    def _inject_all(self) -> None:
        origin = time.monotonic()
        for fault in self.schedule:
            if self.stop.wait(max(0.0, origin + fault.at_s - time.monotonic())):
                return
            self._wait_for_servers()  # a fault strikes a running system, not one still restarting
            with contextlib.suppress(psycopg.Error, redis.exceptions.RedisError):
                fault.queued = self._wait_for_queued_work()
                fault.in_flight = self._scalar(
                    "SELECT count(*) FROM outbox_event WHERE status IN ('pending', 'relayed')")
            fault.started = time.time()
            try:
                fault.detail = getattr(self, fault.kind)(fault)
                fault.injected = True
            except NotInjected as exc:
                fault.detail = f"not injected: {exc}"
            except Exception as exc:  # a failed injection is reported, the run goes on
                fault.detail = f"failed: {type(exc).__name__}: {exc}"
                self.errors.append(f"{fault.kind}: {type(exc).__name__}: {exc}")
            fault.finished = time.time()
            self.done.append(fault)

    def _wait_for_queued_work(self, timeout: float = 15) -> int:
        """Strike when task messages wait in the queues (the workers drain them in moments, so
        the injector looks every 20 ms); what waits when it strikes, 0 if none came in time."""
        deadline = time.monotonic() + timeout
        while (queued := self._broker_messages()) == 0 and time.monotonic() < deadline \
                and not self.stop.is_set():
            time.sleep(0.02)
        return queued

    def _wait_for_servers(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop.is_set():
            try:
                self._scalar("SELECT 1")
                self._redis(0).ping()
                return
            except (psycopg.Error, redis.exceptions.RedisError):
                time.sleep(0.5)

    def counts(self) -> Counter[str]:
        return Counter(fault.kind for fault in self.done if fault.injected)

    def failed(self) -> Counter[str]:
        return Counter(fault.kind for fault in self.done if not fault.injected)

    def postgres_windows(self) -> list[tuple[float, float]]:
        """When 5xx answers are declared acceptable: PostgreSQL down, plus the seconds pools need."""
        return [(f.started - 1, f.finished + 10) for f in self.done if f.kind == "postgres_sigkill"]

    def last_fault_end(self) -> float:
        return max((f.finished for f in self.done), default=0.0)

    # --- kills -------------------------------------------------------------------------------

    def _kill(self, name: str) -> None:
        process = self.topology.processes[name]
        if not process.alive():
            raise NotInjected(f"{name} was not running")
        process.signal(signal.SIGKILL)
        deadline = time.monotonic() + 5
        while process.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.alive():
            raise NotInjected(f"{name} survived SIGKILL")

    def relay_sigkill(self, fault: Fault) -> str:
        name = self.rng.choice(RELAYS)
        self._kill(name)
        return f"SIGKILL {name}"

    def worker_sigkill(self, fault: Fault) -> str:
        name = self.rng.choice(WORKERS[:2])  # interactive and default always have work under load
        busy = self._scalar("SELECT count(*) FROM outbox_attempt WHERE outcome = 'running'")
        self._kill(name)
        return f"SIGKILL {name} and its pool ({busy} task(s) running)"

    def redis_sigkill(self, fault: Fault) -> str:
        pid = self.topology.redis_pid()
        if not pid_alive(pid):
            raise NotInjected("Redis was not running")
        fault.lost_events = self._broker_event_ids()
        fault.dropped = len(fault.lost_events) or self._broker_messages()
        keys = sum(self._redis(db).dbsize() for db in (0, 1, 2))
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        self._wait_dead(pid, "Redis")
        return f"SIGKILL Redis (no persistence): {keys} keys lost, {fault.dropped} task messages among them"

    def postgres_sigkill(self, fault: Fault) -> str:
        pid = self.topology.postgres_pid()
        if not pid_alive(pid):
            raise NotInjected("PostgreSQL was not running")
        assert pid is not None
        children = _children(pid)
        os.kill(pid, signal.SIGKILL)  # the postmaster first: it must not restart its backends
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        self._wait_dead(pid, "PostgreSQL")
        down = time.monotonic()
        # The supervisor starts it again; the outage window closes when it accepts connections.
        waited = self.topology.wait_for_postgres(timeout=120)
        log = (self.topology.pg_datadir / "server.log").read_text(errors="replace")
        recovered = "automatic recovery in progress" in log
        return (f"SIGKILL PostgreSQL ({len(children)} backends): back after {time.monotonic() - down:.1f} s"
                f" ({waited:.1f} s waiting){', crash recovery ran' if recovered else ''}")

    def _wait_dead(self, pid: int, what: str) -> None:
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            raise NotInjected(f"{what} survived SIGKILL")

    # --- stops ---------------------------------------------------------------------------------

    def workers_paused_flushall(self, fault: Fault) -> str:
        """Stop every worker, let the queues fill, FLUSHALL, continue: the messages are gone."""
        workers = [self.topology.processes[name] for name in WORKERS]
        for worker in workers:
            worker.signal(signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 20
            while (queued := self._broker_messages()) < 5 and time.monotonic() < deadline:
                time.sleep(0.5)
            fault.lost_events = self._broker_event_ids()  # the relays may add a few before the flush
            self._redis(0).flushall()
            fault.dropped = len(fault.lost_events) or queued
        finally:
            for worker in workers:
                worker.signal(signal.SIGCONT)
        if not fault.dropped:
            raise NotInjected("the queues were empty when flushed")
        return f"workers stopped, FLUSHALL dropped {fault.dropped} task messages"

    def relay_sigstop(self, fault: Fault) -> str:
        """Freeze a relay between its claim and its commit (rows claimed, being published), past
        the Redis timeouts, then continue it."""
        relays = [name for name in RELAYS if self.topology.processes[name].alive()]
        if not relays:
            raise NotInjected("no relay was running")
        with psycopg.connect(self.topology.database_url, autocommit=True, connect_timeout=3) as db:
            for attempt in range(3000):
                name = relays[attempt % len(relays)]
                relay = self.topology.processes[name]
                relay.signal(signal.SIGSTOP)
                row = db.execute("""
                    SELECT count(*) FROM pg_stat_activity WHERE application_name = %s
                      AND state = 'idle in transaction' AND query LIKE %s""",
                                 (f"ferry-relay-{name}", "%RECURSIVE tenants%")).fetchone()
                if row and row[0]:
                    pause = self.partition_s * 0.75
                    time.sleep(pause)
                    relay.signal(signal.SIGCONT)
                    return f"SIGSTOP {name} between its claim and its commit, {pause:.0f} s, then SIGCONT"
                relay.signal(signal.SIGCONT)
                time.sleep(self.rng.uniform(0.001, 0.01))
        raise NotInjected("no relay was caught between a claim and its commit")

    # --- partitions ------------------------------------------------------------------------------

    def _cut(self, pairs: list[tuple[str, str]], what: str) -> str:
        network = self.topology.network
        for host, peer in pairs:
            network.set_link(host, peer, up=False)
        try:
            if any(network.link_is_up(host, peer) for host, peer in pairs):
                raise NotInjected(f"{what}: a link stayed up")
            time.sleep(self.partition_s)
        finally:
            for host, peer in pairs:
                network.set_link(host, peer, up=True)
        return f"{what} for {self.partition_s:.0f} s"

    def cut_relay_redis(self, fault: Fault) -> str:
        name = self.rng.choice(RELAYS)
        return self._cut([(name, "redis")], f"{name} <-/-> Redis")

    def cut_worker_postgres(self, fault: Fault) -> str:
        name = self.rng.choice(WORKERS)
        return self._cut([(name, "db")], f"{name} <-/-> PostgreSQL")

    def cut_web_redis(self, fault: Fault) -> str:
        return self._cut([("web", "redis")], "web <-/-> Redis")

    def isolate_relay(self, fault: Fault) -> str:
        name = self.rng.choice(RELAYS)
        return self._cut([(name, peer) for peer in self.topology.network.peers(name)], f"{name} isolated")

    # --- reading the state ------------------------------------------------------------------------

    def _redis(self, db: int) -> redis.Redis:
        """One client per Redis database for the whole run (it reconnects after Redis restarts)."""
        if db not in self._clients:
            self._clients[db] = redis.Redis.from_url(self.topology.redis_url(db), socket_timeout=5)
        return self._clients[db]

    def _broker_messages(self) -> int:
        """Task messages waiting in the queues. (Those a worker has taken but not acknowledged
        are in its memory too: a flush does not lose them, only their redelivery if the worker
        dies; they are not counted.)"""
        return sum(self._redis(0).llen(queue) for queue in QUEUES)

    def _broker_event_ids(self) -> set[str]:
        """The ids of the task messages waiting in the queues: their events' ids."""
        client = self._redis(0)
        bodies = [body for queue in QUEUES for body in client.lrange(queue, 0, -1)]
        ids = set()
        for body in bodies:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                ids.add(str(json.loads(body)["headers"]["id"]))
        return ids

    def _scalar(self, query: str, *params: Any) -> int:
        with psycopg.connect(self.topology.database_url, autocommit=True, connect_timeout=3) as db:
            row = db.execute(query, params).fetchone()
        return int(row[0]) if row else 0


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a postmaster's backends and helpers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(") ", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def schedule(duration_s: float, rng: random.Random, kinds: tuple[str, ...], per_kind: int) -> list[Fault]:
    """Every kind `per_kind` times, shuffled, spread evenly over the load with jitter."""
    chosen = [kind for kind in kinds for _ in range(per_kind)]
    rng.shuffle(chosen)
    slot = duration_s / (len(chosen) + 1)
    return [Fault(kind, at_s=slot * (i + 1) + rng.uniform(-slot / 4, slot / 4)) for i, kind in enumerate(chosen)]

