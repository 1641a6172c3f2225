"""An agency admin's day with people, in the browser: Hana invites Ines, Ines follows the mailed
link (a real SMTP server), sets a password and an authenticator, signs in with a code, and when
Hana deactivates her, Ines's open page loses its live stream at once."""

from __future__ import annotations

import base64
import re
import time

from playwright.sync_api import expect

from core.accounts.models import Tenant, User
from core.platform.roles import Role
from tests.browser.conftest import Browsers, Stack
from tests.helpers.mail import link_in
from tests.helpers.people import make_user

# "At once": the deactivation event reaches the open stream through the relay's doorbell in
# milliseconds; this leaves room for a busy machine, and is far below any timer of the stream
# (LIVE_STREAM_MAX_S, the identity cache's LIVE_AUTH_CACHE_S).
AT_ONCE_MS = 5_000


def code_for(key_base32: str, steps_ahead: int = 0) -> str:
    from django_otp.oath import totp

    return f"{totp(base64.b32decode(key_base32), t0=0, step=30, digits=6, drift=steps_ahead):06d}"


def test_an_invited_clinician_joins_sets_a_second_factor_and_loses_her_stream_when_deactivated(
        browsers: Browsers, stack: Stack, harbor: Tenant) -> None:
    stack.mail.clear()
    hana = make_user("hana", harbor, Role.AGENCY_ADMIN)
    admin = browsers.signed_in(hana)
    admin.goto("/people/")
    admin.get_by_label("Email").fill("ines@harbor.example")
    admin.locator("#invite-form").get_by_label("dispatcher").check()
    admin.get_by_role("button", name="Send invitation").click()
    expect(admin.locator(".messages")).to_contain_text("Invitation sent to ines@harbor.example")
    expect(admin.locator("#invitations")).to_contain_text("ines@harbor.example as dispatcher")

    link = link_in(stack.mail.wait_for("ines@harbor.example"))
    assert link.startswith(stack.url + "/people/join/")
    ines = browsers.anonymous("ines")
    ines.goto(link)
    expect(ines.get_by_role("heading", level=1)).to_have_text("Join Harbor Home Health")
    ines.get_by_label("Your name").fill("Ines Duarte")
    ines.get_by_label("User name").fill("ines")
    ines.get_by_label("Password", exact=True).fill("tidal-basin-42")
    ines.get_by_label("Password again").fill("tidal-basin-42")
    ines.get_by_role("button", name="Create my account").click()
    expect(ines.locator(".messages")).to_contain_text("Welcome to Harbor Home Health")

    # Her own choice: an authenticator app as a second factor.
    ines.get_by_role("link", name="Security").click()
    ines.get_by_role("link", name="Set up an authenticator app").click()
    key = ines.locator("#totp-key").inner_text()
    ines.get_by_label("Code").fill(code_for(key))
    ines.get_by_role("button", name="Confirm").click()
    expect(ines.locator("#recovery-codes li")).to_have_count(10)

    # Signing in again asks for a code (the next one: the one just used cannot be used twice).
    ines.get_by_role("button", name="Sign out").click()
    ines.goto("/dispatch/")
    ines.get_by_label("Username").fill("ines")
    ines.get_by_label("Password").fill("tidal-basin-42")
    ines.get_by_role("button", name="Sign in").click()
    expect(ines).to_have_url(re.compile(r"/accounts/mfa/\?next="))
    ines.get_by_label("Code").fill(code_for(key, steps_ahead=1))
    ines.get_by_role("button", name="Verify").click()
    expect(ines).to_have_url(re.compile(r"/dispatch/day/\d{4}-\d{2}-\d{2}/$"))
    expect(ines.locator("#live-status")).to_have_text("Live.")

    user = User.objects.get(username="ines")
    assert user.roles == {Role.DISPATCHER}
    admin.goto(f"/people/{user.id}/")
    started = time.monotonic()
    admin.get_by_role("button", name="Deactivate").click()
    expect(admin.locator(".messages")).to_contain_text("Account deactivated; 1 session(s) ended.")
    expect(ines.locator("#live-status")).to_have_text(re.compile("Live updates stopped"), timeout=AT_ONCE_MS)
    print(f"\nInes's stream closed {time.monotonic() - started:.2f} s after the click")
    ines.reload()
    expect(ines).to_have_url(re.compile(r"/accounts/login/"))
