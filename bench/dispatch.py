"""Optimize Day, end to end: time from the POST to the schedule.optimized event on the stream.

Runs against a running system (web, relay, worker; e.g. `make up`), signed in as a
dispatcher through the login page like a browser:

    .venv/bin/python -m bench.dispatch --url http://127.0.0.1:8000 --runs 3

For each run it opens the live stream, waits until it is connected, POSTs
/api/dispatch/optimize-day for the day (default: the demo day, today) and prints when each of
the job's events arrived on the stream, relative to the POST. The solve itself takes the
worker's OPTIMIZE_TIME_LIMIT_S (the search uses its whole limit); the rest is overhead.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench.sse import Stream


class Session:
    """Cookies of a browser-like session against one base URL. With `keep_alive`, requests
    share one connection, as a browser's do (a new connection per request otherwise)."""

    def __init__(self, base_url: str, keep_alive: bool = False) -> None:
        self.base_url = base_url
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.cookies: dict[str, str] = {}
        self.keep_alive = keep_alive
        self._connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        connection = self._connection or http.client.HTTPConnection(self.host, self.port, timeout=30)
        all_headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **(headers or {})}
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            self._connection = None
            raise
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        if self.keep_alive and not response.will_close:
            self._connection = connection
        else:
            connection.close()
            self._connection = None
        return response.status, data

    def login(self, username: str, password: str) -> None:
        status, page = self.request("GET", "/accounts/login/")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or match is None:
            raise SystemExit(f"no login form at {self.base_url}/accounts/login/ (HTTP {status})")
        form = urlencode({"username": username, "password": password,
                          "csrfmiddlewaretoken": match.group(1).decode()}).encode()
        status, _ = self.request("POST", "/accounts/login/", form,
                                 {"Content-Type": "application/x-www-form-urlencoded",
                                  "Referer": f"{self.base_url}/accounts/login/"})
        if status != 302 or "sessionid" not in self.cookies:
            raise SystemExit(f"signing in as {username} failed (HTTP {status})")

    def post_json(self, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, body = self.request("POST", path, json.dumps(payload).encode(),
                                    {"Content-Type": "application/json",
                                     "X-CSRFToken": self.cookies.get("csrftoken", "")})
        return status, json.loads(body)


@dataclass
class Run:
    job_id: int = 0
    posted_at: float = 0.0
    arrivals: dict[str, float] = field(default_factory=dict)  # event type -> seconds after the POST
    solve_seconds: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)


def _follow(stream: Stream, run: Run, timeout: float) -> None:
    """Record when each event of the run's job arrives, until schedule.optimized (or failure)."""
    for message in stream.messages(timeout):
        payload = message.get("payload", {})
        if run.job_id and payload.get("job_id") == run.job_id:
            run.arrivals.setdefault(message["type"], time.monotonic() - run.posted_at)
            if message["type"] == "schedule.optimized":
                run.solve_seconds = float(payload["solve_seconds"])
            if message["type"] in ("schedule.optimized", "optimize.failed"):
                break
    run.done.set()


def measure(session: Session, day: date, timeout: float) -> Run:
    stream = Stream(session.base_url, cookies=session.cookies, timeout=timeout)
    if stream.status != 200:
        raise SystemExit(f"the live stream answered HTTP {stream.status}: {stream.body()[:200]!r}")
    stream.next_block(timeout)  # the first block: the stream is subscribed
    run = Run()
    reader = threading.Thread(target=_follow, args=(stream, run, timeout), daemon=True)
    run.posted_at = time.monotonic()
    status, body = session.post_json("/api/dispatch/optimize-day", {"date": day.isoformat()})
    if status != 202:
        raise SystemExit(f"optimize-day answered HTTP {status}: {body}")
    run.job_id = int(body["job_id"])
    reader.start()
    if not run.done.wait(timeout):
        raise SystemExit(f"no schedule.optimized for job {run.job_id} within {timeout} s")
    stream.close()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="alice")
    parser.add_argument("--password", default="ferry-demo")
    parser.add_argument("--date", type=date.fromisoformat, default=date.today(),
                        help="the day to optimize (default: today, the demo day)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    session = Session(args.url.rstrip("/"))
    session.login(args.username, args.password)
    print(f"Optimize Day {args.date} at {args.url} as {args.username}; seconds after the POST:")
    print(f"{'run':>4} {'job':>6} {'queued':>8} {'started':>8} {'optimized':>10} {'solve':>7} {'overhead':>9}")
    totals = []
    for number in range(1, args.runs + 1):
        run = measure(session, args.date, args.timeout)
        arrived = run.arrivals
        total = arrived.get("schedule.optimized", float("nan"))
        totals.append(total)
        print(f"{number:>4} {run.job_id:>6} {arrived.get('optimize.queued', float('nan')):>8.3f} "
              f"{arrived.get('optimize.started', float('nan')):>8.3f} {total:>10.3f} {run.solve_seconds:>7.3f} "
              f"{total - run.solve_seconds:>9.3f}")
    print(f"POST -> schedule.optimized on the stream: median {statistics.median(totals):.3f} s "
          f"over {len(totals)} run(s)")


if __name__ == "__main__":
    main()
