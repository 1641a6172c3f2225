"""Submitting code: 202 with the id, the row and its grading event commit together, other
agencies' problems and submissions are 404, and the per-user rate limit answers 429."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.db import connection
from django.test import Client, override_settings
from django_redis import get_redis_connection
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.accounts.models import User
from core.learning import ratelimit, services
from core.learning.models import Content, Kind, Submission
from tests.helpers.learning import approved, published
from tests.helpers.outbox import events_of
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db

SOLUTION = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def problem(bob: User) -> Content:
    version = published(bob, bob, kind=Kind.PROBLEM, title="Add two doses", body="Write `add(a, b)`.")
    return Content.objects.get(id=version.content_id)


def submit(client: Client, user: User, problem_id: int, source: str = SOLUTION) -> Any:
    sign_in(client, user)
    return client.post(f"/api/problems/{problem_id}/submissions", {"source": source},
                       content_type="application/json")


@pytest.mark.usefixtures("outbox_db")  # committed for real: one top-level transaction, no savepoints
def test_a_submission_is_accepted_with_202_and_its_grading_event_commits_with_it(
        client: Client, lena: User, problem: Content) -> None:
    response = submit(client, lena, problem.id)
    assert response.status_code == 202
    body = response.json()
    submission = Submission.objects.get(id=body["id"])
    assert (body["status"], submission.status, submission.version_id) == ("queued", "queued", problem.live_version_id)
    [event] = events_of("submission.received")
    assert (event.task_name, event.queue, event.payload) == (
        "learning.grade_submission", "interactive", {"submission_id": submission.id})
    with connection.cursor() as cursor:
        cursor.execute("SELECT xmin::text::bigint FROM learning_submission WHERE id = %s", [submission.id])
        (xmin,) = cursor.fetchone()
    assert event.txid % 2**32 == xmin  # written by the same transaction as the row


def test_another_agencys_problem_is_404(client: Client, carol: User, problem: Content) -> None:
    response = submit(client, carol, problem.id)
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    assert not Submission.objects.exists()


def test_an_unpublished_problem_and_a_lesson_are_404(client: Client, bob: User, lena: User) -> None:
    draft = approved(bob, bob, kind=Kind.PROBLEM)
    lesson = published(bob, bob)
    assert submit(client, lena, draft.content_id).status_code == 404
    assert submit(client, lena, lesson.content_id).status_code == 404
    assert submit(client, lena, 987654).status_code == 404


@pytest.mark.parametrize("source", ["", "   \n", "x" * (64 * 1024 + 1)])
def test_empty_or_huge_source_is_a_400_naming_source(client: Client, lena: User, problem: Content,
                                                       source: str) -> None:
    response = submit(client, lena, problem.id, source)
    assert (response.status_code, response.json()["field"]) == (400, "source")


def test_only_its_learner_and_reviewers_see_a_submission(client: Client, lena: User, bob: User, carol: User,
                                                         harbor: object, problem: Content) -> None:
    from core.platform.roles import Role
    from tests.helpers.people import make_user

    submission_id = submit(client, lena, problem.id).json()["id"]
    other_learner = make_user("omar", harbor, Role.LEARNER)  # type: ignore[arg-type]
    for user, status in ((lena, 200), (bob, 200), (other_learner, 404), (carol, 404)):
        sign_in(client, user)
        assert client.get(f"/api/submissions/{submission_id}").status_code == status, user.username


@override_settings(SUBMISSION_RATE_LIMIT=2, SUBMISSION_RATE_WINDOW_S=60)
def test_over_the_rate_limit_is_a_429_with_retry_after(client: Client, lena: User, problem: Content) -> None:
    assert [submit(client, lena, problem.id).status_code for _ in range(2)] == [202, 202]
    refused = submit(client, lena, problem.id)
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert Submission.objects.count() == 2
    keys = get_redis_connection("default").keys("rl:*")
    assert [k.decode().split(":")[:3] for k in keys] == [["rl", "submissions", str(lena.id)]]


@override_settings(SUBMISSION_RATE_LIMIT=1)
def test_the_rate_limit_is_per_user(client: Client, lena: User, harbor: object, problem: Content) -> None:
    from core.platform.roles import Role
    from tests.helpers.people import make_user

    assert submit(client, lena, problem.id).status_code == 202
    assert submit(client, lena, problem.id).status_code == 429
    assert submit(client, make_user("omar", harbor, Role.LEARNER), problem.id).status_code == 202  # type: ignore[arg-type]


@override_settings(SUBMISSION_RATE_LIMIT=1)
def test_refused_requests_do_not_use_up_the_allowance(client: Client, lena: User, problem: Content) -> None:
    assert submit(client, lena, 987654).status_code == 404
    assert submit(client, lena, problem.id, "").status_code == 400
    assert submit(client, lena, problem.id).status_code == 202


@override_settings(SUBMISSION_RATE_LIMIT=1)
def test_without_the_cache_the_limit_is_counted_in_postgres(monkeypatch: pytest.MonkeyPatch, client: Client,
                                                             lena: User, problem: Content) -> None:
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(ratelimit, "get_redis_connection", lambda alias: unreachable)
    assert submit(client, lena, problem.id).status_code == 202
    refused = submit(client, lena, problem.id)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0


def test_dispatchers_cannot_submit(client: Client, alice: User, problem: Content) -> None:
    assert submit(client, alice, problem.id).status_code == 403


def test_submit_solution_refuses_staff_without_a_tenant(problem: Content) -> None:
    from core.platform.errors import NotFound

    staff = User.objects.create_user(username="root", password="pw", is_staff=True)
    with pytest.raises(NotFound):
        services.submit_solution(problem.id, staff, SOLUTION)


@pytest.mark.parametrize(("source", "message"), [
    (" \n\t" * 350_000, "source must not be empty"),  # a megabyte of whitespace
    ("x = 1\n" * 175_000, "source is larger than 64 KiB"),  # a megabyte of code
])
def test_a_megabyte_of_whitespace_or_of_code_is_refused_naming_source(
        client: Client, lena: User, problem: Content, source: str, message: str) -> None:
    response = submit(client, lena, problem.id, source)
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["message"]) == ("source", message)
    assert not Submission.objects.exists()
