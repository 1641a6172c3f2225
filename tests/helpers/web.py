"""Talking to real Ferry processes from tests: signed-in sessions, the JSON API, live streams."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
from django.db import transaction
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from psycopg.types.json import Jsonb

from bench.sse import Stream
from core.accounts.mfa import needs_second_factor
from core.accounts.models import User
from core.platform.db import conninfo
from outbox import queries
from outbox.emit import emit
from outbox.models import OutboxEvent
from tests.helpers.processes import wait_until

# Any 32 letters make a valid CSRF secret; sent as cookie and header, Django accepts the pair.
CSRF = "ferrytestcsrfsecretferrytestcsrf"


def sign_in(client: Client, user: User) -> None:
    """Sign `user` in on `client`, and where their agency requires a second factor, verify the
    session with a real authenticator of theirs (as the sign-in page would after its code)."""
    client.force_login(user)
    if needs_second_factor(user):
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
            user=user, name="test authenticator", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()


def signed_in(user: User) -> Client:
    """A test client with `user` signed in."""
    client = Client()
    sign_in(client, user)
    return client


def cookies_of(user: User) -> dict[str, str]:
    """A real session of `user` (in the test database the processes share)."""
    client = signed_in(user)
    return {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF}


def agency(user: User) -> int:
    """The tenant id of a user who has one."""
    assert user.tenant_id is not None
    return user.tenant_id


def call(base_url: str, cookies: dict[str, str], method: str, path: str,
         body: dict[str, Any] | None = None, request_id: str | None = None) -> tuple[int, Any]:
    """One API request, with X-Request-ID if given; (status, decoded JSON or None)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), "X-CSRFToken": CSRF,
               "Content-Type": "application/json", **({"X-Request-ID": request_id} if request_id else {})}
    connection.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                       headers=headers)
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    return response.status, json.loads(raw) if raw else None


def open_stream(base_url: str, cookies: dict[str, str], last_event_id: str | None = None) -> Stream:
    """A stream that is subscribed: its first block (the retry hint) has arrived."""
    stream = Stream(base_url, cookies=cookies, last_event_id=last_event_id, timeout=30)
    assert stream.status == 200, stream.body()
    first = stream.next_block(10)
    assert first is not None
    assert first.retry is not None
    return stream


def next_messages(stream: Stream, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    """The next `count` events (data blocks), skipping keep-alives; fails if they do not come."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        block = stream.next_block(max(0.01, deadline - time.monotonic()))
        if block is None:
            raise AssertionError(f"{len(found)} of {count} events within {timeout}s: {found}")
        if block.data is not None:
            found.append(block.message)
    return found


def messages_until(stream: Stream, last_label: str, timeout: float = 20) -> list[str]:
    """Labels of the events that arrive up to the one labelled `last_label` (included)."""
    found: list[str] = []
    while not found or found[-1] != last_label:
        found += [label(m) for m in next_messages(stream, 1, timeout)]
    return found


def messages_during(stream: Stream, seconds: float) -> list[dict[str, Any]]:
    """Every event that arrives within `seconds` (to show that nothing more comes)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        block = stream.next_block(remaining)
        if block is not None and block.data is not None:
            found.append(block.message)
    return found


def announce(channel: str, label: str, tenant_id: int | None) -> OutboxEvent:
    """Commit an event on a channel, as a write function would."""
    with transaction.atomic():
        emitted = emit("test.happened", aggregate_type="test", aggregate_id=label, payload={"label": label},
                       channel=channel, tenant_id=tenant_id)
    return OutboxEvent.objects.get(event_id=emitted.event_id)


def wait_relayed(event: OutboxEvent, timeout: float = 20) -> None:
    wait_until(lambda: OutboxEvent.objects.get(pk=event.pk).status == "completed", timeout,
               message=f"event {event.pk} to be relayed")


def label(message: dict[str, Any]) -> str:
    return str(message["aggregate"]["id"])


def emit_on(connection: psycopg.Connection[Any], channel: str, label: str, tenant_id: int | None) -> int:
    """Write an event in the connection's open transaction, now (the statement emit() queues for
    the commit); its id."""
    event_id = uuid.uuid4()
    connection.execute(queries.EMIT, {
        "event_id": event_id, "tenant_id": tenant_id, "actor_id": None, "trace_id": "", "event_type": "test.happened",
        "aggregate_type": "test", "aggregate_id": label, "payload": Jsonb({"label": label}), "task_name": None,
        "queue": None, "channel": channel, "redeliver_after": None, "priority": 5, "delay_s": 0.0})
    row = connection.execute("SELECT id FROM outbox_event WHERE event_id = %s", [event_id]).fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def open_transaction() -> Iterator[psycopg.Connection[Any]]:
    """A transaction of its own connection that has already taken its transaction id."""
    with psycopg.connect(**conninfo()) as connection:
        connection.execute("SELECT pg_current_xact_id()")
        yield connection


def cursor_of(event_id: int) -> str:
    with psycopg.connect(**conninfo()) as connection:
        row = connection.execute("SELECT txid FROM outbox_log WHERE id = %s", [event_id]).fetchone()
    assert row is not None
    return f"{row[0]}-{event_id}"
