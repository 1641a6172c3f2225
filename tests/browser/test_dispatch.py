"""The dispatcher's day in a real browser: the demo day, a visit added through the form (a
field error shown beside its field, then fixed), and Optimize Day from the keyboard, with the
job's status and the routes arriving live."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from core.accounts.models import Tenant, User
from core.dispatch import demo
from core.dispatch.models import RoutePlan, Visit
from tests.browser.conftest import Browsers, readme_screenshot


class _Quiet:
    def write(self, text: str) -> None:
        pass


@pytest.fixture
def demo_day(harbor: Tenant, northside: Tenant) -> Any:
    """Harbor's demo day: ten clinicians and eighty visits in Boston (Northside has its own)."""
    demo.seed({"harbor": harbor, "northside": northside}, _Quiet())
    return demo.demo_day()


def test_a_dispatcher_adds_a_visit_fixing_the_field_the_form_names(browsers: Browsers, alice: User,
                                                                   demo_day: Any) -> None:
    page = browsers.signed_in(alice)
    page.goto("/dispatch/")
    expect(page.get_by_role("heading", level=1)).to_have_text(demo_day.strftime("%A %-d %B %Y"))
    expect(page.locator("#visits h2")).to_have_text("Visits (80)")
    expect(page.locator("#plan-summary")).to_have_text("Not optimized yet.")

    page.get_by_role("link", name="Add visit").click()
    page.get_by_label("Patient reference").fill("HB-0100")
    page.get_by_label("Window opens").fill("11:00")
    page.get_by_label("Window closes").fill("10:00")
    page.get_by_label("Duration (minutes)").fill("30")
    page.get_by_label("Lat").fill("42.35")
    page.get_by_label("Lon").fill("-71.06")
    page.get_by_role("button", name="Save").click()

    error = page.locator("#field-window_end .error")
    expect(error).to_have_text("the time window ends before it starts")
    expect(page.get_by_label("Window closes")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field .error")).to_have_count(1)  # only the field at fault
    expect(page.get_by_label("Patient reference")).to_have_value("HB-0100")  # nothing typed is lost

    page.get_by_label("Window closes").fill("12:30")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#visits h2")).to_have_text("Visits (81)")
    expect(page.locator("#visits")).to_contain_text("HB-0100")
    assert Visit.objects.filter(tenant=alice.tenant, patient_ref="HB-0100", date=demo_day).exists()


def test_optimize_day_from_the_keyboard_shows_the_job_and_the_routes_live(browsers: Browsers, alice: User,
                                                                          demo_day: Any) -> None:
    page = browsers.signed_in(alice)
    page.goto("/dispatch/")
    expect(page.locator("#live-status")).to_have_text("Live.")
    # Record every live status line, and mark the document: a reload would lose both.
    page.evaluate("""() => {
        window.seen = [];
        new MutationObserver(() => window.seen.push(document.getElementById('live-status').textContent))
            .observe(document.getElementById('live-status'), {childList: true, characterData: true, subtree: true});
    }""")

    for _ in range(40):  # the button is reachable with Tab alone
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "optimize-button":
            break
    else:
        pytest.fail("Tab never reached the Optimize Day button")
    page.keyboard.press("Enter")

    expect(page.locator("#plan-summary")).to_contain_text("Plan version 1:", timeout=60_000)
    expect(page.locator("#job-status")).to_have_attribute("data-status", "done")
    seen = " | ".join(page.evaluate("window.seen"))
    assert "Optimize Day queued" in seen
    assert "New plan v1" in seen
    plan = RoutePlan.objects.get(tenant=alice.tenant, date=demo_day)
    expect(page.locator("svg.route-map g.route")).to_have_count(plan.stops.values("clinician").distinct().count())
    expect(page.locator("svg.route-timeline g.lane")).to_have_count(plan.stops.values("clinician").distinct().count())
    expect(page.locator("#unassigned")).to_contain_text("HB-0080")  # pediatrics: nobody at Harbor has it
    expect(page.locator("#plan-versions tbody tr")).to_have_count(1)
    readme_screenshot(page, "dispatcher")


def test_a_sick_call_re_plans_the_rest_of_the_day_and_the_new_plan_arrives_live(browsers: Browsers, alice: User,
                                                                                demo_day: Any) -> None:
    page = browsers.signed_in(alice)
    page.goto("/dispatch/")
    page.get_by_role("button", name="Optimize Day").click()
    expect(page.locator("#plan-summary")).to_contain_text("Plan version 1:", timeout=60_000)
    first = RoutePlan.objects.get(tenant=alice.tenant, date=demo_day)
    busiest = max({s.clinician for s in first.stops.select_related("clinician")},
                  key=lambda c: first.stops.filter(clinician=c).count())
    starts = sorted(first.stops.filter(clinician=busiest).values_list("planned_start", flat=True))
    call_at = starts[1]  # out from their second visit: the first is under way and stays theirs
    later = set(first.stops.filter(clinician=busiest, planned_start__gte=call_at).values_list("visit_id", flat=True))

    page.get_by_label(f"{busiest.name} out sick from").fill(call_at.strftime("%H:%M"))
    page.get_by_role("button", name=f"Report {busiest.name} out sick").click()
    expect(page.locator(f"[data-out-sick='{busiest.pk}']")).to_have_text(f"out sick from {call_at:%H:%M}")
    # The page's stream connects ("Live." on open, then at once the re-plan's events, which may
    # already be waiting: a check for "Live." itself raced them).
    expect(page.locator("#live-status")).not_to_have_text("Connecting to live updates…")
    # The re-plan is solved by the worker and arrives on the stream: the board swaps in v2.
    expect(page.locator("#plan-summary")).to_contain_text("Plan version 2:", timeout=60_000)
    expect(page.locator("#plan-reason")).to_have_text(f"Re-planned: {busiest.name} is out sick from {call_at:%H:%M}.")
    expect(page.locator("#plan-changes summary")).to_contain_text("What changed since the previous version")
    second = RoutePlan.objects.get(tenant=alice.tenant, date=demo_day, version=2)
    assert second.warm_start
    kept = set(second.stops.filter(clinician=busiest).values_list("visit_id", flat=True))
    assert not kept & later  # none of the visits from the call on stay with the sick clinician
    moved = {c["visit"] for c in second.changes if c["from"] != c["to"]}
    assert later - {u.visit_id for u in second.unassigned.all()} <= moved
    readme_screenshot(page, "sick-call")
