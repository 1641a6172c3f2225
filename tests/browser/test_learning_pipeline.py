"""The content pipeline in a real browser: Bob, a reviewer, finds the pair of submissions the
similarity check flagged (Mateo handed in Lena's code under other names), reads it side by side
and confirms it; then he exports the problem and a lesson, and his exports page, open in another
tab, shows the bundle arrive, fill and become downloadable, without reloading."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from bench.similarity_corpus import SOLUTIONS, disguise
from core.accounts.models import Tenant
from core.learning import services
from core.learning.models import Kind, SimilarityFlag
from core.platform.roles import Role
from tests.browser.conftest import Browsers, readme_screenshot
from tests.helpers.learning import published
from tests.helpers.people import make_user

pytestmark = pytest.mark.usefixtures("outbox_db")

ORIGINAL = SOLUTIONS["intervals"][0]
TESTS = "from solution import merge\n\n\ndef test_overlaps_merge():\n    assert merge([(1, 3), (2, 4)]) == [(1, 4)]\n"


def wait_for_flag(seconds: float = 90) -> SimilarityFlag:
    """Grading (the sandbox) and the similarity check run on the stack's worker."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        flag = SimilarityFlag.objects.first()
        if flag is not None:
            return flag
        time.sleep(0.2)
    raise AssertionError("no pair was flagged")


def test_a_reviewer_confirms_a_flagged_pair_and_follows_an_export_live(browsers: Browsers, harbor: Tenant) -> None:
    bob = make_user("bob", harbor, Role.REVIEWER)
    lena = make_user("lena", harbor, Role.LEARNER)
    mateo = make_user("mateo", harbor, Role.LEARNER)
    problem = published(bob, bob, kind=Kind.PROBLEM, title="Merge visit windows",
                        body="Write `merge(intervals)`: overlapping visit windows become one.", tests=TESTS)
    lesson = published(bob, bob, title="Planning overlapping visits", body="Merge windows that overlap.")
    services.submit_solution(problem.content_id, lena, ORIGINAL)
    services.submit_solution(problem.content_id, mateo, disguise(ORIGINAL, seed=3, keep=frozenset({"merge"})))
    wait_for_flag()

    reviewer = browsers.signed_in(bob)
    reviewer.goto("/learning/review/")
    expect(reviewer.locator("#similarity-link")).to_contain_text("(1 open)")
    reviewer.locator("#similarity-link").click()
    reviewer.get_by_role("link", name="Merge visit windows").click()
    expect(reviewer.locator("#pair-title")).to_contain_text("in common")
    assert reviewer.locator("#submission-source .line.matched").count() >= 5
    assert reviewer.locator("#other-source .line.matched").count() >= 5
    expect(reviewer.locator("figcaption").first).to_contain_text("mateo")
    readme_screenshot(reviewer, "similarity")
    reviewer.get_by_role("button", name="Confirm: copied").click()
    expect(reviewer.locator(".messages")).to_contain_text("Pair confirmed.")
    expect(reviewer.locator("#similarity-pair .badge")).to_have_text("confirmed")

    watching = browsers.signed_in(bob)  # a second tab on the exports page
    watching.goto("/learning/review/exports/")
    expect(watching.locator("#bundle-list")).to_contain_text("No bundles yet.")
    watching.evaluate("window.loadedOnce = true")
    reviewer.goto("/learning/review/exports/")
    reviewer.get_by_label("Title").fill("Visit planning")
    reviewer.get_by_label(re.compile("Merge visit windows")).check()
    reviewer.get_by_label(re.compile("Planning overlapping visits")).check()
    reviewer.get_by_role("button", name="Export").click()
    expect(reviewer.locator(".messages")).to_contain_text("Export of 2 item(s) started.")

    row = watching.locator("#bundle-list tbody tr").first
    expect(row).to_contain_text("Visit planning")  # arrived live
    expect(row.locator(".badge")).to_have_text("ready")
    expect(row.locator(".bundle-count")).to_have_text("2/2")
    expect(row.get_by_role("link", name="Download")).to_be_visible()
    assert watching.evaluate("window.loadedOnce") is True
    readme_screenshot(watching, "export")
    with watching.expect_download() as download:
        row.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "visit-planning.zip"
    assert lesson.content_id != problem.content_id
