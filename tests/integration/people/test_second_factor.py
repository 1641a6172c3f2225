"""The second factor (core/accounts/mfa.py, core/people/mfa.py): Audrey the auditor must enrol an
authenticator before she sees anything; a code works once; recovery codes work once each; an
agency admin can require it of more roles, and reset it for someone who lost their phone."""

from __future__ import annotations

import importlib
import re
import time
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.accounts.models import Tenant, User
from core.people.mfa import recovery_digest
from core.platform.roles import Role
from tests.helpers.outbox import events_of
from tests.helpers.people import make_user
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


def password_sign_in(username: str) -> Client:
    client = Client()
    answer = client.post("/accounts/login/", {"username": username, "password": "pw", "next": "/audit/"})
    assert answer.status_code == 302
    return client


def code_of(device: TOTPDevice, offset_steps: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():06d}"


def enrol(client: Client, user: User) -> tuple[TOTPDevice, list[str]]:
    """Go through the enrolment page as a person with an authenticator app would."""
    page = client.get("/accounts/mfa/setup/")
    assert page.status_code == 200
    key = re.search(r'id="totp-key">([A-Z2-7]+)<', page.content.decode())
    assert key is not None
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    done = client.post("/accounts/mfa/setup/", {"token": code_of(device), "next": "/audit/"})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", done.content.decode())
    assert len(codes) == 10
    return TOTPDevice.objects.get(user=user, confirmed=True), codes


def test_an_auditor_is_sent_to_enrol_and_sees_nothing_until_she_has(audrey: User) -> None:
    client = password_sign_in("audrey")
    refused = client.get("/audit/")
    assert refused.status_code == 302
    assert refused["Location"] == "/accounts/mfa/?next=%2Faudit%2F"
    assert client.get("/api/audit/events").status_code == 401
    assert client.get("/api/audit/events").json()["error"] == "second_factor_required"
    assert client.get(refused["Location"]).status_code == 200  # the enrolment page, since she has none
    device, _ = enrol(client, audrey)
    assert client.get("/audit/").status_code == 200
    assert client.get("/api/audit/events").status_code == 200
    assert len(events_of("account.mfa_enrolled")) == 1
    assert device.name == "authenticator"


def test_the_next_sign_in_asks_for_a_code_and_a_code_works_only_once(audrey: User) -> None:
    device, _ = enrol(password_sign_in("audrey"), audrey)
    device.refresh_from_db()
    used = code_of(device)  # the code enrolment accepted is spent
    second = password_sign_in("audrey")
    replay = second.post("/accounts/mfa/", {"token": used, "next": "/audit/"})
    assert replay.status_code == 400
    assert "already used" in replay.context["form"].errors["token"][0]
    assert second.get("/audit/").status_code == 302

    time.sleep(1.1)  # a wrong code makes the device wait a second before the next try
    fresh = code_of(device, offset_steps=1)  # the next time step's code (within the tolerance)
    assert second.post("/accounts/mfa/", {"token": fresh, "next": "/audit/"})["Location"] == "/audit/"
    assert second.get("/audit/").status_code == 200


def test_a_recovery_code_signs_in_once(audrey: User) -> None:
    _, codes = enrol(password_sign_in("audrey"), audrey)
    first = password_sign_in("audrey")
    assert first.post("/accounts/mfa/", {"token": codes[0], "next": "/audit/"}).status_code == 302
    assert first.get("/audit/").status_code == 200
    (used,) = events_of("account.recovery_code_used")
    assert used.payload["codes_left"] == 9
    again = password_sign_in("audrey")
    assert again.post("/accounts/mfa/", {"token": codes[0], "next": "/audit/"}).status_code == 400


def test_recovery_codes_are_stored_as_digests_never_as_themselves(audrey: User) -> None:
    _, codes = enrol(password_sign_in("audrey"), audrey)
    stored = set(StaticToken.objects.filter(device__user=audrey).values_list("token", flat=True))
    assert len(stored) == 10
    assert not stored & set(codes)
    assert all(code not in token for token in stored for code in codes)
    assert stored == {recovery_digest(code) for code in codes}


def test_recovery_codes_made_before_a_key_rotation_work_while_the_old_key_is_a_fallback(
        audrey: User, settings: Any) -> None:
    settings.SECRET_KEY = "the-key-of-last-year-" + "x" * 40
    _, codes = enrol(password_sign_in("audrey"), audrey)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "the-key-of-this-year-" + "y" * 40, [settings.SECRET_KEY]
    kept = password_sign_in("audrey")
    assert kept.post("/accounts/mfa/", {"token": codes[0], "next": "/audit/"}).status_code == 302
    assert kept.get("/audit/").status_code == 200
    settings.SECRET_KEY_FALLBACKS = []  # the old key retired: what it made is void
    dropped = password_sign_in("audrey")
    assert dropped.post("/accounts/mfa/", {"token": codes[1], "next": "/audit/"}).status_code == 400


def test_the_migration_digests_recovery_codes_stored_plain(audrey: User) -> None:
    enrol(password_sign_in("audrey"), audrey)
    device = StaticDevice.objects.get(user=audrey)
    device.token_set.all().delete()
    StaticToken.objects.create(device=device, token="abcd2345")  # as django-otp stored it
    migration = importlib.import_module("core.people.migrations.0002_recovery_code_digests")
    migration.digest_plain_codes(apps, SimpleNamespace(connection=connection))
    assert list(device.token_set.values_list("token", flat=True)) == [recovery_digest("abcd2345")]
    assert migration.digest("abcd2345") == recovery_digest("abcd2345")
    client = password_sign_in("audrey")
    assert client.post("/accounts/mfa/", {"token": "ABCD 2345", "next": "/audit/"}).status_code == 302

def test_wrong_codes_slow_the_device_down(audrey: User) -> None:
    device, _ = enrol(password_sign_in("audrey"), audrey)
    client = password_sign_in("audrey")
    answers = [client.post("/accounts/mfa/", {"token": "000000"}).status_code for _ in range(3)]
    assert answers[0] == 400
    assert 429 in answers  # django-otp's throttle: the device waits longer after each failure
    refused = client.post("/accounts/mfa/", {"token": "000000"})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    device.refresh_from_db()
    assert device.throttling_failure_count >= 1


def test_a_password_alone_cannot_change_the_password_of_someone_who_owes_a_second_factor(audrey: User) -> None:
    client = password_sign_in("audrey")
    assert client.get("/accounts/password/change/")["Location"].startswith("/accounts/mfa/")
    changed = client.post("/accounts/password/change/", {"old_password": "pw", "new_password1": "tidal-basin-42",
                                                         "new_password2": "tidal-basin-42"})
    assert changed.status_code == 302
    assert changed["Location"].startswith("/accounts/mfa/")
    assert Client().login(username="audrey", password="pw")  # unchanged
    assert client.get("/accounts/password/reset/").status_code == 200  # a reset by mail stays open


def test_people_who_need_none_are_not_asked(alice: User) -> None:
    client = Client()
    assert client.post("/accounts/login/", {"username": "alice", "password": "pw"}).status_code == 302
    assert client.get("/api/me").status_code == 200
    assert str(client.get("/dispatch/", follow=True).templates[0].name).startswith("dispatch/")


def admin_sign_in(username: str) -> Client:
    client = Client()
    answer = client.post("/admin/login/", {"username": username, "password": "pw", "next": "/admin/"})
    assert answer.status_code == 302
    return client


def test_platform_staff_enrol_before_the_admin_opens() -> None:
    staff = User.objects.create_superuser(username="root", password="pw")
    client = admin_sign_in("root")
    refused = client.get("/admin/")
    assert refused.status_code == 302
    assert refused["Location"] == "/accounts/mfa/?next=%2Fadmin%2F"
    assert "platform staff must have one" in client.get("/accounts/mfa/settings/").content.decode()
    enrol(client, staff)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 200  # where staff reset a lost one
    assert "platform staff must have one" in client.get("/accounts/mfa/settings/").content.decode()
    again = admin_sign_in("root")  # the next sign-in asks for a code
    assert again.get("/admin/").status_code == 302


def test_platform_staff_may_be_spared_it_by_setting(settings: Any) -> None:
    settings.PLATFORM_STAFF_MFA = False
    User.objects.create_superuser(username="root", password="pw")
    client = admin_sign_in("root")
    assert client.get("/admin/").status_code == 200
    assert "must have one" not in client.get("/accounts/mfa/settings/").content.decode()


def test_an_agency_admin_can_require_it_of_dispatchers(harbor: Tenant, alice: User) -> None:
    hana = make_user("hana", harbor, Role.AGENCY_ADMIN)
    admin = Client()
    sign_in(admin, hana)
    assert admin.post("/people/mfa-policy/", {"mfa_roles": ["dispatcher", "agency_admin"]}).status_code == 302
    harbor.refresh_from_db()
    assert harbor.mfa_roles == ["agency_admin", "dispatcher"]
    previous = events_of("agency.mfa_policy_changed")[0].payload["previous"]
    assert previous == ["agency_admin", "auditor", "ops", "ops_viewer"]
    client = Client()
    client.post("/accounts/login/", {"username": "alice", "password": "pw"})
    assert client.get("/api/me").status_code == 401
    bad = admin.post("/people/mfa-policy/", {"mfa_roles": ["root"]})
    assert bad.status_code == 400


def test_an_admin_resets_a_lost_second_factor_and_the_person_enrols_again(
        harbor: Tenant, audrey: User, settings: Any) -> None:
    enrol(password_sign_in("audrey"), audrey)
    hana = make_user("hana", harbor, Role.AGENCY_ADMIN)
    admin = Client()
    sign_in(admin, hana)
    assert admin.post(f"/people/{audrey.id}/reset-second-factor/").status_code == 302
    assert not TOTPDevice.objects.filter(user=audrey).exists()
    (event,) = events_of("account.second_factor_reset")
    assert event.payload["sessions_ended"] == 1
    client = password_sign_in("audrey")
    assert client.get("/accounts/mfa/").templates[0].name == "people/enrol.html"


def test_a_person_chooses_a_time_zone_and_an_impossible_one_is_named(lena: User) -> None:
    client = Client()
    sign_in(client, lena)
    assert client.post("/accounts/preferences/", {"time_zone": "Europe/Lisbon"}).status_code == 302
    lena.refresh_from_db()
    assert lena.zone.key == "Europe/Lisbon"
    bad = client.post("/accounts/preferences/", {"time_zone": "Mars/Olympus_Mons"})
    assert bad.status_code == 400
    assert "not a time zone" in bad.context["form"].errors["time_zone"][0]
    lena.refresh_from_db()
    assert lena.time_zone == "Europe/Lisbon"
    assert client.post("/accounts/preferences/", {"time_zone": ""}).status_code == 302
    lena.refresh_from_db()
    assert lena.zone.key == "UTC"  # the agency's (the test agency keeps the default)
    assert [e.payload["time_zone"] for e in events_of("account.time_zone_changed")] == ["Europe/Lisbon", ""]
