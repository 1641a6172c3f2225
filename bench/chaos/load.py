"""A steady mixed load through the public API, and the ledger of what the API accepted.

Actors (threads) sign in as the demo users and act like people: a dispatcher edits visit
windows and asks for Optimize Day; a reviewer publishes, unpublishes and rolls back content
(new versions reviewed by a second reviewer); a learner submits code. Each actor owns its
objects, so the last accepted write to each is known: the checks compare it with the final
state. A write whose answer never arrived (connection reset, a 5xx during a database
restart) may or may not have happened; the ledger keeps it as an alternative outcome.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

DEMO_PASSWORD = "ferry-demo"  # noqa: S105 - the demo users' password (core/accounts/demo.py)

SOLUTION = "def add(a, b):\n    return a + b\n"
WRONG_SOLUTION = "def add(a, b):\n    return a - b\n"
TESTS = ("import solution\n\n\ndef test_adds():\n    assert solution.add(2, 3) == 5\n\n\n"
         "def test_adds_negatives():\n    assert solution.add(-2, -3) == -5\n")


@dataclass
class Outcome:
    """The last accepted value of one object, and values of writes whose answer was lost since."""

    accepted: Any = None
    uncertain: list[Any] = field(default_factory=list)

    def accept(self, value: Any) -> None:
        self.accepted, self.uncertain = value, []

    def allows(self, value: Any) -> bool:
        return value == self.accepted or value in self.uncertain


@dataclass
class Ledger:
    """Everything the load did and the API answered; thread-safe."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    writes_accepted: int = 0
    server_errors: list[tuple[float, str, str, int]] = field(default_factory=list)
    transport_errors: list[tuple[float, str, str, str]] = field(default_factory=list)
    visits: dict[int, Outcome] = field(default_factory=dict)
    live: dict[int, Outcome] = field(default_factory=dict)   # content id -> live version id
    problems: set[int] = field(default_factory=set)
    jobs: set[int] = field(default_factory=set)
    submissions: set[int] = field(default_factory=set)
    invalid_writes: int = 0
    violations: list[str] = field(default_factory=list)

    def answered(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[status] += 1
            if method != "GET" and 200 <= status < 300:
                self.writes_accepted += 1
            if status >= 500:
                self.server_errors.append((time.time(), method, path, status))

    def refused(self, what: str, response: httpx.Response | None) -> None:
        """An invalid write was sent: a 4xx (or no answer) is right, and a 5xx is judged with the
        other 5xx answers (allowed during a PostgreSQL restart); an acceptance is a violation."""
        with self.lock:
            self.invalid_writes += 1
            if response is not None and response.status_code < 400:
                self.violations.append(f"invalid write {what} answered {response.status_code}")

    def lost_answer(self, method: str, path: str, error: str) -> None:
        with self.lock:
            self.requests += 1
            self.transport_errors.append((time.time(), method, path, error))


class ApiClient:
    """A signed-in user's session: CSRF token, JSON calls, every answer written to the ledger."""

    def __init__(self, base_url: str, username: str, ledger: Ledger) -> None:
        self.username, self.ledger = username, ledger
        self.http = httpx.Client(base_url=base_url, timeout=15.0)
        self.sign_in()

    def sign_in(self) -> None:
        self.http.get("/accounts/login/")
        token = self.http.cookies.get("csrftoken", "")
        response = self.http.post("/accounts/login/", data={
            "username": self.username, "password": DEMO_PASSWORD, "csrfmiddlewaretoken": token})
        if response.status_code != 302:
            raise RuntimeError(f"{self.username} could not sign in ({response.status_code})")

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """The response, or None when no answer came (the ledger counts both)."""
        headers = {"X-CSRFToken": self.http.cookies.get("csrftoken") or ""}
        try:
            response = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            self.ledger.lost_answer(method, path, type(exc).__name__)
            return None
        self.ledger.answered(method, path, response.status_code)
        return response

    def close(self) -> None:
        self.http.close()


def ok(response: httpx.Response | None, *statuses: int) -> bool:
    return response is not None and response.status_code in (statuses or (200,))


def unanswered(response: httpx.Response | None) -> bool:
    """No answer, or a server error: the write may or may not have happened."""
    return response is None or response.status_code >= 500


class Actor(threading.Thread):
    def __init__(self, name: str, stop: threading.Event, rng: random.Random, pace_s: float) -> None:
        super().__init__(name=name, daemon=True)
        self.stop, self.rng, self.pace_s = stop, rng, pace_s
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.act()
            except Exception as exc:  # an actor must outlive any answer; the ledger has it
                self.failures.append(f"{type(exc).__name__}: {exc}")
            self.stop.wait(self.pace_s * self.rng.uniform(0.5, 1.5))

    def act(self) -> None:
        raise NotImplementedError


class Dispatcher(Actor):
    """Moves visit windows around the day and, now and then, asks for Optimize Day."""

    def __init__(self, client: ApiClient, day: dt.date, visit_ids: list[int], **kwargs: Any) -> None:
        super().__init__("dispatcher", **kwargs)
        self.client, self.day, self.visit_ids = client, day, visit_ids

    def act(self) -> None:
        if self.rng.random() < 0.15:
            response = self.client.call("POST", "/api/dispatch/optimize-day", json={"date": self.day.isoformat()})
            if ok(response, 202):
                assert response is not None
                with self.client.ledger.lock:
                    self.client.ledger.jobs.add(response.json()["job_id"])
            return
        visit_id = self.rng.choice(self.visit_ids)
        start = dt.time(self.rng.randint(7, 14), self.rng.choice((0, 15, 30, 45)))
        end = dt.time(start.hour + self.rng.randint(2, 4), start.minute)
        invalid = self.rng.random() < 0.05  # a window that ends before it starts: must change nothing
        if invalid:
            start, end = end, start
        window = (start.isoformat(timespec="seconds"), end.isoformat(timespec="seconds"))
        response = self.client.call("PATCH", f"/api/dispatch/visits/{visit_id}",
                                    json={"window_start": window[0], "window_end": window[1]})
        outcome = self.client.ledger.visits.setdefault(visit_id, Outcome())
        if invalid:
            self.client.ledger.refused(f"PATCH visit {visit_id} {window}", response)
        elif ok(response):
            outcome.accept(window)
        elif unanswered(response):
            outcome.uncertain.append(window)


class Reviewer(Actor):
    """Publishes new versions (reviewed by a colleague), unpublishes, rolls back."""

    def __init__(self, author: ApiClient, approver: ApiClient, content_ids: list[int], **kwargs: Any) -> None:
        super().__init__("reviewer", **kwargs)
        self.author, self.approver, self.content_ids = author, approver, content_ids
        self.published: dict[int, list[int]] = {c: [] for c in content_ids}

    def act(self) -> None:
        content_id = self.rng.choice(self.content_ids)
        choice = self.rng.random()
        if choice < 0.6 or not self.published[content_id]:
            self.publish_new_version(content_id)
        elif choice < 0.8:
            self.change_live(content_id, "unpublish", {}, None)
        else:
            version_id = self.rng.choice(self.published[content_id])
            self.change_live(content_id, "rollback", {"version_id": version_id}, version_id)

    def publish_new_version(self, content_id: int) -> None:
        stamp = f"{time.time():.3f}"
        body = {"title": f"Chaos content {content_id} at {stamp}",
                "body": f"Wound care drill {stamp}: clean, dress, record.",
                "tests": TESTS if content_id in self.author.ledger.problems else ""}
        response = self.author.call("POST", f"/api/contents/{content_id}/versions", json=body)
        if not ok(response, 201):
            return
        assert response is not None
        version_id = response.json()["id"]
        if not ok(self.author.call("POST", f"/api/versions/{version_id}/submit")):
            return
        decision = "approve" if self.rng.random() < 0.85 else "request_changes"
        review = self.approver.call("POST", f"/api/versions/{version_id}/review",
                                    json={"decision": decision, "comment": f"@{self.author.username} looks right"})
        if decision != "approve" or not ok(review, 201):
            return
        self.change_live(content_id, "publish", {}, version_id, path=f"/api/versions/{version_id}/publish")

    def change_live(self, content_id: int, action: str, body: dict[str, Any], expected: int | None,
                    path: str | None = None) -> None:
        response = self.author.call("POST", path or f"/api/contents/{content_id}/{action}", json=body)
        outcome = self.author.ledger.live.setdefault(content_id, Outcome())
        if ok(response):
            assert response is not None
            live = response.json()["live_version_id"]
            outcome.accept(live)
            if action == "publish" and live is not None:
                self.published[content_id].append(live)
        elif unanswered(response):
            outcome.uncertain.append(expected)
            if action == "publish" and expected is not None:
                self.published[content_id].append(expected)


class Learner(Actor):
    """Submits code, right or wrong, to whichever problems are live."""

    def __init__(self, client: ApiClient, **kwargs: Any) -> None:
        super().__init__("learner", **kwargs)
        self.client = client

    def act(self) -> None:
        ledger = self.client.ledger
        with ledger.lock:
            live = [c for c in ledger.problems if ledger.live.get(c, Outcome()).accepted is not None]
        if not live:
            return
        source = SOLUTION if self.rng.random() < 0.7 else WRONG_SOLUTION
        response = self.client.call("POST", f"/api/problems/{self.rng.choice(live)}/submissions",
                                    json={"source": source})
        if ok(response, 202):
            assert response is not None
            with ledger.lock:
                ledger.submissions.add(response.json()["id"])
