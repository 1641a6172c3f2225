"""A real SMTP server process for tests that send mail: aiosmtpd, keeping what it receives in a
maildir that the test reads."""

from __future__ import annotations

import mailbox
import re
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from tests.helpers.processes import PYTHON, Process, free_port, process_env, wait_until


class MailServer:
    """An SMTP server on a free port of 127.0.0.1; `messages()` is everything it received."""

    def __init__(self, directory: Path, handler: str = "aiosmtpd.handlers.Mailbox", *handler_args: str) -> None:
        self.port = free_port()
        self.maildir = directory / "maildir"
        self.process = Process("smtp", [PYTHON, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
                                        "-c", handler, str(self.maildir), *handler_args],
                               process_env(), directory)
        wait_until(self._answers, 30, 0.1, "the SMTP server to answer")

    def _answers(self) -> bool:
        import smtplib

        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=1) as client:
                return client.noop()[0] == 250
        except OSError:
            return False

    def messages(self, to: str | None = None) -> list[Message]:
        if not self.maildir.exists():
            return []
        found = [message for message in mailbox.Maildir(self.maildir, create=False)]
        return [m for m in found if to is None or to in str(m["To"])]

    def wait_for(self, to: str, timeout: float = 30) -> Message:
        """The first message to `to`, waiting for it to arrive."""
        wait_until(lambda: bool(self.messages(to)), timeout, 0.1, f"a mail to {to}")
        return self.messages(to)[0]

    def clear(self) -> None:
        """Forget what was received (the maildir itself stays: the server writes into it)."""
        if self.maildir.exists():
            box = mailbox.Maildir(self.maildir, create=False)
            for key in list(box.keys()):
                box.remove(key)

    def stop(self) -> None:
        self.process.stop()


def link_in(message: Message) -> str:
    """The first http(s) link of a plain-text mail."""
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(r"https?://\S+", body.decode())
    assert found, f"no link in the mail: {body!r}"
    return found.group(0)


def parts(message: Message) -> dict[str, str]:
    """Content type -> decoded text of each part of a multipart mail (text and HTML)."""
    found = {}
    for part in message.get_payload():
        assert isinstance(part, Message)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[part.get_content_type()] = payload.decode()
    return found


@pytest.fixture(scope="session", name="mail_server")
def mail_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    server = MailServer(tmp_path_factory.mktemp("smtp"))
    yield server
    server.stop()


@pytest.fixture(name="smtp")
def smtp_fixture(mail_server: MailServer, settings: object) -> Iterator[MailServer]:
    """The SMTP server, empty, with this process's mail going to it (over SMTP: the test
    environment's in-memory mail backend is put aside)."""
    mail_server.clear()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"  # type: ignore[attr-defined]
    settings.EMAIL_PORT = mail_server.port  # type: ignore[attr-defined]
    settings.EMAIL_HOST = "127.0.0.1"  # type: ignore[attr-defined]
    yield mail_server
    mail_server.clear()
