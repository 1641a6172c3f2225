"""Reputation (core/learning/reputation.py): points awarded by the writes that make them true,
once each; the nightly heal recomputes them from the truth and finds nothing to repair after
any sequence of events; a forced drift is repaired by the recount task and recorded."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core.accounts.models import Tenant, User
from core.learning import reputation, services
from core.learning.models import Content, Kind, Review
from core.platform.roles import Role
from tests.helpers.learning import approved, published
from tests.helpers.outbox import deliver, events_of, execute, pending_tasks
from tests.helpers.people import make_user
from tests.support.graders import FakeGrader, report

# Grading runs as the worker runs it (no transaction open around the sandbox): committed data.
pytestmark = pytest.mark.usefixtures("outbox_db")
EXAMPLES = iter(range(1_000_000))


def solve(grader: FakeGrader, learner: User, problem_id: int, passed: bool) -> None:
    """A submission graded as the worker grades it (the fake grader answers)."""
    grader.report = report("passed" if passed else "failed", ("test_adds", "passed" if passed else "failed", ""))
    services.submit_solution(problem_id, learner, "def add(a, b):\n    return a + b\n")
    for event in pending_tasks("learning.grade_submission"):
        execute(event)


def points(user: User) -> int:
    return reputation.points_of([user.id])[user.id]


def test_each_thing_earns_its_points_once(grader: FakeGrader, bob: User, rita: User, lena: User) -> None:
    problem = published(bob, rita, kind=Kind.PROBLEM, title="Add two doses")
    assert points(bob) == reputation.APPROVAL_POINTS  # bob's version was approved by rita
    solve(grader, lena, problem.content_id, passed=False)
    assert points(lena) == 0
    solve(grader, lena, problem.content_id, passed=True)
    solve(grader, lena, problem.content_id, passed=True)  # a second accepted solution: nothing more
    assert points(lena) == reputation.SOLUTION_POINTS
    changed = events_of("reputation.changed", aggregate_id=str(lena.id))
    assert [e.payload["points"] for e in changed] == [reputation.SOLUTION_POINTS]
    assert changed[0].channel == f"tenant:{lena.tenant_id}:user:{lena.id}:events"


def test_replies_count_once_per_approved_version_of_someone_else(bob: User, rita: User, harbor: Tenant) -> None:
    carla = make_user("carla", harbor, Role.REVIEWER)
    version = services.create_content(bob, Kind.LESSON, "Gloves", "Change gloves between patients.", "")
    services.submit_for_review(version.id, bob)
    decision = services.review_version(version.id, rita, "request_changes", "Cite the guideline.")
    services.reply_to_review(decision.id, carla, "Agreed.")
    services.reply_to_review(decision.id, bob, "Done.")  # the author's own reply earns nothing
    assert points(carla) == 0  # not approved yet
    second = services.create_version(version.content_id, bob, "Gloves", "Change gloves, per the guideline.", "")
    services.submit_for_review(second.id, bob)
    approval = services.review_version(second.id, rita, "approve")
    services.reply_to_review(approval.id, carla, "Nice.")
    services.reply_to_review(approval.id, carla, "Really nice.")
    assert points(carla) == reputation.REPLY_POINTS  # once, for the approved version
    assert points(bob) == reputation.APPROVAL_POINTS
    assert reputation.drifted(harbor.pk) == []


ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("solve"), st.integers(0, 2), st.integers(0, 1), st.booleans()),
    st.tuples(st.just("write"), st.integers(0, 1), st.sampled_from(["approve", "request_changes"])),
    st.tuples(st.just("reply"), st.integers(0, 2), st.integers(0, 5)),
), min_size=1, max_size=12)


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_the_nightly_recount_equals_the_incremental_points_after_any_sequence(
        grader: FakeGrader, actions: list[tuple[Any, ...]]) -> None:
    n = next(EXAMPLES)  # each example in an agency of its own (the data is committed)
    agency = Tenant.objects.create(name=f"Agency {n}", slug=f"agency-{n}")
    learners = [make_user(f"a{n}-learner-{i}", agency, Role.LEARNER) for i in range(3)]
    writers = [make_user(f"a{n}-writer-{i}", agency, Role.REVIEWER) for i in range(2)]
    judge = make_user(f"a{n}-judge", agency, Role.REVIEWER)
    problems = [published(writers[0], judge, kind=Kind.PROBLEM, title=f"Problem {i}").content_id
                for i in range(2)]
    reviews: list[Review] = []
    for action in actions:
        if action[0] == "solve":
            solve(grader, learners[action[1]], problems[action[2]], action[3])
        elif action[0] == "write":
            version = approved(writers[action[1]], judge) if action[2] == "approve" else None
            if version is None:
                draft = services.create_content(writers[action[1]], Kind.LESSON, "A draft", "Body.", "")
                services.submit_for_review(draft.id, writers[action[1]])
                services.review_version(draft.id, judge, "request_changes", "More, please.")
            reviews.append(Review.objects.filter(tenant=agency).order_by("-id")[0])
        elif reviews:
            people = [*writers, judge]
            services.reply_to_review(reviews[action[2] % len(reviews)].id, people[action[1]], "A thought.")
    assert reputation.drifted(agency.pk) == []
    assert reputation.heal_reputation(tenant_id=agency.pk, dry_run=True).repairs == []


def test_a_forced_drift_is_found_repaired_and_recorded(grader: FakeGrader, bob: User, rita: User, lena: User,
                                                      harbor: Tenant) -> None:
    problem = published(bob, rita, kind=Kind.PROBLEM, title="Add two doses")
    solve(grader, lena, problem.content_id, passed=True)
    with connection.cursor() as cursor:  # drift: a lost award, and a total that is off
        cursor.execute("UPDATE learning_reputation SET points = points + 7 WHERE user_id = %s", [lena.id])
        cursor.execute("DELETE FROM learning_reputationaward WHERE user_id = %s", [bob.id])
    assert sorted(reputation.drifted(harbor.pk)) == sorted([(harbor.pk, bob.id), (harbor.pk, lena.id)])
    result = reputation.heal_reputation(tenant_id=harbor.pk, heal_run_id=None)
    assert {r.target for r in result.repairs} == {f"user:{bob.id}", f"user:{lena.id}"}
    assert reputation.confirm_reputation_repairs(result.repairs) == []  # not yet: the recounts are queued
    assert deliver("learning.recount_reputation") == 2
    assert reputation.drifted(harbor.pk) == []
    assert points(lena) == reputation.SOLUTION_POINTS
    assert points(bob) == reputation.APPROVAL_POINTS
    repaired = {e.payload["user_id"]: (e.payload["before"], e.payload["points"], e.payload["awards_added"])
                for e in events_of("reputation.repaired")}
    assert repaired == {lena.id: (reputation.SOLUTION_POINTS + 7, reputation.SOLUTION_POINTS, 0),
                        bob.id: (reputation.APPROVAL_POINTS, reputation.APPROVAL_POINTS, 1)}
    assert len(reputation.confirm_reputation_repairs(result.repairs)) == 2


def test_the_heal_is_registered_and_another_agency_is_not_touched(bob: User, rita: User, carol: User) -> None:
    from core.platform.heals import HEALS

    assert "reputation" in HEALS
    published(bob, rita, kind=Kind.LESSON, title="Gloves")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE learning_reputation SET points = 99 WHERE user_id = %s", [bob.id])
    assert carol.tenant_id is not None
    assert reputation.heal_reputation(tenant_id=carol.tenant_id, dry_run=True).repairs == []
    assert Content.objects.count() == 1
