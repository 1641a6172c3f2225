"""The nightly search quality score (core/learning/quality.py): what it weighs, that search
ranks by it among equally relevant hits, that a second run changes nothing, and that each
agency is scored on its own data."""

from __future__ import annotations

import pytest

from core.accounts.models import Tenant, User
from core.learning import quality, selectors, services
from core.learning.models import ContentQuality, Kind, Submission
from core.platform.roles import Role
from tests.helpers.learning import published
from tests.helpers.outbox import deliver, execute, pending_tasks
from tests.helpers.people import make_user

pytestmark = pytest.mark.usefixtures("outbox_db")

BODY = "Write `dose(weight)` for the wound dressing dose."
TESTS = "import solution\n\ndef test_dose():\n    assert solution.dose(10) == 1\n"


def problem(bob: User, title: str) -> int:
    """A published problem, in the search index (the indexing task run as a worker would)."""
    content_id = published(bob, bob, kind=Kind.PROBLEM, title=title, body=BODY, tests=TESTS).content_id
    deliver("learning.index_content")
    return content_id


def submissions(problem_id: int, learners: list[User], status: str) -> None:
    for learner in learners:
        made = services.submit_solution(problem_id, learner, "def dose(w):\n    return w // 10\n")
        Submission.objects.filter(id=made.id).update(status=status)  # as graded


def score_every_agency() -> None:
    quality.plan_quality_scores()
    for event in pending_tasks("learning.score_content_quality"):
        execute(event)


def test_among_equally_relevant_problems_the_better_used_one_ranks_first(
        bob: User, harbor: Tenant, lena: User) -> None:
    plain = problem(bob, "Dressing dose")
    liked = problem(bob, "Dressing dose, again")
    learners = [make_user(f"learner{i}", harbor, Role.LEARNER) for i in range(8)]
    submissions(liked, learners, "passed")
    submissions(plain, learners[:1], "failed")
    before = selectors.search(harbor.id, "dressing dose")
    assert {h.quality for h in before} == {0.5}  # not scored yet: neutral
    assert [h.content_id for h in before] == [plain, liked]  # the shorter title is the closer match
    score_every_agency()
    after = selectors.search(harbor.id, "dressing dose")
    assert [h.content_id for h in after] == [liked, plain]
    assert after[0].quality > after[1].quality
    signals = ContentQuality.objects.get(content_id=liked).signals
    assert signals["learners"] == 8
    assert signals["success"] == pytest.approx(9 / 10)
    assert 0.99 <= signals["freshness"] <= 1
    assert all(0 <= q.score <= 1 for q in ContentQuality.objects.all())


def test_a_second_run_writes_the_same_scores(bob: User, harbor: Tenant, lena: User) -> None:
    submissions(problem(bob, "Dressing dose"), [lena], "passed")
    score_every_agency()
    first = {q.content_id: q.score for q in ContentQuality.objects.all()}
    score_every_agency()
    assert {q.content_id: q.score for q in ContentQuality.objects.all()} == first


def test_each_agency_is_scored_from_its_own_data_by_its_own_event(
        bob: User, carol: User, harbor: Tenant, northside: Tenant, lena: User) -> None:
    ours = problem(bob, "Dressing dose")
    theirs = problem(carol, "Dressing dose")
    submissions(ours, [lena], "passed")
    assert quality.plan_quality_scores() == 2
    events = pending_tasks("learning.score_content_quality")
    assert sorted(e.tenant_id or 0 for e in events) == sorted([harbor.id, northside.id])
    assert {e.queue for e in events} == {"batch"}
    for event in events:
        execute(event)
    assert ContentQuality.objects.get(content_id=ours).tenant_id == harbor.id
    assert ContentQuality.objects.get(content_id=theirs).signals["learners"] == 0
