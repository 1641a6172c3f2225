"""The learning loop in the running system: a reviewer publishes a problem, a learner finds it
in search, submits code, and the grade arrives live on the learner's stream, from a real web
process, relay and worker grading in the real sandbox."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from bench.sse import Stream
from core.accounts.models import User
from core.learning.models import GradingAttempt, Submission
from tests.helpers.processes import processes, start_relay, start_web, start_worker, wait_until
from tests.helpers.web import cookies_of, open_stream, sign_in

pytestmark = pytest.mark.usefixtures("outbox_db", "broker")


TESTS = "import solution\n\n\ndef test_adds():\n    assert solution.add(1, 2) == 3\n\n\ndef test_negatives():\n" \
        "    assert solution.add(-2, -3) == -5\n"


def post(client: Client, user: User, path: str, data: dict[str, object] | None = None) -> dict[str, Any]:
    sign_in(client, user)
    response = client.post(path, data or {}, content_type="application/json")
    assert response.status_code in (200, 201, 202), response.content
    return dict(response.json())


def next_grade(stream: Stream, submission_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        block = stream.next_block(remaining)
        if block is None or block.data is None:
            continue
        event = block.message
        if event["type"] == "submission.graded" and event["payload"]["submission_id"] == submission_id:
            return dict(event)
    raise AssertionError(f"no live grade for submission {submission_id} within {timeout} s")


def test_a_published_problem_is_found_submitted_and_graded_live(log_dir: Path, bob: User, rita: User,
                                                                  lena: User) -> None:
    client = Client()
    with ExitStack() as running:  # every process started is stopped, also if a later one fails to start
        web, base_url = start_web(log_dir)
        running.enter_context(processes(web))
        running.enter_context(processes(start_relay(log_dir)))
        running.enter_context(processes(start_worker(log_dir)))
        stream = open_stream(base_url, cookies_of(lena))
        running.callback(stream.close)
        draft = post(client, bob, "/api/problems", {
            "title": "Add two doses", "body": "Write `add(a, b)` returning the total dose.", "tests": TESTS})
        post(client, bob, f"/api/versions/{draft['id']}/submit")
        post(client, rita, f"/api/versions/{draft['id']}/review", {"decision": "approve"})
        post(client, bob, f"/api/versions/{draft['id']}/publish")

        sign_in(client, lena)
        hits = wait_until(lambda: client.get("/api/search", {"q": "total dose"}).json()["results"], 30,
                          message="the published problem to be searchable")
        assert [h["content_id"] for h in hits] == [draft["content_id"]]

        passing = post(client, lena, f"/api/problems/{draft['content_id']}/submissions",
                       {"source": "def add(a, b):\n    return a + b\n"})
        live = next_grade(stream, passing["id"])
        assert (live["payload"]["status"], live["payload"]["passed"], live["payload"]["total"]) == ("passed", 2, 2)

        failing = post(client, lena, f"/api/problems/{draft['content_id']}/submissions",
                       {"source": "def add(a, b):\n    return abs(a) + abs(b)\n"})
        assert next_grade(stream, failing["id"])["payload"]["status"] == "failed"

    detail = client.get(f"/api/submissions/{failing['id']}").json()
    assert [t["status"] for t in detail["attempts"][0]["tests"]] == ["passed", "failed"]
    assert "AssertionError" in detail["attempts"][0]["tests"][1]["output"]
    assert Submission.objects.get(id=passing["id"]).status == "passed"
    assert GradingAttempt.objects.filter(isolation="bubblewrap").count() == 2
