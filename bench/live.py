"""What idle live streams cost a web process, and how fast one event reaches all of them.

Runs against a running system (web and relay; e.g. `make up`), with this machine's settings
for the database (it commits the test events itself):

    .venv/bin/python -m bench.live --url http://127.0.0.1:8000 --streams 1000 --pid <web pid>

It signs in (as alice by default), opens N streams and waits until each is subscribed, then
prints the web process's threads and memory (with --pid) and its database connections, and
for a few events committed on the agency's channel, the time until every stream had it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any


def _process_figures(pid: int | None) -> str:
    if pid is None:
        return "threads/RSS: pass --pid to see them"
    threads = len(os.listdir(Path("/proc") / str(pid) / "task"))
    status = (Path("/proc") / str(pid) / "status").read_text()
    rss = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
    return f"threads {threads}, RSS {int(rss) / 1024:.0f} MiB"


def _web_connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ferry-web' "
                       "AND datname = current_database()")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _publish(tenant_id: int, label: str) -> None:
    from django.db import transaction

    from core.platform.channels import tenant_channel
    from outbox.emit import emit

    with transaction.atomic():
        emit("bench.ping", aggregate_type="bench", aggregate_id=label, payload={"label": label},
             channel=tenant_channel(tenant_id), tenant_id=tenant_id)


def _await_label(stream: Any, label: str, arrivals: list[float]) -> None:
    """Record when the event labelled `label` reaches `stream`."""
    for message in stream.messages(30):
        if message["aggregate"]["id"] == label:
            arrivals.append(time.monotonic())
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="alice")
    parser.add_argument("--password", default="ferry-demo")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--pid", type=int, default=None, help="the web process, for its threads and memory")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.config.settings")
    import django

    django.setup()
    from bench.dispatch import Session
    from bench.sse import Stream
    from core.accounts.models import User

    session = Session(args.url.rstrip("/"))
    session.login(args.username, args.password)
    tenant_id = User.objects.get(username=args.username).tenant_id
    assert tenant_id is not None
    print(f"before: {_process_figures(args.pid)}, database connections {_web_connections()}")
    started = time.monotonic()
    streams: list[Stream] = []
    for _ in range(args.streams):
        stream = Stream(session.base_url, cookies=session.cookies, timeout=60)
        if stream.status != 200 or stream.next_block(30) is None:
            raise SystemExit(f"stream {len(streams) + 1} failed: HTTP {stream.status}")
        streams.append(stream)
    print(f"{args.streams} streams subscribed in {time.monotonic() - started:.1f} s")
    time.sleep(1)
    print(f"idle:   {_process_figures(args.pid)}, database connections {_web_connections()}")

    for number in range(1, args.events + 1):
        label = f"ping-{number}"
        arrivals: list[float] = []  # list.append is atomic: the readers need no lock
        readers = [threading.Thread(target=_await_label, args=(stream, label, arrivals), daemon=True)
                   for stream in streams]
        for reader in readers:
            reader.start()
        sent = time.monotonic()
        _publish(tenant_id, label)
        for reader in readers:
            reader.join(60)
        delays = sorted(arrival - sent for arrival in arrivals)
        print(f"event {number}: reached {len(delays)}/{len(streams)} streams; "
              f"first {delays[0] * 1000:.0f} ms, median {statistics.median(delays) * 1000:.0f} ms, "
              f"last {delays[-1] * 1000:.0f} ms after the commit")
    print(f"after:  {_process_figures(args.pid)}, database connections {_web_connections()}")
    for stream in streams:
        stream.close()


if __name__ == "__main__":
    main()
