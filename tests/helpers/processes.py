"""Real Ferry processes for tests (web, relay, worker) and private Redis servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from django.conf import settings

from bench.processes import Process as _Process
from bench.processes import wait_until

__all__ = ["PYTHON", "ROOT", "Process", "RedisServer", "free_port", "process_env", "processes", "start_beat",
           "start_relay", "start_web", "start_worker", "wait_until"]

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


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


def start_beat(log_dir: Path, name: str = "beat", **env: str) -> Process:
    """A beat process (it leads or stands by: core/platform/beat.py); returned once it runs."""
    beat = Process(name, [PYTHON, "-m", "celery", "-A", "core.config", "beat", "--pidfile=", "--loglevel", "INFO"],
                   process_env(FERRY_PROCESS="beat", **env), log_dir)
    beat.wait_for_output("beat: Starting", timeout=60)
    return beat


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
