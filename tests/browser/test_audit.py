"""The auditor's history in a real browser: a filter with a mistake (named beside its field),
the history narrowed to one problem's events, an event's whole story, and the CSV export."""

from __future__ import annotations

import io
import re
from csv import DictReader
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from core.accounts.models import Tenant
from core.learning.models import Kind
from core.platform.roles import Role
from tests.browser.conftest import Browsers, readme_screenshot
from tests.helpers.learning import published
from tests.helpers.people import make_user


def test_an_auditor_filters_the_history_opens_an_event_and_exports_it(browsers: Browsers, harbor: Tenant) -> None:
    bob, rita = make_user("bob", harbor, Role.REVIEWER), make_user("rita", harbor, Role.REVIEWER)
    problem = published(bob, rita, kind=Kind.PROBLEM, title="Add two doses")
    other = published(bob, rita, title="Hand hygiene")
    audrey = make_user("audrey", harbor, Role.AUDITOR)

    page = browsers.signed_in(audrey)
    page.goto("/audit/")
    expect(page.get_by_role("table", name="Events")).to_contain_text(f"content:{other.content_id}")
    readme_screenshot(page, "auditor")
    page.get_by_label("From").fill("2026-03-10T10:00")
    page.get_by_label("Until").fill("2026-03-10T09:00")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#error-until")).to_have_text("Must be after From.")
    expect(page.get_by_label("Until")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("From").fill("")
    page.get_by_label("Until").fill("")
    page.get_by_label("Aggregate type").fill("content")
    page.get_by_label("Aggregate id").fill(str(problem.content_id))
    page.get_by_role("button", name="Filter").click()
    rows = page.get_by_role("table", name="Events").locator("tbody tr")
    expect(rows.first).to_contain_text(f"content:{problem.content_id}")
    for text in rows.all_inner_texts():
        assert f"content:{problem.content_id}" in text
    assert f"content:{other.content_id}" not in page.get_by_role("table", name="Events").inner_text()

    shown = rows.count()
    for _ in range(40):
        csv = export_csv(page)
        # The export reads in commit-safe order: an event waits for every transaction open on the
        # server when it committed (another test run's, say) to end before it is exported.
        if len(csv.splitlines()) == 1 + shown:
            break
        page.wait_for_timeout(500)
    assert csv.splitlines()[0].startswith("id,event_id,")
    assert len(csv.splitlines()) == 1 + shown
    exported = list(DictReader(io.StringIO(csv)))
    assert {(row["aggregate_type"], row["aggregate_id"]) for row in exported} == {("content", str(problem.content_id))}

    rows.last.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/audit/events/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("content.")
    expect(page.locator("dl.facts")).to_contain_text(f"content:{problem.content_id}")
    expect(page.get_by_role("heading", name="Payload")).to_be_visible()


def export_csv(page: Any) -> str:
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    return Path(download.value.path()).read_text(encoding="utf-8")
