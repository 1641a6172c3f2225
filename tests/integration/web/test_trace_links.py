"""A submission, an Optimize Day job and a route plan link to their trace for the people who
may read traces (auditors, ops, the read-only ops role), and for nobody else."""

from __future__ import annotations

import pytest
from django.test import Client

from core.accounts.models import Tenant, User
from core.learning import services as learning
from core.platform.roles import Role
from tests.helpers.dispatch import DAY, add_clinician, add_visit, optimize_now
from tests.helpers.learning import ADD_TESTS, published
from tests.helpers.people import make_user
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


def problem_page(client: Client, user: User, bob: User) -> tuple[str, int]:
    version = published(bob, bob, kind="problem", title="Add two numbers", body="Write add.", tests=ADD_TESTS)
    submission = learning.submit_solution(version.content_id, user, "def add(a, b):\n    return a + b\n")
    sign_in(client, user)
    return client.get(f"/learning/problems/{version.content_id}/").content.decode(), submission.id


def test_a_learner_who_also_runs_ops_follows_a_submission_to_its_trace(client: Client, harbor: Tenant,
                                                                        bob: User) -> None:
    olive = make_user("olive", harbor, Role.LEARNER, Role.OPS)
    page, submission_id = problem_page(client, olive, bob)
    link = f"/audit/trace/?aggregate_type=submission&amp;aggregate_id={submission_id}"
    assert link in page
    assert 'data-trace-url="/audit/trace/"' in page
    trace = client.get(link.replace("&amp;", "&")).content.decode()
    assert "submission.received" in trace


def test_a_learner_alone_sees_no_trace_links(client: Client, lena: User, bob: User) -> None:
    page, _ = problem_page(client, lena, bob)
    assert "/audit/trace/" not in page


def test_the_day_board_links_the_job_and_the_plan_to_their_trace_for_an_auditing_dispatcher(
        client: Client, harbor: Tenant) -> None:
    add_clinician(harbor)
    add_visit(harbor)
    job = optimize_now(harbor, DAY)
    dana = make_user("dana", harbor, Role.DISPATCHER, Role.AUDITOR)
    sign_in(client, dana)
    board = client.get(f"/dispatch/day/{DAY.isoformat()}/").content.decode()
    assert f"aggregate_type=optimize_job&amp;aggregate_id={job.pk}" in board
    assert "aggregate_type=route_plan&amp;aggregate_id=" in board
    alice = make_user("alice2", harbor, Role.DISPATCHER)
    sign_in(client, alice)
    assert "/audit/trace/" not in client.get(f"/dispatch/day/{DAY.isoformat()}/").content.decode()
