"""The chaos run's own Ferry: private PostgreSQL and Redis, and every process, restartable.

Servers are started with scripts/services.py pointed at a temporary directory and free ports
(so the developer's servers and data are never touched); processes get an environment with
settings that make faults observable within minutes (short visibility timeout, short
redelivery grace, a short solver time limit).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.processes import Process, wait_until

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
QUEUES = ("interactive", "default", "batch")

# A worker paused this long past the visibility timeout has its message redelivered.
VISIBILITY_TIMEOUT_S = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Topology:
    """Servers and processes of one chaos run, in a temporary directory removed at the end."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ferry-chaos-")))
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        path = self.root / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def database_url(self) -> str:
        return f"postgres://ferry@127.0.0.1:{self.pg_port}/ferry"

    def redis_url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{db}"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_URL", "FERRY_TEST"))},
            "DJANGO_SETTINGS_MODULE": "core.config.settings",
            "DATABASE_URL": self.database_url,
            "REDIS_BROKER_URL": self.redis_url(0),
            "REDIS_CACHE_URL": self.redis_url(1),
            "REDIS_PUBSUB_URL": self.redis_url(2),
            "LOG_FORMAT": "json",
            "FERRY_UNSAFE_SHORT_VISIBILITY_TIMEOUT": "1",
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S),
            "OUTBOX_REDELIVER_GRACE_S": "10",
            "OPTIMIZE_TIME_LIMIT_S": "1",
            "SUBMISSION_RATE_LIMIT": "100000",
            "REDIS_SOCKET_TIMEOUT": "1",
            **extra,
        }

    # --- servers ------------------------------------------------------------------------

    def services(self, action: str) -> None:
        env = {**os.environ, "FERRY_VAR_DIR": str(self.root / "var"), "FERRY_PG_PORT": str(self.pg_port),
               "FERRY_REDIS_PORT": str(self.redis_port)}
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / "services.py"), action], env=env,  # noqa: S603
                                check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"scripts/services.py {action} failed:\n{result.stderr[-3000:]}")

    def manage(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=self.env(FERRY_PROCESS="chaos"),  # noqa: S603
                                capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def prepare(self) -> None:
        """Servers up, schema migrated, demo tenants, users and content seeded."""
        self.root.chmod(0o755)  # mkdtemp's 0700 would keep the PostgreSQL server user out
        self.services("start")
        self.manage("migrate", "--noinput")
        self.manage("seed_demo")

    # --- processes ----------------------------------------------------------------------

    def _start(self, name: str, args: list[str], ready: str, **env: str) -> Process:
        process = Process(name, args, self.env(FERRY_PROCESS=name, **env), self.logs, ROOT)
        self.processes[name] = process
        process.wait_for_output(ready, timeout=90)
        return process

    def start_processes(self) -> None:
        self._start("web", [PYTHON, "-m", "uvicorn", "core.config.asgi:application", "--host", "127.0.0.1",
                            "--port", str(self.web_port), "--lifespan", "off", "--no-access-log"],
                    "Uvicorn running", FERRY_DB_POOL="1")
        for index in (1, 2):
            self._start(f"relay-{index}", [PYTHON, "manage.py", "relay", "--name", f"relay-{index}"], "relay.started")
        for queue in QUEUES:
            self._start(f"worker-{queue}", [PYTHON, "-m", "celery", "-A", "core.config", "worker", "-Q", queue,
                                            "--concurrency", "2", "--hostname", f"{queue}@chaos",
                                            "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
                        "ready.")
        self._start("beat", [PYTHON, "-m", "celery", "-A", "core.config", "beat", "--pidfile=", "--loglevel", "INFO",
                             "-s", str(self.root / "beat-schedule")], "beat: Starting")

    def restart(self, name: str) -> None:
        process = self.processes[name]
        offset = len(process.output())
        process.restart()
        ready = {"web": "Uvicorn running", "beat": "beat: Starting"}.get(
            name, "relay.started" if name.startswith("relay") else "ready.")
        process.wait_for_output(ready, timeout=90, after=offset)

    def ensure_running(self) -> list[str]:
        """Restart any process that died; returns their names."""
        dead = [name for name, process in self.processes.items() if not process.alive()]
        for name in dead:
            self.restart(name)
        return dead

    def wait_for_web(self) -> None:
        import httpx

        def answers() -> bool:
            try:
                return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, 60, 0.2, "the web process to answer")

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop(timeout=10)
        try:
            self.services("stop")
        finally:
            data = self.root / "var" / "postgres"
            if data.is_symlink():  # the server user's private copy (scripts/services.py pg_datadir)
                shutil.rmtree(data.resolve(), ignore_errors=True)
                shutil.rmtree(data.resolve().parent, ignore_errors=True)
            shutil.rmtree(self.root, ignore_errors=True)
