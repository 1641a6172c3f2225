#!/usr/bin/env python3
"""Start, stop and inspect the project's own PostgreSQL and Redis.

Standard library only: this runs before the virtual environment exists.

    python3 scripts/services.py start    # idempotent; installs the servers if missing
    python3 scripts/services.py stop
    python3 scripts/services.py status
    python3 scripts/services.py urls     # prints shell exports of the URLs
    python3 scripts/services.py restart-postgres
    python3 scripts/services.py start-postgres   # one server only (the chaos run puts
    python3 scripts/services.py start-redis      # each in a network namespace of its own)

Data lives under .var/ in the checkout; both servers listen on 127.0.0.1 only, on
ports that do not clash with a system PostgreSQL (5432) or Redis (6379). The ports
here must agree with the defaults in core/config/settings.py.

For the chaos run's private servers only (bench/chaos/network.py):
    FERRY_LISTEN_ALL=<CIDR>       listen on every address and trust clients from <CIDR>
    FERRY_REDIS_PERSISTENCE=none  Redis keeps nothing on disk (a kill loses everything)
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("FERRY_VAR_DIR", ROOT / ".var")).resolve()
PG_PORT = int(os.environ.get("FERRY_PG_PORT", "55432"))
REDIS_PORT = int(os.environ.get("FERRY_REDIS_PORT", "56379"))
PG_USER = "ferry"  # the database superuser inside our cluster
PG_DATABASE = "ferry"
PG_MIN_VERSION = 15
REDIS_MIN_VERSION = 7
# A private network of the chaos run whose clients are trusted; empty: loopback only.
LISTEN_ALL = os.environ.get("FERRY_LISTEN_ALL", "")
REDIS_PERSISTENCE = os.environ.get("FERRY_REDIS_PERSISTENCE", "aof")


class ServiceError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[services] {message}", flush=True)


def run(cmd: list[str], *, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, text=True, capture_output=True, check=False)  # noqa: S603
    if check and result.returncode != 0:
        raise ServiceError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
    if not quiet and result.stdout.strip():
        print(result.stdout.rstrip(), flush=True)
    return result


# --- installing the servers -------------------------------------------------------------


def apt_install(packages: list[str]) -> None:
    """Install Debian packages, as root or through sudo; fails loudly if neither is possible."""
    prefix: list[str] = []
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise ServiceError(f"need root or sudo to install {packages}")
        prefix = ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"installing {' '.join(packages)} from Debian packages")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    for cmd in (["apt-get", "update", "-q"], install):
        subprocess.run(prefix + cmd, check=True, env=env, stdout=subprocess.DEVNULL)  # noqa: S603


def postgres_bindir() -> Path | None:
    """The newest Debian PostgreSQL bin directory at or above PG_MIN_VERSION."""
    found = []
    for path in glob.glob("/usr/lib/postgresql/*/bin/postgres"):
        version = Path(path).parent.parent.name
        if version.isdigit() and int(version) >= PG_MIN_VERSION:
            found.append((int(version), Path(path).parent))
    return max(found)[1] if found else None


def redis_server() -> str | None:
    path = shutil.which("redis-server")
    if not path:
        return None
    out = run([path, "--version"], quiet=True).stdout
    match = re.search(r"v=(\d+)\.", out)
    return path if match and int(match.group(1)) >= REDIS_MIN_VERSION else None


def ensure_binaries() -> tuple[Path, str]:
    missing = []
    if postgres_bindir() is None:
        missing.append("postgresql")
    if redis_server() is None:
        missing.append("redis-server")
    if missing:
        apt_install(missing)
    bindir, redis = postgres_bindir(), redis_server()
    if bindir is None or redis is None:
        raise ServiceError(f"PostgreSQL >= {PG_MIN_VERSION} and Redis >= {REDIS_MIN_VERSION} are required")
    return bindir, redis


# --- PostgreSQL -------------------------------------------------------------------------


def server_user() -> str | None:
    """The unprivileged account PostgreSQL runs as when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "ferry"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "ferry"])
    return "ferry"


def as_user(user: str | None, cmd: list[str]) -> list[str]:
    return cmd if user is None else ["runuser", "-u", user, "--", *cmd]


def pg_datadir(user: str | None) -> Path:
    """.var/postgres, or a private directory linked from there if the user cannot reach the checkout.

    A checkout under /root is not traversable by the postgres account; rather than loosen
    permissions on the user's home, the data then lives in /var/tmp with a symlink in .var/.
    """
    link = VAR / "postgres"
    if link.is_symlink() or user is None:
        return link.resolve()
    VAR.mkdir(parents=True, exist_ok=True)
    if run(as_user(user, ["test", "-x", str(VAR)]), check=False, quiet=True).returncode == 0:
        return link
    # One private directory per data folder (FERRY_VAR_DIR gives the chaos run its own).
    digest = hashlib.sha1(str(VAR.resolve()).encode()).hexdigest()[:10]  # noqa: S324 - a name, not security
    private = Path(f"/var/tmp/ferry-{digest}/postgres")  # noqa: S108 - owned by the server user, 0700
    private.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(private.parent, 0o755)  # noqa: S103 - the server user must traverse it; data stays 0700
    if not link.exists():
        link.symlink_to(private)
    log(f"{VAR} is not reachable by '{user}'; PostgreSQL data lives in {private} (linked from {link})")
    return private


def pg_initdb(bindir: Path, datadir: Path, user: str | None) -> None:
    if (datadir / "PG_VERSION").exists():
        return
    datadir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        shutil.chown(datadir, user, user)
    os.chmod(datadir, 0o700)
    log(f"initialising a PostgreSQL cluster in {datadir}")
    run(as_user(user, [str(bindir / "initdb"), "-D", str(datadir), "-U", PG_USER, "--auth=trust",
                       "--encoding=UTF8", "--locale=C"]), quiet=True)
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(PG_PORT),
        # TCP only: socket paths under a deep checkout can exceed the 107-byte limit.
        "unix_socket_directories": "''",
        # Tests, relays, workers and benchmarks open many connections at once.
        "max_connections": "300",
        "shared_buffers": "256MB",
        # Fewer, spread-out checkpoints: bursts of full-page writes otherwise dominate
        # write-heavy runs (relay_bench, the chaos run).
        "max_wal_size": "4GB",
        "min_wal_size": "1GB",
        "checkpoint_timeout": "'15min'",
        "checkpoint_completion_target": "0.9",
        "log_min_duration_statement": "2000",
        "log_line_prefix": "'%m [%p] %a '",
    }
    with open(datadir / "postgresql.conf", "a") as conf:
        conf.write("\n# Ferry development server\n")
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())


def pg_running(bindir: Path, datadir: Path, user: str | None) -> bool:
    return run(as_user(user, [str(bindir / "pg_ctl"), "-D", str(datadir), "status"]),
               check=False, quiet=True).returncode == 0


def psql(bindir: Path, sql: str, database: str = "postgres") -> str:
    cmd = [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", PG_USER,
           "-d", database, "-tAc", sql]
    return run(cmd, quiet=True).stdout.strip()


def pg_start(bindir: Path) -> None:
    user = server_user()
    datadir = pg_datadir(user)
    pg_initdb(bindir, datadir, user)
    if pg_running(bindir, datadir, user):
        return
    ensure_port_free(PG_PORT, "PostgreSQL", "FERRY_PG_PORT")
    log(f"starting PostgreSQL on 127.0.0.1:{PG_PORT}")
    # The port on the command line wins over the cluster's postgresql.conf: FERRY_PG_PORT applies
    # to a cluster made with another port too.
    options = f"-p {PG_PORT}"
    if LISTEN_ALL:
        trust_network(datadir, LISTEN_ALL)
        options += " -c listen_addresses=*"
    run(as_user(user, [str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(datadir / "server.log"),
                       "-o", options, "-w", "-t", "60", "start"]), quiet=True)
    if psql(bindir, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'") != "1":  # noqa: S608
        psql(bindir, f"CREATE DATABASE {PG_DATABASE}")


def trust_network(datadir: Path, cidr: str) -> None:
    """Let clients from `cidr` in without a password (the chaos run's private network)."""
    if not re.fullmatch(r"[0-9.]+/[0-9]+", cidr):
        raise ServiceError(f"FERRY_LISTEN_ALL must be an IPv4 network (a.b.c.d/n), not {cidr!r}")
    hba = datadir / "pg_hba.conf"
    line = f"host all all {cidr} trust\n"
    if line not in hba.read_text():
        with open(hba, "a") as handle:
            handle.write(line)


def pg_stop(bindir: Path) -> None:
    user = server_user()
    datadir = pg_datadir(user)
    if (datadir / "PG_VERSION").exists() and pg_running(bindir, datadir, user):
        log("stopping PostgreSQL")
        stop = [str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"]
        run(as_user(user, stop), quiet=True)


# --- Redis ------------------------------------------------------------------------------


def redis_command(*args: str, timeout: float = 1.0) -> str | None:
    """Send one command over RESP; None when nothing answers on our port."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    try:
        with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=timeout) as sock:
            sock.sendall(payload.encode())
            return sock.recv(4096).decode(errors="replace")
    except OSError:
        return None


def redis_start(redis: str) -> None:
    if (redis_command("PING") or "").startswith("+PONG"):
        return
    ensure_port_free(REDIS_PORT, "Redis", "FERRY_REDIS_PORT")
    data = VAR / "redis"
    data.mkdir(parents=True, exist_ok=True)
    conf = data / "redis.conf"
    # Redis is losable by design (heals repair), but AOF everysec keeps a restart cheap.
    persistence = "appendonly no\n" if REDIS_PERSISTENCE == "none" else "appendonly yes\nappendfsync everysec\n"
    listen = "bind 0.0.0.0\nprotected-mode no\n" if LISTEN_ALL else "bind 127.0.0.1\nprotected-mode yes\n"
    conf.write_text(
        f"port {REDIS_PORT}\n{listen}daemonize yes\n"
        f"pidfile {data / 'redis.pid'}\nlogfile {data / 'redis.log'}\ndir {data}\n"
        f"{persistence}save \"\"\n"
        # Tests of concurrent runs each take their own databases (tests/settings.py).
        "databases 64\n"
    )
    log(f"starting Redis on 127.0.0.1:{REDIS_PORT}")
    run([redis, str(conf)], quiet=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (redis_command("PING") or "").startswith("+PONG"):
            return
        time.sleep(0.1)
    raise ServiceError(f"Redis did not answer on port {REDIS_PORT}; see {data / 'redis.log'}")


def redis_stop() -> None:
    if redis_command("PING") is not None:
        log("stopping Redis")
        redis_command("SHUTDOWN")


# --- shared -----------------------------------------------------------------------------


def ensure_port_free(port: int, what: str, variable: str) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise ServiceError(f"port {port} is taken by another program; set {variable} "
                               f"(and the matching URL) to run {what} elsewhere")


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """Serialise concurrent invocations (two `make` targets starting at once)."""
    VAR.mkdir(parents=True, exist_ok=True)
    with open(VAR / "services.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def urls() -> dict[str, str]:
    redis = f"redis://127.0.0.1:{REDIS_PORT}"
    return {
        "DATABASE_URL": f"postgres://{PG_USER}@127.0.0.1:{PG_PORT}/{PG_DATABASE}",
        "REDIS_BROKER_URL": f"{redis}/0",
        "REDIS_CACHE_URL": f"{redis}/1",
        "REDIS_PUBSUB_URL": f"{redis}/2",
    }


def main(argv: list[str]) -> int:
    action = argv[1] if len(argv) > 1 else "start"
    try:
        with exclusive():
            if action == "start":
                bindir, redis = ensure_binaries()
                pg_start(bindir)
                redis_start(redis)
                for key, value in urls().items():
                    print(f"  {key}={value}")
            elif action == "start-postgres":
                pg_start(ensure_binaries()[0])
            elif action == "start-redis":
                redis_start(ensure_binaries()[1])
            elif action == "restart-postgres":
                found = postgres_bindir()
                if found is not None:
                    pg_stop(found)
                    pg_start(found)
            elif action == "stop":
                found = postgres_bindir()
                if found is not None:
                    pg_stop(found)
                redis_stop()
            elif action == "status":
                found = postgres_bindir()
                user = server_user()
                pg = found is not None and pg_running(found, pg_datadir(user), user)
                rd = (redis_command("PING") or "").startswith("+PONG")
                print(f"postgres: {'running' if pg else 'stopped'} (127.0.0.1:{PG_PORT})")
                print(f"redis:    {'running' if rd else 'stopped'} (127.0.0.1:{REDIS_PORT})")
                return 0 if pg and rd else 1
            elif action == "apt":
                apt_install(argv[2:])
            elif action == "urls":
                for key, value in urls().items():
                    print(f"export {key}={value}")
            else:
                print(__doc__)
                return 2
    except (ServiceError, subprocess.CalledProcessError) as exc:
        print(f"[services] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
