"""An agency's admin manages its people (core/people): Hana, Harbor's admin, invites a nurse by
mail, changes roles, deactivates a leaver, lifts a lockout; Nadia, Northside's admin, can reach
none of Harbor's people. Mail goes through a real SMTP server process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from core.accounts import throttle
from core.accounts.models import Tenant, User
from core.people import services
from core.people.invitations import token_of
from core.people.models import Invitation
from core.platform.errors import Conflict, Invalid, NotFound
from core.platform.roles import Role
from tests.helpers.mail import MailServer, link_in, mail_server_fixture, smtp_fixture  # noqa: F401  # fixtures
from tests.helpers.outbox import deliver, events_of
from tests.helpers.people import make_user
from tests.helpers.web import sign_in, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def hana(harbor: Tenant) -> User:
    return make_user("hana", harbor, Role.AGENCY_ADMIN)


@pytest.fixture
def nadia(northside: Tenant) -> User:
    return make_user("nadia", northside, Role.AGENCY_ADMIN)


def invite(admin: User, email: str = "ines@example.com", roles: tuple[str, ...] = ("learner",)) -> Invitation:
    assert admin.tenant_id is not None
    return services.invite(tenant_id=admin.tenant_id, email=email, roles=roles, actor=admin)


# --- invitations ----------------------------------------------------------------------------------

def test_an_invitee_gets_a_mailed_link_sets_a_password_and_is_signed_in_with_the_roles(
        hana: User, smtp: MailServer) -> None:
    page = signed_in(hana).post("/people/invite/", {"email": "ines@example.com", "roles": ["learner", "reviewer"]})
    assert page.status_code == 302
    (event,) = events_of("account.invited")
    assert event.task_name == "people.send_invitation"
    assert event.actor_id == hana.id
    assert "ines@example.com" not in str(event.payload)  # the history names the invitation, not the link
    assert deliver("people.send_invitation") == 1

    mail = smtp.wait_for("ines@example.com")
    assert "Harbor Home Health" in mail["Subject"]
    link = link_in(mail)
    path = link.split("://", 1)[1].split("/", 1)[1]
    invitee = Client()
    assert invitee.get(f"/{path}").status_code == 200
    joined = invitee.post(f"/{path}", {"full_name": "Ines Duarte", "username": "ines",
                                       "password": "tidal-basin-42", "password_again": "tidal-basin-42"})
    assert joined.status_code == 302
    ines = User.objects.get(username="ines")
    assert ines.tenant_id == hana.tenant_id
    assert ines.email == "ines@example.com"
    assert ines.roles == {Role.LEARNER, Role.REVIEWER}
    assert invitee.get("/learning/").status_code == 200  # signed in, with the invited roles
    (joined_event,) = events_of("account.joined")
    assert joined_event.payload["user_id"] == ines.id

    again = Client().get(f"/{path}")
    assert again.status_code == 409
    assert b"already been used" in again.content


def test_a_link_works_once_even_when_two_tabs_post_it(hana: User) -> None:
    token = token_of(invite(hana))
    services.accept_invitation(token=token, username="ines", password="tidal-basin-42")
    with pytest.raises(Conflict, match="already been used"):
        services.accept_invitation(token=token, username="ines2", password="tidal-basin-42")
    assert User.objects.filter(username__startswith="ines").count() == 1


def test_expired_withdrawn_and_forged_links_are_refused_clearly(hana: User) -> None:
    expired = invite(hana, "old@example.com")
    Invitation.objects.filter(id=expired.id).update(expires_at=timezone.now() - timedelta(minutes=1))
    answer = Client().get(f"/people/join/{token_of(expired)}/")
    assert answer.status_code == 409
    assert b"expired" in answer.content

    withdrawn = invite(hana, "gone@example.com")
    assert hana.tenant_id is not None
    services.revoke_invitation(tenant_id=hana.tenant_id, invitation_id=withdrawn.id, actor=hana)
    answer = Client().get(f"/people/join/{token_of(withdrawn)}/")
    assert answer.status_code == 409
    assert b"withdrawn" in answer.content

    forged = token_of(invite(hana, "real@example.com"))[:-3] + "abc"
    answer = Client().get(f"/people/join/{forged}/")
    assert answer.status_code == 404
    assert b"not valid" in answer.content
    assert Client().post(f"/people/join/{forged}/", {"username": "x", "password": "tidal-basin-42",
                                                      "password_again": "tidal-basin-42"}).status_code == 404
    assert not User.objects.filter(username="x").exists()


def test_a_weak_password_or_a_taken_name_is_refused_under_its_field_and_writes_nothing(
        hana: User, alice: User) -> None:
    invitation = invite(hana)
    path = f"/people/join/{token_of(invitation)}/"
    weak = Client().post(path, {"username": "ines", "password": "password", "password_again": "password"})
    assert weak.status_code == 400
    assert "too common" in weak.context["form"].errors["password"][0]
    taken = Client().post(path, {"username": "ALICE", "password": "tidal-basin-42", "password_again": "tidal-basin-42"})
    assert taken.status_code == 409
    assert "taken" in taken.context["form"].errors["username"][0]
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING
    assert not User.objects.filter(username="ines").exists()


def test_unknown_roles_and_bad_addresses_are_named(hana: User) -> None:
    with pytest.raises(Invalid) as bad_role:
        invite(hana, roles=("superuser",))
    assert bad_role.value.field == "roles"
    with pytest.raises(Invalid) as bad_email:
        invite(hana, email="not an address")
    assert bad_email.value.field == "email"
    page = signed_in(hana).post("/people/invite/", {"email": "ines@example.com", "roles": ["superuser"]})
    assert page.status_code == 400
    assert "roles" in page.context["invite_form"].errors
    assert not Invitation.objects.exists()


def test_a_second_invitation_to_the_same_address_replaces_the_first(hana: User) -> None:
    first = invite(hana)
    second = invite(hana)
    first.refresh_from_db()
    assert first.status == Invitation.Status.REVOKED
    assert second.status == Invitation.Status.PENDING


def test_a_withdrawn_invitation_is_not_mailed(hana: User, smtp: MailServer) -> None:
    invitation = invite(hana)
    assert hana.tenant_id is not None
    services.revoke_invitation(tenant_id=hana.tenant_id, invitation_id=invitation.id, actor=hana)
    assert deliver("people.send_invitation") == 1
    assert smtp.messages() == []


# --- roles, deactivation, unlocking ------------------------------------------------------------------

def test_an_admin_changes_roles_and_the_history_says_from_what(hana: User, alice: User) -> None:
    answer = signed_in(hana).post(f"/people/{alice.id}/roles/", {"roles": ["dispatcher", "reviewer"]})
    assert answer.status_code == 302
    alice = User.objects.get(id=alice.id)
    assert alice.roles == {Role.DISPATCHER, Role.REVIEWER}
    (event,) = events_of("account.roles_changed")
    assert event.payload == {"user_id": alice.id, "roles": ["dispatcher", "reviewer"], "previous": ["dispatcher"]}


def test_the_last_admin_cannot_remove_their_own_admin_role(hana: User) -> None:
    answer = signed_in(hana).post(f"/people/{hana.id}/roles/", {"roles": ["learner"]})
    assert answer.status_code == 409
    assert "no agency admin left" in answer.context["roles_form"].errors["roles"][0]
    assert User.objects.get(id=hana.id).roles == {Role.AGENCY_ADMIN}


def test_deactivation_ends_every_session_and_refuses_pages_and_the_api_at_once(hana: User, alice: User) -> None:
    alices_browser = Client()
    sign_in(alices_browser, alice)
    assert alices_browser.get("/api/me").status_code == 200

    answer = signed_in(hana).post(f"/people/{alice.id}/deactivate/")
    assert answer.status_code == 302
    assert alices_browser.get("/api/me").status_code == 401
    assert alices_browser.get("/dispatch/").status_code == 302  # to the sign-in page
    assert not Session.objects.filter(session_key=alices_browser.cookies["sessionid"].value).exists()
    assert not Client().login(username="alice", password="pw")
    (event,) = events_of("account.deactivated")
    assert event.channel == f"tenant:{hana.tenant_id}:events"  # every stream of the agency hears it
    assert event.payload == {"user_id": alice.id, "sessions_ended": 1}

    assert signed_in(hana).post(f"/people/{alice.id}/reactivate/").status_code == 302
    assert Client().login(username="alice", password="pw")


def test_an_admin_cannot_deactivate_themselves(hana: User) -> None:
    answer = signed_in(hana).post(f"/people/{hana.id}/deactivate/")
    assert answer.status_code == 409
    assert User.objects.get(id=hana.id).is_active


def test_an_admin_lifts_a_lockout_before_its_time(hana: User, alice: User, settings: object) -> None:
    for _ in range(5):
        throttle.record_failure("alice", "10.0.0.9")
    assert throttle.locked_for("alice", "10.0.0.10") > 0
    assert signed_in(hana).post(f"/people/{alice.id}/unlock/").status_code == 302
    assert throttle.locked_for("alice", "10.0.0.10") == 0
    assert len(events_of("account.unlocked")) == 1


def test_the_admin_of_another_agency_reaches_none_of_its_people(hana: User, nadia: User, alice: User) -> None:
    invitation = invite(hana)
    northside = signed_in(nadia)
    assert northside.get(f"/people/{alice.id}/").status_code == 404
    for action in ("deactivate", "unlock", "reset-second-factor"):
        assert northside.post(f"/people/{alice.id}/{action}/").status_code == 404
    assert northside.post(f"/people/{alice.id}/roles/", {"roles": ["ops"]}).status_code == 404
    assert northside.post(f"/people/invitations/{invitation.id}/revoke/").status_code == 404
    listing = northside.get("/people/")
    assert b"alice" not in listing.content
    assert b"ines@example.com" not in listing.content
    assert nadia.tenant_id is not None
    with pytest.raises(NotFound):
        services.deactivate(tenant_id=nadia.tenant_id, user_id=alice.id, actor=nadia)
    assert User.objects.get(id=alice.id).is_active
    assert User.objects.get(id=alice.id).roles == {Role.DISPATCHER}


def test_people_pages_are_for_agency_admins_only(alice: User, audrey: User) -> None:
    for user in (alice, audrey):
        client = Client()
        sign_in(client, user)
        assert client.get("/people/").status_code == 403
