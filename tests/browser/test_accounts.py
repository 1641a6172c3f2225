"""Signing in and out, and the navigation a person's roles give them."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from core.accounts.models import Tenant, User
from core.platform.roles import Role
from tests.browser.conftest import Browsers
from tests.helpers.people import make_user


def test_a_dispatcher_signs_in_sees_her_sections_and_signs_out(browsers: Browsers, harbor: Tenant) -> None:
    make_user("alice", harbor, Role.DISPATCHER)
    page = browsers.anonymous()
    page.goto("/dispatch/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/dispatch/$"))

    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-error")).to_contain_text("correct username and password")

    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dispatch/day/\d{4}-\d{2}-\d{2}/$"))
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Dispatch"])
    expect(nav.get_by_role("link", name="Dispatch")).to_have_attribute("aria-current", "page")

    page.get_by_role("link", name="Ferry").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, alice")
    expect(page.get_by_role("list", name="Your sections").get_by_role("link")).to_have_count(1)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    page.goto("/dispatch/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_each_role_sees_its_own_sections_and_is_refused_the_others(browsers: Browsers, harbor: Tenant) -> None:
    reviewer = make_user("bob", harbor, Role.REVIEWER)
    auditor = make_user("audrey", harbor, Role.AUDITOR)
    page = browsers.signed_in(reviewer)
    page.goto("/")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(
        ["Review", "Learn", "Search"])
    response = page.goto("/ops/")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")

    page = browsers.signed_in(auditor)
    page.goto("/")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(["Audit"])


def test_platform_staff_get_the_admin(browsers: Browsers) -> None:
    staff = User.objects.create_user("root", password="pw", is_staff=True, is_superuser=True)
    page = browsers.signed_in(staff)
    page.goto("/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Admin"])
    nav.get_by_role("link", name="Admin").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def test_the_content_security_policy_is_enforced_and_a_violation_fails_the_test(browsers: Browsers,
                                                                              harbor: Tenant) -> None:
    page = browsers.signed_in(make_user("alice", harbor, Role.DISPATCHER))
    response = page.goto("/dispatch/")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("#live-status")).to_have_text("Live.")  # the page's own script file ran
    # Content that is not a file of the site is refused, and the browser says so.
    page.evaluate("""() => {
        document.body.insertAdjacentHTML("beforeend", '<p id="painted" style="color: rgb(255, 0, 0)">x</p>');
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.appendChild(script);
    }""")
    expect(page.locator("#painted")).not_to_have_css("color", "rgb(255, 0, 0)")
    assert page.evaluate("() => window.injected === undefined")
    page.wait_for_timeout(200)  # console messages arrive asynchronously
    refused = list(browsers.csp_violations)
    assert any("inline style" in v for v in refused), refused
    assert any("inline script" in v for v in refused), refused
    browsers.csp_violations.clear()  # those were this test's own doing; any other fails it
