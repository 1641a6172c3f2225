"""The ops page in a real browser: figures from the running system (a worker answers its
ping), a dead letter redriven, and a dry-run heal whose run goes from queued to succeeded on
the page, after which the repair is offered."""

from __future__ import annotations

from django.db import transaction
from playwright.sync_api import expect

from core.accounts.models import Tenant
from core.platform.roles import Role
from outbox import delivery
from outbox.emit import emit
from outbox.models import DeadLetter
from tests.browser.conftest import Browsers, readme_screenshot
from tests.helpers.outbox import row_of
from tests.helpers.people import make_user


def test_ops_watch_the_figures_redrive_a_dead_letter_and_run_a_dry_run_heal(browsers: Browsers,
                                                                            harbor: Tenant) -> None:
    oscar = make_user("oscar", harbor, Role.OPS)
    with transaction.atomic():  # deferred, so the running relay leaves it to die here
        event = emit("test.effect_requested", aggregate_type="test", aggregate_id="lost", payload={"key": "lost"},
                     task="tests.record_effect", tenant_id=harbor.pk, delay_s=3600)
    outbox_id = row_of(event).id
    delivery.kill(outbox_id, "ValueError: the effect failed", "Traceback ...")

    page = browsers.signed_in(oscar)
    page.goto("/ops/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Ops")).to_have_attribute("aria-current", "page")
    expect(page.locator("#workers .badge")).not_to_have_count(0)  # the test worker answered the ping
    expect(page.locator('[data-figure="agency.dead_letters"]')).to_have_text("1")
    expect(page.locator('[data-figure="platform.queues.batch"]')).to_have_text("0")
    expect(page.get_by_role("heading", name="Queues and workers platform-wide")).to_be_visible()

    page.get_by_role("button", name=f"Redrive event {outbox_id}").click()
    expect(page.locator(".messages")).to_contain_text("1 of 1 dead event pending again")
    expect(page.locator('[data-figure="agency.dead_letters"]')).to_have_text("0")
    assert DeadLetter.objects.get(outbox_id=outbox_id).redriven_by == oscar

    repair = page.get_by_role("button", name="Search index: repair")
    expect(repair).to_be_disabled()
    page.get_by_role("button", name="Search index: dry run").click()
    expect(page.locator(".messages")).to_contain_text("Dry run of Search index queued as run")
    run = page.locator("#heal-runs tr").first
    expect(run).to_contain_text("dry run")
    expect(run.locator(".badge")).to_have_attribute("data-status", "succeeded", timeout=30_000)  # live
    expect(repair).to_be_enabled()
    expect(page.locator('[data-repair-hint="search_index"]')).to_contain_text("would repair 0 of 0")
    readme_screenshot(page, "ops")
