"""The chaos run's own Ferry: hosts in network namespaces, private servers, every process.

The run builds a small network (bench/chaos/network.py): a database host, a Redis host, a web
host, two relay hosts, one worker host per queue and a beat host, each linked to the database
and Redis hosts, and the harness (the load and the checks) linked to the database, Redis and
web hosts. PostgreSQL and Redis are started with scripts/services.py pointed at a temporary
directory (the developer's servers and data are never touched), Redis with no persistence at
all. Processes get settings that make faults observable within minutes: a short visibility
timeout, short redelivery deadlines, schedules capped at a few seconds (BEAT_MAX_INTERVAL_S),
a short solver time limit. The code paths are the production ones.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.chaos.network import HARNESS, Network
from bench.processes import Process, wait_until

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
QUEUES = ("interactive", "default", "batch")
RELAYS = ("relay-1", "relay-2")
WORKERS = tuple(f"worker-{queue}" for queue in QUEUES)
CLIENT_HOSTS = ("web", *RELAYS, *WORKERS, "beat")

# A worker paused this long past the visibility timeout has its message redelivered.
VISIBILITY_TIMEOUT_S = 20
# Every stored schedule (sweep, heals, verification) runs at least this often.
SCHEDULE_CAP_S = 10
# A relayed task event not completed within this long is redelivered by the sweep.
REDELIVER_AFTER_S = 30
# What ready looks like in each process's log.
READY = {"web": "Uvicorn running", "beat": "beat: Starting"}


def ready_text(name: str) -> str:
    return READY.get(name, "relay.started" if name.startswith("relay") else "ready.")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead too (a server daemonised by our child may be reaped late).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


@dataclass
class Topology:
    """Hosts, servers and processes of one chaos run; everything removed at the end."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ferry-chaos-")))
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    processes: dict[str, Process] = field(default_factory=dict)
    network: Network = field(default_factory=lambda: Network(
        [(HARNESS, "db"), (HARNESS, "redis"), (HARNESS, "web")]
        + [(server, host) for host in CLIENT_HOSTS for server in ("db", "redis")]))
    # Commands the harness ran against the system once the load began (none: forced=0).
    forced: list[str] = field(default_factory=list)
    loading: bool = False

    @property
    def logs(self) -> Path:
        path = self.root / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def base_url(self) -> str:
        return f"http://{self.network.address('web', HARNESS)}:{self.web_port}"

    def database_url_for(self, host: str) -> str:
        return f"postgres://ferry@{self.network.address('db', host)}:{self.pg_port}/ferry"

    def redis_url_for(self, host: str, db: int) -> str:
        return f"redis://{self.network.address('redis', host)}:{self.redis_port}/{db}"

    @property
    def database_url(self) -> str:
        """The harness's way to the database (the checks)."""
        return self.database_url_for(HARNESS)

    def redis_url(self, db: int) -> str:
        return self.redis_url_for(HARNESS, db)

    def env(self, host: str, **extra: str) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_URL", "FERRY_TEST"))},
            "DJANGO_SETTINGS_MODULE": "core.config.settings",
            "DATABASE_URL": self.database_url_for(host),
            "REDIS_BROKER_URL": self.redis_url_for(host, 0),
            "REDIS_CACHE_URL": self.redis_url_for(host, 1),
            "REDIS_PUBSUB_URL": self.redis_url_for(host, 2),
            "LOG_FORMAT": "json",
            "FERRY_UNSAFE_SHORT_VISIBILITY_TIMEOUT": "1",
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S),
            "OUTBOX_REDELIVER_GRACE_S": "10",
            "OUTBOX_REDELIVER_AFTER_MAX_S": str(REDELIVER_AFTER_S),
            "BEAT_MAX_INTERVAL_S": str(SCHEDULE_CAP_S),
            "GRADING_DEADLINE_S": "60",
            "OPTIMIZE_TIME_LIMIT_S": "1",
            "SUBMISSION_RATE_LIMIT": "100000",
            "REDIS_SOCKET_TIMEOUT": "1",
            "ALLOWED_HOSTS": self.network.address("web", HARNESS),
            **extra,
        }

    # --- servers ------------------------------------------------------------------------

    def _server_env(self) -> dict[str, str]:
        return {**os.environ, "FERRY_VAR_DIR": str(self.root / "var"), "FERRY_PG_PORT": str(self.pg_port),
                "FERRY_REDIS_PORT": str(self.redis_port), "FERRY_LISTEN_ALL": str(self.network.network),
                "FERRY_REDIS_PERSISTENCE": "none"}

    def services(self, action: str, host: str) -> None:
        """Run scripts/services.py `action` on `host` (start-postgres on db, start-redis on redis)."""
        command = [*self.network.in_host(host), sys.executable, str(ROOT / "scripts" / "services.py"), action]
        result = subprocess.run(command, env=self._server_env(), check=False, stdout=subprocess.DEVNULL,  # noqa: S603
                                stderr=subprocess.PIPE, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"scripts/services.py {action} on {host} failed:\n{result.stderr[-3000:]}")

    @property
    def pg_datadir(self) -> Path:
        return (self.root / "var" / "postgres").resolve()

    def postgres_pid(self) -> int | None:
        try:
            return int((self.pg_datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def redis_pid(self) -> int | None:
        try:
            return int((self.root / "var" / "redis" / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def server_alive(self, server: str) -> bool:
        return pid_alive(self.postgres_pid() if server == "postgres" else self.redis_pid())

    def start_server(self, server: str) -> None:
        if server == "postgres":
            self.services("start-postgres", "db")
        else:
            self.services("start-redis", "redis")

    def manage(self, *args: str, timeout: float = 600) -> str:
        if self.loading:
            self.forced.append(" ".join(args))
        result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT,  # noqa: S603
                                env=self.env(HARNESS, FERRY_PROCESS="chaos"),
                                capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def prepare(self) -> None:
        """Hosts and links made, servers up, schema migrated, demo tenants, users and content seeded."""
        self.root.chmod(0o755)  # mkdtemp's 0700 would keep the PostgreSQL server user out
        self.network.create()
        self.start_server("postgres")
        self.start_server("redis")
        self.manage("migrate", "--noinput")
        self.manage("seed_demo")

    # --- processes ----------------------------------------------------------------------

    def _commands(self) -> dict[str, list[str]]:
        web = [PYTHON, "-m", "uvicorn", "core.config.asgi:application", "--host",
               self.network.address("web", HARNESS), "--port", str(self.web_port), "--lifespan", "off",
               "--no-access-log"]
        commands = {"web": web}
        for relay in RELAYS:
            commands[relay] = [PYTHON, "manage.py", "relay", "--name", relay]
        for queue, worker in zip(QUEUES, WORKERS, strict=True):
            commands[worker] = [PYTHON, "-m", "celery", "-A", "core.config", "worker", "-Q", queue, "--concurrency",
                                "2", "--hostname", f"{queue}@chaos", "--without-gossip", "--without-mingle",
                                "--loglevel", "INFO"]
        commands["beat"] = [PYTHON, "-m", "celery", "-A", "core.config", "beat", "--pidfile=", "--loglevel", "INFO",
                            "-s", str(self.root / "beat-schedule")]
        return commands

    def start_processes(self) -> None:
        for name, command in self._commands().items():
            extra = {"FERRY_DB_POOL": "1"} if name == "web" else {}
            process = Process(name, [*self.network.in_host(name), *command],
                              self.env(name, FERRY_PROCESS=name, **extra), self.logs, ROOT)
            self.processes[name] = process
            process.wait_for_output(ready_text(name), timeout=90)

    def wait_for_web(self) -> None:
        import httpx

        def answers() -> bool:
            try:
                return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, 60, 0.2, "the web process to answer")

    def wait_for_postgres(self, timeout: float = 90) -> float:
        """Seconds until the database accepts connections from the harness again."""
        import psycopg

        started = time.monotonic()

        def accepts() -> bool:
            try:
                with psycopg.connect(self.database_url, connect_timeout=2) as db:
                    db.execute("SELECT 1")
                return True
            except psycopg.Error:
                return False

        wait_until(accepts, timeout, 0.2, "PostgreSQL to accept connections")
        return time.monotonic() - started

    def stop(self, keep_logs: Path | None = None) -> None:
        """Stop everything and remove the run's directory; its logs are moved to `keep_logs` first."""
        for process in self.processes.values():
            process.stop(timeout=10)
        if keep_logs is not None:
            shutil.copytree(self.logs, keep_logs, dirs_exist_ok=True)
            for server_log in (self.pg_datadir / "server.log", self.root / "var" / "redis" / "redis.log"):
                if server_log.exists():
                    shutil.copy(server_log, keep_logs / f"{server_log.parent.name}-{server_log.name}")
        try:
            for host in ("db", "redis"):  # each server is stopped from its own host
                subprocess.run([*self.network.in_host(host), sys.executable,  # noqa: S603
                                str(ROOT / "scripts" / "services.py"), "stop"], env=self._server_env(),
                               check=False, capture_output=True, timeout=120)
        finally:
            self.network.destroy()
            data = self.root / "var" / "postgres"
            if data.is_symlink():  # the server user's private copy (scripts/services.py pg_datadir)
                shutil.rmtree(data.resolve(), ignore_errors=True)
                shutil.rmtree(data.resolve().parent, ignore_errors=True)
            shutil.rmtree(self.root, ignore_errors=True)
