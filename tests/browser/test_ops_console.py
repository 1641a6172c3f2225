"""The ops console in a real browser, against the running system: an operator who also
learns follows her failed grading from her submission to its trace, reads the charts of the
agency's traffic, redrives a group of dead letters after a preview, and finds it in the action
log."""

from __future__ import annotations

import re

from django.db import transaction
from playwright.sync_api import expect

from core.accounts.models import Tenant
from core.learning import services as learning
from core.platform.roles import Role
from outbox import delivery
from outbox.emit import emit
from outbox.models import DeadLetter
from tests.browser.conftest import Browsers, readme_screenshot
from tests.helpers.learning import ADD_TESTS, published
from tests.helpers.outbox import emit_effects, row_of
from tests.helpers.people import make_user


def dead_effects(tenant: Tenant, keys: list[str]) -> None:
    """Task events that died of one cause (deferred at commit, so the running relay leaves
    them to the test to kill)."""
    for key in keys:
        with transaction.atomic():
            event = emit("test.effect_requested", aggregate_type="test", aggregate_id=key, payload={"key": key},
                         task="tests.record_effect", tenant_id=tenant.pk, delay_s=3600)
        delivery.kill(row_of(event).id, f"TimeoutError: the partner API gave no answer for {key} in 20 s",
                      "Traceback (most recent call last):\n  File \"effects.py\", line 12\nTimeoutError: no answer")


def test_an_operator_follows_a_failed_grading_to_its_trace_reads_the_charts_and_redrives_its_group(
        browsers: Browsers, harbor: Tenant) -> None:
    bob = make_user("bob", harbor, Role.REVIEWER)
    olive = make_user("olive", harbor, Role.LEARNER, Role.OPS)
    problem = published(bob, bob, kind="problem", title="Add two numbers", body="Write `add`.", tests=ADD_TESTS)
    emit_effects([f"traffic-{i}" for i in range(12)], tenant_id=harbor.pk)  # the worker runs these: the charts' data
    # Olive's code fails the tests: a real grading by the sandbox, live on her page.
    submission = learning.submit_solution(problem.content_id, olive, "def add(a, b):\n    return a - b\n")
    dead_effects(harbor, ["partner-1", "partner-2"])

    page = browsers.signed_in(olive)
    page.goto(f"/learning/problems/{problem.content_id}/")
    row = page.locator(f'#submissions tr[data-id="{submission.id}"]')
    expect(row.locator(".badge")).to_have_attribute("data-status", "failed", timeout=40_000)
    page.reload()  # the row as the server renders it, with its link
    row.get_by_role("link", name="Trace").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"submission:{submission.id}")
    expect(page.locator("main")).to_contain_text("submission.received")
    expect(page.locator("main")).to_contain_text("submission.graded")
    readme_screenshot(page, "trace")

    page.goto("/ops/")
    throughput = page.locator('[data-chart="throughput"] svg')
    # The traffic reaches the figures when the relay moves it; the open page redraws the charts.
    page.get_by_role("link", name="24 hours").click()
    expect(page.get_by_role("link", name="24 hours")).to_have_attribute("aria-current", "true")
    expect(throughput).to_have_attribute("aria-label", re.compile(r"Events over 24 hours: emitted (1[2-9]|[2-9]\d)"),
                                          timeout=40_000)
    assert "range=24h" in page.url
    expect(page.locator('[data-chart="latency"] polyline')).not_to_have_count(0)

    group = page.locator("#dead-letter-groups tr[data-fingerprint]").filter(has_text="tests.record_effect")
    expect(group).to_contain_text("TimeoutError")
    readme_screenshot(page, "ops-console")
    group.get_by_role("link", name=re.compile("Redrive or discard these 2")).click()
    expect(page.locator("#bulk-preview")).to_contain_text("2 open dead letters")
    readme_screenshot(page, "ops-bulk")
    page.get_by_role("button", name="Redrive 2 dead letters").click()
    expect(page.locator("#bulk-action")).to_have_attribute("data-status", "succeeded", timeout=30_000)  # live
    expect(page.locator('[data-field="acted"]')).to_have_text("2")
    assert {letter.redriven_by for letter in DeadLetter.objects.all()} == {olive}
    # The redriven events run again on the real worker.
    expect(page.locator("#bulk-action")).to_contain_text("sent again")

    page.goto("/ops/")
    expect(page.locator("#ops-actions")).to_contain_text("olive")
    expect(page.locator("#ops-actions")).to_contain_text("asked to redrive 2 dead letters by filter")
