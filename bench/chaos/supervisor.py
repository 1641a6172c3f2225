"""What a supervisor does in production (compose's `restart: unless-stopped`, systemd's
`Restart=always`), and nothing more: start again, after a short delay, a process or server
that died. It never runs a sweep or a heal, never touches data: recovery is the system's own.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.chaos.topology import Topology

# Seconds between noticing a death and starting again (systemd's RestartSec, compose's backoff).
RESTART_DELAY_S = 2.0
SERVERS = ("postgres", "redis")


@dataclass(eq=False)  # a Thread must stay hashable
class Supervisor(threading.Thread):
    topology: Topology
    stop: threading.Event = field(default_factory=threading.Event)
    restarts: Counter[str] = field(default_factory=Counter)
    log: list[tuple[float, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _dead_since: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(name="supervisor", daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.5):
            for name in (*SERVERS, *self.topology.processes):
                self._watch(name)

    def _alive(self, name: str) -> bool:
        if name in SERVERS:
            return self.topology.server_alive(name)
        return self.topology.processes[name].alive()

    def _watch(self, name: str) -> None:
        if self._alive(name):
            self._dead_since.pop(name, None)
            return
        since = self._dead_since.setdefault(name, time.monotonic())
        if time.monotonic() - since < RESTART_DELAY_S:
            return
        try:
            if name in SERVERS:
                self.topology.start_server(name)
            else:
                self.topology.processes[name].restart()
        except Exception as exc:  # tried again at the next look, as a supervisor would
            self.errors.append(f"restart of {name}: {type(exc).__name__}: {exc}")
            self._dead_since[name] = time.monotonic()
            return
        self._dead_since.pop(name, None)
        self.restarts[name] += 1
        self.log.append((time.time(), name))

    def restarted_since(self, name: str, since: float) -> bool:
        return any(name == who and at >= since for at, who in self.log)
