"""The demo content seeds once, however often `make up` runs, and its problems are solvable."""

from __future__ import annotations

import io

import pytest

from core.accounts.demo import seed_tenants_and_users
from core.learning import demo
from core.learning.grading import sandbox_grader
from core.learning.models import Content, SimilarityFlag, Submission, Version
from outbox.models import OutboxEvent
from tests.helpers.outbox import deliver

pytestmark = pytest.mark.django_db

REFERENCE_SOLUTIONS = {
    "Total daily medication dose": "def total_daily_dose(doses):\n    return round(sum(doses), 1)\n",
    "Visit length in minutes": ("def visit_minutes(start, end):\n"
                                "    h1, m1 = map(int, start.split(':'))\n"
                                "    h2, m2 = map(int, end.split(':'))\n"
                                "    return (h2 * 60 + m2) - (h1 * 60 + m1)\n"),
    "Blood pressure category": ("def bp_category(s, d):\n"
                                "    if s >= 130 or d >= 80:\n        return 'high'\n"
                                "    if 120 <= s <= 129:\n        return 'elevated'\n"
                                "    return 'normal'\n"),
    "Wound area": "def wound_area(length, width):\n    return round(length * width, 1)\n",
}


def seed(out: io.StringIO) -> None:
    """What `manage.py seed_demo` does for this app (without the other apps' demo data)."""
    demo.seed(seed_tenants_and_users(), out)


def test_seeding_twice_creates_the_demo_content_once() -> None:
    seed(io.StringIO())
    contents, events = Content.objects.count(), OutboxEvent.objects.count()
    out = io.StringIO()
    seed(out)
    assert (Content.objects.count(), OutboxEvent.objects.count()) == (contents, events)
    assert "0 new of" in out.getvalue()
    assert contents == len(demo.HARBOR) + len(demo.NORTHSIDE)
    assert Version.objects.filter(status="in_review", title="Safe disposal of sharps").exists()
    falls = Content.objects.get(versions__title="Preventing falls at home", versions__number=1)
    assert (falls.live_version.number, falls.live_seq) == (2, 2)  # type: ignore[union-attr]


def test_every_demo_problem_is_solvable_in_the_sandbox() -> None:
    problems = [item for item in demo.HARBOR + demo.NORTHSIDE if item.tests]
    assert {p.title for p in problems} == set(REFERENCE_SOLUTIONS)
    for problem in problems:
        report = sandbox_grader().grade(REFERENCE_SOLUTIONS[problem.title], problem.tests)
        assert report.status == "passed", (problem.title, report.to_dict())


@pytest.mark.usefixtures("outbox_db")
def test_the_demo_submissions_are_graded_and_flagged_as_a_copied_pair_once() -> None:
    seed(io.StringIO())
    seed(io.StringIO())
    assert Submission.objects.count() == 2
    deliver("learning.grade_submission", "learning.check_similarity")  # as the worker would
    assert set(Submission.objects.values_list("status", flat=True)) == {"passed"}
    [flag] = SimilarityFlag.objects.select_related("submission__learner", "other__learner")
    assert {flag.submission.learner.username, flag.other.learner.username} == {"lena", "milo"}
