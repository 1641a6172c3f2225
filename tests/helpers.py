"""Helpers shared by tests: outbox plumbing and real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from bench.processes import Process as _Process
from bench.processes import wait_until
from core.config.celery import app
from outbox.consumers import ENVELOPE_HEADER, Envelope
from outbox.models import OutboxEvent

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def truncate_outbox() -> None:
    """Empty the outbox tables Django's flush does not know (unmanaged, SQL-only)."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE outbox_event, outbox_history")


def outbox_counts() -> dict[str, int]:
    """Events by status, wherever they are (hot table or history)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM outbox_log GROUP BY status")
        found = dict(cursor.fetchall())
    return {status: found.get(status, 0) for status in ("pending", "relayed", "completed", "dead")}


def execute(event: OutboxEvent) -> Any:
    """Run one task event in-process exactly as a worker runs the relay's message: the event is
    claimed as the relay claims it (relayed, one more delivery), then its task runs with the
    payload as keyword arguments plus the tenant, and the outbox envelope header. Returns the
    task's result (None when it failed: the outbox has retried or dead-lettered it)."""
    assert event.task_name is not None
    with connection.cursor() as cursor:
        cursor.execute("UPDATE outbox_event SET status = 'relayed', attempts = attempts + 1, relayed_at = now(), "
                       "redeliver_at = now() + make_interval(secs => redeliver_after) "
                       "WHERE id = %s AND status = 'pending'", [event.id])
    header = Envelope(outbox_id=event.id, created_at=event.created_at, event_id=event.event_id,
                      event_type=event.event_type, trace_id=event.trace_id, tenant_id=event.tenant_id).to_header()
    kwargs = {**json.loads(json.dumps(event.payload)), "tenant_id": event.tenant_id}
    headers: dict[str, Any] = {ENVELOPE_HEADER: header}
    result = app.tasks[event.task_name].apply(kwargs=kwargs, task_id=str(event.event_id), headers=headers)
    return result.result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_env(**extra: str) -> dict[str, str]:
    """Environment for a Ferry process started by a test: the test database and Redis DBs."""
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_BROKER_URL": settings.REDIS_BROKER_URL,
        "REDIS_CACHE_URL": settings.REDIS_CACHE_URL,
        "REDIS_PUBSUB_URL": settings.REDIS_PUBSUB_URL,
        "PYTHONPATH": str(ROOT),
        "LOG_FORMAT": "json",
        **extra,
    }


class Process(_Process):
    """A child process of a test (see bench.processes.Process), run from the repository."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        super().__init__(name, args, env, log_dir, ROOT, die_with_parent=True)

    def stop(self, timeout: float = 15) -> int:
        code = super().stop(timeout)
        self._log.close()
        return code


def start_worker(log_dir: Path, name: str = "worker", queues: str = "interactive,default,batch",
                 concurrency: int = 1, **env: str) -> Process:
    worker = Process(name, [PYTHON, "-m", "celery", "-A", "core.config", "worker", "-Q", queues,
                            "--concurrency", str(concurrency), "--hostname", f"{name}@%h",
                            "--without-gossip", "--without-mingle", "--without-heartbeat",
                            "--loglevel", "INFO"], process_env(**env), log_dir)
    worker.wait_for_output("ready.", timeout=60)
    return worker


def start_relay(log_dir: Path, name: str = "relay", *extra: str, **env: str) -> Process:
    relay = Process(name, [PYTHON, "manage.py", "relay", "--name", name, "--poll-interval", "0.2", *extra],
                    process_env(**env), log_dir)
    relay.wait_for_output("relay.started", timeout=60)
    return relay


def start_web(log_dir: Path, name: str = "web", **env: str) -> tuple[Process, str]:
    """The ASGI web process on a free port; returns it and its base URL."""
    port = free_port()
    web = Process(name, [PYTHON, "-m", "uvicorn", "core.config.asgi:application", "--host", "127.0.0.1",
                         "--port", str(port), "--lifespan", "off", "--timeout-graceful-shutdown", "2"],
                  process_env(FERRY_PROCESS="web", FERRY_DB_POOL="1", **env), log_dir)
    web.wait_for_output("Uvicorn running", timeout=60)
    return web, f"http://127.0.0.1:{port}"


class RedisServer:
    """A private redis-server for tests that stop, restart or flush Redis."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.popen = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_until(lambda: _pings(client), 10, 0.05, "private redis to answer")
        client.close()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(10)
        self.popen = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


@contextmanager
def processes(*started: Process) -> Iterator[None]:
    try:
        yield
    finally:
        for process in started:
            process.stop()
