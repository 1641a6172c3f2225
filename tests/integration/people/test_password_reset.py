"""Password reset by mail (core/people/passwords.py): the mail goes out through the outbox and a
real SMTP server; the page answers the same for unknown addresses; the link works once; the new
password meets the validators; the old sessions end."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from core.accounts.models import User
from tests.helpers.mail import MailServer, link_in, mail_server_fixture, smtp_fixture  # noqa: F401  # fixtures
from tests.helpers.outbox import deliver, events_of
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def lena_with_mail(lena: User) -> User:
    lena.email = "lena@harbor.example"
    lena.save(update_fields=["email"])
    return lena


def ask_for_reset(email: str) -> str:
    answer = Client().post("/accounts/password/reset/", {"email": email})
    assert answer.status_code == 302
    return Client().get(answer["Location"]).content.decode()


def test_a_known_and_an_unknown_address_get_the_same_answer(lena_with_mail: User, smtp: MailServer) -> None:
    assert ask_for_reset("nobody@harbor.example") == ask_for_reset("LENA@harbor.example")
    (event,) = events_of("account.password_reset_requested")
    assert event.payload == {"user_id": lena_with_mail.id}
    assert event.task_name == "people.send_password_reset"


def test_the_mailed_link_sets_a_new_password_once_and_ends_the_old_sessions(
        lena_with_mail: User, smtp: MailServer) -> None:
    elsewhere = Client()
    sign_in(elsewhere, lena_with_mail)
    ask_for_reset("lena@harbor.example")
    assert deliver("people.send_password_reset") == 1
    link = link_in(smtp.wait_for("lena@harbor.example"))
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]

    browser = Client()
    form = browser.get(path, follow=True)  # Django moves the token out of the URL into the session
    assert form.status_code == 200
    assert form.context["validlink"]
    weak = browser.post(form.redirect_chain[-1][0], {"new_password1": "12345678", "new_password2": "12345678"})
    assert weak.status_code == 200
    assert "new_password2" in weak.context["form"].errors
    done = browser.post(form.redirect_chain[-1][0], {"new_password1": "harbor-tides-77",
                                                     "new_password2": "harbor-tides-77"})
    assert done.status_code == 302
    assert Client().login(username="lena", password="harbor-tides-77")
    assert not Session.objects.filter(session_key=elsewhere.cookies["sessionid"].value).exists()
    assert len(events_of("account.password_reset")) == 1

    again = Client().get(path, follow=True)
    assert not again.context["validlink"]
    assert b"not valid any more" in again.content


def test_asking_again_and_again_sends_one_mail_per_interval(lena_with_mail: User, settings: object) -> None:
    for _ in range(4):
        ask_for_reset("lena@harbor.example")
    assert len(events_of("account.password_reset_requested")) == 1


def test_a_deactivated_account_gets_no_mail(lena_with_mail: User, smtp: MailServer) -> None:
    ask_for_reset("lena@harbor.example")
    User.objects.filter(id=lena_with_mail.id).update(is_active=False)  # switched off before the worker ran
    assert deliver("people.send_password_reset") == 1
    assert smtp.messages() == []
