"""Faults injected on a seeded schedule, each with the recovery a supervisor would perform."""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg
import redis

from bench.chaos.topology import QUEUES, VISIBILITY_TIMEOUT_S, Topology

KINDS = ("relay_sigkill", "worker_sigkill", "broker_flushall", "redis_restart", "postgres_restart", "worker_pause")


@dataclass
class Fault:
    kind: str
    at_s: float
    started: float = 0.0
    finished: float = 0.0
    detail: str = ""


@dataclass(eq=False)  # a Thread must stay hashable
class Injector(threading.Thread):
    """Runs the schedule against the topology while the load runs."""

    topology: Topology
    schedule: list[Fault]
    rng: random.Random
    stop: threading.Event = field(default_factory=threading.Event)
    done: list[Fault] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(name="fault-injector", daemon=True)

    def run(self) -> None:
        origin = time.monotonic()
        for fault in self.schedule:
            if self.stop.wait(max(0.0, origin + fault.at_s - time.monotonic())):
                return
            fault.started = time.time()
            try:
                fault.detail = getattr(self, fault.kind)()
            except Exception as exc:  # a failed injection is reported, the run goes on
                self.errors.append(f"{fault.kind}: {type(exc).__name__}: {exc}")
            fault.finished = time.time()
            self.done.append(fault)

    def counts(self) -> Counter[str]:
        return Counter(fault.kind for fault in self.done)

    def postgres_windows(self) -> list[tuple[float, float]]:
        """When 5xx answers are declared acceptable: a restart, plus the seconds pools need."""
        return [(f.started - 1, f.finished + 10) for f in self.done if f.kind == "postgres_restart"]

    # --- the faults ------------------------------------------------------------------------

    def relay_sigkill(self) -> str:
        name = self.rng.choice(("relay-1", "relay-2"))
        self.topology.processes[name].signal(signal.SIGKILL)
        time.sleep(1)
        self.topology.restart(name)
        return f"SIGKILL {name}, restarted"

    def worker_sigkill(self) -> str:
        queue = self.rng.choice(QUEUES[:2])  # interactive and default always have work under load
        busy = self._running_attempts()
        self.topology.processes[f"worker-{queue}"].signal(signal.SIGKILL)
        time.sleep(1)
        self.topology.restart(f"worker-{queue}")
        return f"SIGKILL worker-{queue} ({busy} task(s) in progress), restarted"

    def broker_flushall(self) -> str:
        client = redis.Redis.from_url(self.topology.redis_url(0), socket_timeout=5)
        lost = sum(client.llen(queue) for queue in QUEUES)
        client.flushall()
        client.close()
        return f"FLUSHALL ({lost} queued messages dropped)"

    def redis_restart(self) -> str:
        client = redis.Redis.from_url(self.topology.redis_url(0), socket_timeout=5)
        with contextlib.suppress(redis.exceptions.ConnectionError):
            client.shutdown()  # the server closes the connection as it goes
        time.sleep(2)
        self.topology.services("start")
        return "Redis stopped for 2 s, restarted (AOF everysec)"

    def postgres_restart(self) -> str:
        self.topology.services("restart-postgres")
        return "PostgreSQL restarted (fast shutdown)"

    def worker_pause(self) -> str:
        worker = self.topology.processes["worker-interactive"]
        worker.signal(signal.SIGSTOP)
        pause = VISIBILITY_TIMEOUT_S + 5
        time.sleep(pause)
        worker.signal(signal.SIGCONT)
        return f"SIGSTOP worker-interactive for {pause} s (visibility timeout {VISIBILITY_TIMEOUT_S} s)"

    def _running_attempts(self) -> int:
        with psycopg.connect(self.topology.database_url, autocommit=True, connect_timeout=3) as db:
            row = db.execute("SELECT count(*) FROM outbox_attempt WHERE outcome = 'running'").fetchone()
        return int(row[0]) if row else 0


def schedule(duration_s: float, rng: random.Random, per_kind: int) -> list[Fault]:
    """Every kind `per_kind` times, shuffled, spread evenly over the load with jitter."""
    kinds = [kind for kind in KINDS for _ in range(per_kind)]
    rng.shuffle(kinds)
    slot = duration_s / (len(kinds) + 1)
    return [Fault(kind, at_s=slot * (i + 1) + rng.uniform(-slot / 4, slot / 4)) for i, kind in enumerate(kinds)]
