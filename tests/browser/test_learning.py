"""The learning loop in real browsers: Bob wrote a problem; Rita, a second reviewer, approves
and publishes it (Bob sees her decision arrive live); Lena, in a browser of her own, finds it,
submits code and watches the grade arrive, per test, without reloading, and a submission
made elsewhere joins her open page's table, graded live."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.accounts.models import Tenant
from core.learning import services
from core.learning.models import Content, Version
from core.platform.roles import Role
from tests.browser.conftest import Browsers, readme_screenshot
from tests.helpers.people import make_user

TESTS = ("import solution\n\n\ndef test_adds():\n    assert solution.add(1, 2) == 3\n\n\n"
         "def test_negatives():\n    assert solution.add(-2, -3) == -5\n")
BODY = "Write `add(a, b)` returning the **total dose** of two doses.\n\n- both may be negative corrections\n"


@pytest.fixture
def draft(harbor: Tenant) -> Version:
    bob = make_user("bob", harbor, Role.REVIEWER)
    version = services.create_content(bob, "problem", "Add two doses", BODY, TESTS)
    services.submit_for_review(version.id, bob)
    return version


def test_a_reviewer_approves_and_publishes_and_a_learner_is_graded_live(browsers: Browsers, harbor: Tenant,
                                                                        draft: Version) -> None:
    rita = make_user("rita", harbor, Role.REVIEWER)
    lena = make_user("lena", harbor, Role.LEARNER)
    bob = draft.author

    author = browsers.signed_in(bob)
    author.goto("/learning/review/")
    expect(author.locator("#notifications-status")).to_have_text("No notifications yet.")

    reviewer = browsers.signed_in(rita)
    reviewer.goto("/learning/review/")
    reviewer.get_by_role("link", name="Add two doses").first.click()
    expect(reviewer.locator("#diff")).to_contain_text("Nothing is live yet")
    expect(reviewer.locator(".prose strong")).to_have_text("total dose")  # rendered Markdown
    readme_screenshot(reviewer, "reviewer")
    reviewer.get_by_label("Approve").check()
    reviewer.get_by_role("button", name="Record decision").click()
    expect(reviewer.locator(".messages")).to_contain_text("Decision recorded.")
    expect(author.locator("#notification-list")).to_contain_text("rita approved")  # live, no reload
    reviewer.get_by_role("button", name="Publish this version").click()
    expect(reviewer.locator(".messages")).to_contain_text("Published.")
    expect(reviewer.locator("#diff")).to_contain_text("This is the live version.")

    learner = browsers.signed_in(lena)
    learner.goto("/learning/search/")
    content_id = Content.objects.get(live_version=draft).pk
    for _ in range(60):  # the index is written by a worker, moments after the publish
        learner.get_by_label(re.compile("Words")).fill("total dose")
        learner.get_by_role("button", name="Search").click()
        if learner.locator("ol.results a").count():
            break
        learner.wait_for_timeout(500)
    expect(learner.locator("ol.results a")).to_have_text(["Add two doses"])
    expect(learner.locator("ol.results mark").first).to_be_visible()
    learner.locator("ol.results a").click()
    expect(learner).to_have_url(re.compile(f"/learning/problems/{content_id}/$"))
    learner.evaluate("window.loadedOnce = true")

    learner.get_by_label(re.compile("Python code")).fill("def add(a, b):\n    return abs(a) + abs(b)\n")
    learner.get_by_role("button", name="Submit for grading").click()
    grade = learner.locator("#grade")
    expect(grade).to_contain_text("failed (1 of 2 tests passed)", timeout=60_000)
    expect(grade.locator("li", has_text="test_negatives: failed")).to_contain_text("AssertionError")

    learner.get_by_label(re.compile("Python code")).fill("def add(a, b):\n    return a + b\n")
    learner.get_by_role("button", name="Submit for grading").click()
    expect(grade).to_contain_text("passed (2 of 2 tests passed)", timeout=60_000)
    expect(grade.locator("li")).to_have_text([re.compile("test_adds: passed"), re.compile("test_negatives: passed")])
    expect(learner.locator("#submissions .badge")).to_have_text(["passed", "failed"])  # newest first
    assert learner.evaluate("window.loadedOnce") is True
    readme_screenshot(learner, "learner")

    # A submission from elsewhere (another tab) joins the open page's table and is graded there live.
    elsewhere = services.submit_solution(content_id, lena, "def add(a, b):\n    return a * b\n")
    badge = learner.locator(f'#submissions tr[data-id="{elsewhere.id}"] .badge')
    expect(badge).to_have_attribute("data-status", "failed", timeout=60_000)
    expect(learner.locator("#submissions .badge")).to_have_text(["failed", "passed", "failed"])
    assert learner.evaluate("window.loadedOnce") is True


def test_a_learners_streak_and_reputation_update_live(browsers: Browsers, harbor: Tenant) -> None:
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from core.learning import reputation, streaks

    lena = make_user("lena", harbor, Role.LEARNER)
    with transaction.atomic(durable=True):  # yesterday's graded submission
        streaks.record_activity(harbor.pk, lena.id, timezone.now() - timedelta(days=1))
    page = browsers.signed_in(lena)
    page.goto("/learning/")
    expect(page.locator("#streak-current")).to_have_text("1")
    with transaction.atomic(durable=True):  # today's, as the grading task records it
        streaks.record_activity(harbor.pk, lena.id, timezone.now())
    expect(page.locator("#streak-current")).to_have_text("2")
    expect(page.locator("#streak-longest")).to_have_text("2")
    expect(page.locator("#reputation-points")).to_have_text("0")
    with transaction.atomic(durable=True):  # her first accepted solution, as grading awards it
        reputation.solution_accepted(harbor.pk, lena.id, problem_id=1)
    expect(page.locator("#reputation-points")).to_have_text(str(reputation.SOLUTION_POINTS))


def test_a_learner_sees_due_today_reviews_an_item_and_the_count_updates_live(browsers: Browsers,
                                                                            harbor: Tenant) -> None:
    bob, rita = make_user("bob", harbor, Role.REVIEWER), make_user("rita", harbor, Role.REVIEWER)
    lena = make_user("lena", harbor, Role.LEARNER)
    version = services.create_content(bob, "lesson", "Hand hygiene", "Wash for **twenty** seconds.", "",
                                      "? How long do you wash?\n- 5 seconds\n+ 20 seconds\n\n"
                                      "? The most common route of transmission?\n= contact")
    services.submit_for_review(version.id, bob)
    services.review_version(version.id, rita, "approve")
    services.publish_version(version.id, rita)

    learn = browsers.signed_in(lena)
    learn.goto(f"/learning/lessons/{version.content_id}/")
    learn.get_by_role("button", name="Mark as done").click()
    expect(learn.locator("#lesson-finished")).to_be_visible()
    learn.goto("/learning/")
    expect(learn.locator("#due-count")).to_have_text("2")

    reviewing = browsers.signed_in(lena)  # a second tab of hers
    reviewing.goto("/learning/")
    reviewing.get_by_role("link", name="Review now").click()
    expect(reviewing.locator("legend")).to_have_text("How long do you wash?")
    reviewing.get_by_label("20 seconds").check()
    reviewing.get_by_role("button", name="Answer").click()
    expect(reviewing.locator("#review-result")).to_contain_text("Right.")
    expect(reviewing.locator("#due-count")).to_have_text("1")
    expect(learn.locator("#due-count")).to_have_text("1")  # the Learn page, live, without a reload
    reviewing.get_by_label("Your answer").fill("Contact")
    reviewing.get_by_role("button", name="Answer").click()
    expect(reviewing.locator("#nothing-due")).to_be_visible()
    expect(learn.locator("#due-count")).to_have_text("0")
    expect(learn.locator("#streak-current")).to_have_text("1")  # an answer counts the day
