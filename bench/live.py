"""Live streams at scale: a reconnect storm against a running web process, and what it costs.

Runs against a running system (web and relay; e.g. `make up`), with this machine's settings
for the database (it creates the storm's users and commits the test events itself):

    .venv/bin/python -m bench.live --url http://127.0.0.1:8000 --streams 10000 --storm [--json]

For each storm (first --compare streams, 2,000 by default, then --streams) it opens every
stream at once from one asyncio client, as browsers do when a web process restarts: half of
them with a Last-Event-ID --replay-back events in the past, which they must receive, in
order, before anything live. Streams belong to users of the agency (at most --per-user
each, below the server's per-user cap), made for the run and removed after it. While the
storm opens, it times an API write and a page of the same web process every quarter second
(as a dispatcher of another agency, so the writes' live events do not reach the storm),
from a process of its own, over one kept-alive connection as a browser's requests go.
It then commits one event on the agency's channel and times its arrival at every stream.
It prints, per storm: streams opened, refusals (4xx) and 5xx, seconds to open all, the web
process's threads, RSS and database connections, the event's fan-out p50/p99/max, the API
write's and the page's p50/p99, and the replays checked; with --json one JSON object.

Without --storm, streams open in waves of 200 instead of all at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import re
import secrets
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.storm import AsyncStream, allow_many_sockets, open_all, summary, wait_for_watched

BENCH_USER_PREFIX = "bench-live-"


# --- the running system: its process, its database connections ------------------------------


def web_pid(url: str) -> int | None:
    """The process listening on the URL's port (ss from iproute2), if it can be found."""
    port = urlsplit(url).port or 80
    output = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True,  # noqa: S603, S607
                            check=False).stdout
    match = re.search(r"pid=(\d+)", output)
    return int(match.group(1)) if match else None


def process_figures(pid: int | None) -> dict[str, float]:
    if pid is None:
        return {"threads": float("nan"), "rss_mib": float("nan")}
    threads = len(os.listdir(Path("/proc") / str(pid) / "task"))
    status = (Path("/proc") / str(pid) / "status").read_text()
    rss_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return {"threads": threads, "rss_mib": round(rss_kib / 1024, 1)}


def web_connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ferry-web' "
                       "AND datname = current_database()")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


# --- the storm's users and events --------------------------------------------------------------


def make_sessions(tenant_id: int, users: int, prefix: str = BENCH_USER_PREFIX) -> list[str]:
    """`users` learners of the agency, each signed in once; their session cookies' values.
    Users named `prefix`... from an earlier call are replaced."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from core.accounts.models import User

    remove_users(prefix)
    made = User.objects.bulk_create([User(username=f"{prefix}{n:05d}", tenant_id=tenant_id,
                                          password="!bench")  # noqa: S106 - an unusable password
                                     for n in range(users)])
    learners = Group.objects.get_or_create(name="learner")[0]
    User.groups.through.objects.bulk_create([User.groups.through(user_id=u.id, group_id=learners.id) for u in made])
    store, expires = SessionStore(), timezone.now() + timedelta(hours=2)
    sessions = [Session(session_key=secrets.token_hex(16), expire_date=expires, session_data=store.encode({
        SESSION_KEY: str(u.id), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
        HASH_SESSION_KEY: u.get_session_auth_hash()})) for u in made]
    Session.objects.bulk_create(sessions, batch_size=2000)
    return [s.session_key for s in sessions]


def remove_users(prefix: str = BENCH_USER_PREFIX) -> None:
    from core.accounts.models import User

    User.objects.filter(username__startswith=prefix).delete()


def publish(tenant_id: int, labels: Sequence[str]) -> str:
    """Commit one event per label on the agency's channel; the cursor of the first."""
    from django.db import transaction

    from core.platform.channels import tenant_channel
    from outbox.emit import emit
    from outbox.models import OutboxEvent

    with transaction.atomic():
        emitted = [emit("bench.ping", aggregate_type="bench", aggregate_id=label, payload={"label": label},
                        channel=tenant_channel(tenant_id), tenant_id=tenant_id) for label in labels]
    first = OutboxEvent.objects.get(event_id=emitted[0].event_id)
    return f"{first.txid}-{first.id}"


# --- the rest of the site, during the storm ------------------------------------------------------


class SiteProbe:
    """An API write and a page of the same web process, every `every_s`, from a process of its
    own (so the storm client's work on this one does not add to the times), over one kept-alive
    connection as a browser's requests go, while it runs."""

    def __init__(self, session: Any, visit_path: str, every_s: float = 0.25) -> None:
        from bench.dispatch import Session

        self.session = Session(session.base_url, keep_alive=True)
        self.session.cookies = dict(session.cookies)
        self.visit_path, self.every_s = visit_path, every_s
        self.writes: list[float] = []
        self.pages: list[float] = []
        self.failures: list[str] = []
        context = multiprocessing.get_context("fork")
        self._stop = context.Event()
        self._results: Any = context.SimpleQueue()
        self._process = context.Process(target=self._loop, daemon=True)

    def start(self) -> None:
        self._process.start()

    def finish(self) -> None:
        self._stop.set()
        self.writes, self.pages, self.failures = self._results.get()
        self._process.join(10)

    def _loop(self) -> None:
        self.session.request("GET", "/healthz")  # the connection is open before the storm
        while not self._stop.is_set():
            self._timed(self.writes, "PATCH", self.visit_path, json.dumps({"priority": 2}).encode(),
                        {"Content-Type": "application/json",
                         "X-CSRFToken": self.session.cookies.get("csrftoken", "")})
            self._timed(self.pages, "GET", "/dispatch/")
            self._stop.wait(self.every_s)
        self._results.put((self.writes, self.pages, self.failures))

    def _timed(self, into: list[float], method: str, path: str, body: bytes | None = None,
               headers: dict[str, str] | None = None) -> None:
        started = time.monotonic()
        try:
            status, _ = self.session.request(method, path, body, headers)
        except OSError as exc:
            self.failures.append(f"{method} {path}: {exc}")
            return
        into.append(time.monotonic() - started)
        if status >= 400:
            self.failures.append(f"{method} {path}: HTTP {status}")


# --- one storm -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    url: str
    tenant_id: int
    sessions: list[str]
    per_user: int
    replay_from: str
    replay_labels: list[str]
    pid: int | None
    storm: bool


async def storm(plan: Plan, streams_wanted: int, probe: SiteProbe, label: str) -> dict[str, Any]:
    from asgiref.sync import sync_to_async

    cookie = lambda key: f"sessionid={key}"  # noqa: E731
    users = math.ceil(streams_wanted / plan.per_user)
    streams = [AsyncStream(plan.url, cookie(plan.sessions[n % users]),
                           last_event_id=plan.replay_from if n % 2 else None) for n in range(streams_wanted)]
    before = process_figures(plan.pid)
    probe.start()
    if plan.storm:
        open_s = await open_all(streams)
    else:
        started = time.monotonic()
        for wave in range(0, len(streams), 200):
            await open_all(streams[wave:wave + 200])
        open_s = time.monotonic() - started
    await asyncio.sleep(1)  # replays finish arriving
    during = process_figures(plan.pid)
    connections = await sync_to_async(web_connections)()
    probe.finish()
    opened = [s for s in streams if s.status == 200]
    for stream in opened:
        stream.watch = label
    committed = time.monotonic()
    await sync_to_async(publish)(plan.tenant_id, [label])
    await wait_for_watched(opened, 60)
    arrivals = [s.watched_at - committed for s in opened if s.watched_at is not None]
    replayed = [s for s in opened if s.last_event_id]
    complete = sum(1 for s in replayed if pings(s)[:len(plan.replay_labels)] == plan.replay_labels)
    for stream in streams:
        stream.close()
    statuses = [s.status for s in streams]
    return {
        "streams": streams_wanted, "opened": len(opened), "open_s": round(open_s, 2),
        "refused_4xx": sum(400 <= s < 500 for s in statuses), "errors_5xx": sum(s >= 500 for s in statuses),
        "connection_errors": sum(1 for s in streams if s.error),
        "threads_before": before["threads"], "threads": during["threads"], "rss_mib_before": before["rss_mib"],
        "rss_mib": during["rss_mib"], "db_connections": connections,
        "fanout_reached": len(arrivals), **{f"fanout_{k}": v for k, v in summary(arrivals).items()},
        "replays": len(replayed), "replays_complete_in_order": complete,
        **{f"api_write_{k}": v for k, v in summary(probe.writes).items() if k != "max_ms"},
        **{f"page_{k}": v for k, v in summary(probe.pages).items() if k != "max_ms"},
        "site_requests": len(probe.writes) + len(probe.pages), "site_failures": len(probe.failures),
    }


def pings(stream: AsyncStream) -> list[str]:
    """The labels of the benchmark's own events the stream received, in order."""
    return [e["aggregate"]["id"] for e in stream.events() if e["type"] == "bench.ping"]


ROWS = [("streams", "streams opened at once", ""), ("opened", "streams opened (200)", "all"),
        ("errors_5xx", "5xx answers", "0"), ("refused_4xx", "4xx answers", "0"),
        ("connection_errors", "connection errors", "0"), ("open_s", "seconds to open all", "<= 30"),
        ("threads", "web threads", "<= 50"), ("rss_mib", "web RSS, MiB", "<= 1024"),
        ("db_connections", "DB connections held by web", "<= pool (16)"),
        ("fanout_reached", "one event reached streams", "all"), ("fanout_p50_ms", "fan-out p50, ms", ""),
        ("fanout_p99_ms", "fan-out p99, ms", "<= 2000"), ("fanout_max_ms", "fan-out max, ms", ""),
        ("replays_complete_in_order", "replays complete and in order", "all replays"),
        ("api_write_p50_ms", "API write during storm p50, ms", ""),
        ("api_write_p99_ms", "API write during storm p99, ms", "<= 1000"),
        ("page_p50_ms", "page during storm p50, ms", ""), ("page_p99_ms", "page during storm p99, ms", "<= 1000"),
        ("site_failures", "site requests failed", "0")]


def table(results: Sequence[dict[str, Any]]) -> list[str]:
    lines = [f"{'figure':<36}" + "".join(f"{r['streams']:>12,}" for r in results) + "   target"]
    for key, label, target in ROWS:
        values = "".join(f"{r[key]:>12,}" if isinstance(r[key], int) else f"{r[key]:>12,.1f}" for r in results)
        lines.append(f"{label:<36}{values}   {target}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--compare", type=int, default=2_000, help="a smaller storm first, in the same run (0: none)")
    parser.add_argument("--storm", action="store_true", help="open every stream at once (else in waves of 200)")
    parser.add_argument("--per-user", type=int, default=5, help="streams per user (the server allows 8)")
    parser.add_argument("--replay-back", type=int, default=300, help="events a reconnecting stream missed")
    parser.add_argument("--agency", default="harbor", help="the agency's slug")
    parser.add_argument("--dispatcher", default="carol",
                        help="who makes the API writes and page requests (of another agency by default, so their "
                             "live events do not add to the storm's)")
    parser.add_argument("--password", default="ferry-demo")
    parser.add_argument("--pid", type=int, default=None, help="the web process (found by its port otherwise)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.config.settings")
    import django

    django.setup()
    allow_many_sockets()
    from bench.dispatch import Session
    from core.accounts.models import Tenant

    tenant_id = Tenant.objects.get(slug=args.agency).pk
    site = Session(args.url.rstrip("/"))
    site.login(args.dispatcher, args.password)
    status, body = site.request("GET", f"/api/dispatch/visits?date={time.strftime('%Y-%m-%d')}")
    visits = json.loads(body) if status == 200 else []
    if not visits:
        raise SystemExit("the agency has no visit today to edit during the storm (run `make up` for the demo)")
    sizes = [n for n in (args.compare, args.streams) if n > 0] if args.compare < args.streams else [args.streams]
    say = (lambda _line: None) if args.json else print
    sessions = make_sessions(tenant_id, math.ceil(max(sizes) / args.per_user))
    try:
        labels = [f"missed-{n}" for n in range(args.replay_back)]
        replay_from = publish(tenant_id, ["replay-from", *labels])
        plan = Plan(args.url, tenant_id, sessions, args.per_user, replay_from, labels, args.pid or web_pid(args.url),
                    args.storm)
        say(f"{len(sessions)} users of {args.agency}; web process {plan.pid}; "
            f"{args.replay_back} events to replay for half the streams")
        results = []
        for number, size in enumerate(sizes, start=1):
            probe = SiteProbe(site, f"/api/dispatch/visits/{visits[0]['id']}")
            say(f"storm {number}: {size} streams{' at once' if args.storm else ' in waves of 200'} ...")
            results.append(asyncio.run(storm(plan, size, probe, f"fan-out-{number}")))
            time.sleep(3)  # the server lets the closed streams go
    finally:
        remove_users()
    if args.json:
        print(json.dumps(results[-1] | {"compare": results[0] if len(results) > 1 else None}))
        return
    for line in table(results):
        print(line)


if __name__ == "__main__":
    main()
