"""Who may open the live stream, and how many: the stream application itself (served beside
Django's URLs), against committed sessions, as uvicorn calls it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.test import Client

from core.accounts.models import Tenant, User
from core.live import hub as live_hub
from core.live.stream import StreamApp
from core.people import services as people
from core.platform.roles import Role
from tests.helpers.asgi import Call
from tests.helpers.people import make_user
from tests.helpers.web import sign_in

pytestmark = pytest.mark.usefixtures("outbox_db")

T = TypeVar("T")
PATH = "/live/stream"


def session_of(user: User) -> str:
    client = Client()
    sign_in(client, user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def cookie(session: str) -> dict[str, str]:
    return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"}


def run(test: Callable[[StreamApp], Awaitable[T]]) -> T:
    """`test` with a fresh stream application and hub, in a fresh event loop."""
    async def main() -> T:
        app = StreamApp()
        try:
            return await test(app)
        finally:
            hub = live_hub._hub
            if hub is not None:
                await hub.close()
            live_hub._hub = None

    return asyncio.run(main())


async def opened(app: StreamApp, headers: dict[str, str], query: str = "") -> Call:
    call = Call(app, PATH, headers=headers, query=query)
    await call.started()
    return call


@pytest.fixture
def stranger_sessions(harbor: Tenant) -> dict[str, str]:
    staff = make_user("platform-staff", None)
    roleless = make_user("nobody", harbor)
    return {"staff": session_of(staff), "roleless": session_of(roleless)}


def test_strangers_get_401_in_the_apis_error_shape() -> None:
    async def scenario(app: StreamApp) -> list[tuple[int, Any]]:
        answers = []
        for headers in ({}, cookie("not-a-session"), {"Cookie": "garbage;;; =="}):
            call = await opened(app, headers)
            answers.append((call.answer.status, call.answer.json()))
        return answers

    for status, body in run(scenario):
        assert status == 401
        assert body == {"error": "unauthenticated", "message": "sign in first", "field": None}


def test_platform_staff_and_users_without_a_role_get_403(stranger_sessions: dict[str, str]) -> None:
    async def scenario(app: StreamApp) -> list[int]:
        return [(await opened(app, cookie(s))).answer.status for s in stranger_sessions.values()]

    assert run(scenario) == [403, 403]


def test_every_role_of_an_agency_may_follow_its_channels(harbor: Tenant) -> None:
    sessions = {role: session_of(make_user(f"user-{role.value}", harbor, role)) for role in Role}

    async def scenario(app: StreamApp) -> dict[Role, tuple[int, str, bytes]]:
        found = {}
        for role, session in sessions.items():
            call = await opened(app, cookie(session))
            first = await call.first_block()
            found[role] = (call.answer.status, call.answer.headers["content-type"], first)
            await call.disconnect()
        return found

    for role, (status, content_type, first) in run(scenario).items():
        assert status == 200, role
        assert content_type.startswith("text/event-stream")
        assert first.startswith(b"retry: ")


def test_a_malformed_last_event_id_is_a_400_naming_it_and_a_post_a_405(alice: User) -> None:
    session = session_of(alice)

    async def scenario(app: StreamApp) -> tuple[Any, int, str]:
        bad = await opened(app, {**cookie(session), "Last-Event-ID": "yesterday"})
        post = Call(app, PATH, method="POST", headers=cookie(session))
        await post.started()
        return bad.answer.json(), post.answer.status, post.answer.headers["allow"]

    body, post_status, allow = run(scenario)
    assert (body["error"], body["field"]) == ("invalid", "Last-Event-ID")
    assert (post_status, allow) == (405, "GET")


def test_a_user_beyond_the_per_user_cap_gets_429_and_others_are_unaffected(
        settings: Any, alice: User, bob: User) -> None:
    settings.LIVE_STREAMS_PER_USER = 2
    alices, bobs = session_of(alice), session_of(bob)

    async def scenario(app: StreamApp) -> tuple[list[int], dict[str, str], int, int]:
        first = [await opened(app, cookie(alices)) for _ in range(2)]
        third = await opened(app, cookie(alices))
        other = await opened(app, cookie(bobs))
        await first[0].disconnect()
        again = await opened(app, cookie(alices))  # a closed stream frees its place
        statuses = [c.answer.status for c in first]
        for call in (first[1], other, again):
            await call.disconnect()
        return [*statuses, third.answer.status], third.answer.headers, other.answer.status, again.answer.status

    statuses, refused_headers, other, again = run(scenario)
    assert statuses == [200, 200, 429]
    assert refused_headers["retry-after"] == "30"
    assert (other, again) == (200, 200)


def test_a_full_process_answers_503_with_a_retry_after(settings: Any, alice: User, bob: User) -> None:
    settings.LIVE_MAX_STREAMS = 1
    alices, bobs = session_of(alice), session_of(bob)

    async def scenario(app: StreamApp) -> tuple[int, int, Any, str]:
        held = await opened(app, cookie(alices))
        refused = await opened(app, cookie(bobs))
        await held.disconnect()
        return held.answer.status, refused.answer.status, refused.answer.json(), refused.answer.headers["retry-after"]

    held, refused, body, retry_after = run(scenario)
    assert (held, refused, body["error"]) == (200, 503, "unavailable")
    assert 5 <= int(retry_after) <= 30


def test_a_changed_password_an_inactive_user_and_an_expired_session_are_signed_out(
        alice: User, bob: User, lena: User) -> None:
    alices, bobs, lenas = session_of(alice), session_of(bob), session_of(lena)
    alice.set_password("a new one")
    alice.save()
    User.objects.filter(id=bob.id).update(is_active=False)
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    Session.objects.filter(session_key=lenas).update(expire_date=timezone.now())

    async def scenario(app: StreamApp) -> list[int]:
        return [(await opened(app, cookie(s))).answer.status for s in (alices, bobs, lenas)]

    assert run(scenario) == [401, 401, 401]


def test_a_storm_of_sessions_is_checked_in_a_few_batched_reads(harbor: Tenant) -> None:
    sessions = [session_of(make_user(f"learner-{i}", harbor, Role.LEARNER)) for i in range(60)]

    async def scenario(app: StreamApp) -> tuple[list[int], int]:
        calls = [Call(app, PATH, headers=cookie(s)) for s in sessions]
        answers = [await call.started() for call in calls]
        assert app._lookups is not None
        lookups = app._lookups[1].calls
        for call in calls:
            await call.disconnect()
        return [a.status for a in answers], lookups

    statuses, lookups = run(scenario)
    assert statuses == [200] * 60
    assert lookups <= 3  # sixty sessions, one or two reads (plus one if a batch straddled)


def test_deactivation_closes_the_open_stream_at_once_and_its_reconnect_is_refused(
        settings: Any, harbor: Tenant, alice: User, bob: User) -> None:
    settings.LIVE_AUTH_CACHE_S = 600.0  # what this process remembers of Alice must not let her back
    hana = make_user("hana", harbor, Role.AGENCY_ADMIN)
    alices, bobs = session_of(alice), session_of(bob)

    async def scenario(app: StreamApp) -> tuple[bool, bytes, int, bool]:
        alices_stream = await opened(app, cookie(alices))
        bobs_stream = await opened(app, cookie(bobs))
        await alices_stream.first_block()
        assert harbor.pk is not None
        await asyncio.to_thread(people.deactivate, tenant_id=harbor.pk, user_id=alice.id, actor=hana)
        await asyncio.wait_for(alices_stream.task, 15)  # it ends by itself, well before LIVE_STREAM_MAX_S
        reconnect = await opened(app, cookie(alices))
        still_open = not bobs_stream.answer.ended
        await bobs_stream.disconnect()
        return alices_stream.answer.ended, alices_stream.answer.body, reconnect.answer.status, still_open

    ended, body, reconnect, bob_still_open = run(scenario)
    assert ended
    assert b'"type":"account.deactivated"' in body
    assert body.endswith(b"event: signed-out\ndata: {}\n\n")  # the page closes its stream and says why
    assert reconnect == 401
    assert bob_still_open  # the agency's other streams go on


def test_a_browser_that_was_away_when_its_user_was_deactivated_replays_the_event_and_stops(
        settings: Any, harbor: Tenant, alice: User) -> None:
    settings.LIVE_AUTH_CACHE_S = 600.0  # this process remembers Alice, and has no stream of Harbor open
    hana = make_user("hana", harbor, Role.AGENCY_ADMIN)
    alices = session_of(alice)

    async def scenario(app: StreamApp) -> tuple[bool, bytes]:
        first = await opened(app, cookie(alices))
        head = (await first.first_block()).decode()
        cursor = next(line[4:] for line in head.splitlines() if line.startswith("id: "))
        await first.disconnect()
        assert harbor.pk is not None
        await asyncio.to_thread(people.deactivate, tenant_id=harbor.pk, user_id=alice.id, actor=hana)
        again = await opened(app, {**cookie(alices), "Last-Event-ID": cursor})  # the cache still says Alice
        await asyncio.wait_for(again.task, 15)
        return again.answer.ended, again.answer.body

    ended, body = run(scenario)
    assert ended
    assert b'"type":"account.deactivated"' in body
    assert body.endswith(b"event: signed-out\ndata: {}\n\n")


def test_a_person_who_owes_a_second_factor_gets_no_stream(harbor: Tenant) -> None:
    audrey = make_user("audrey", harbor, Role.AUDITOR)
    unverified = Client()
    unverified.force_login(audrey)  # password only: auditors must also prove a second factor
    verified = session_of(audrey)

    async def scenario(app: StreamApp) -> list[int]:
        answers = []
        for session in (unverified.cookies[settings.SESSION_COOKIE_NAME].value, verified):
            call = await opened(app, cookie(session))
            answers.append(call.answer.status)
            if call.answer.status == 200:
                await call.disconnect()
        return answers

    assert run(scenario) == [401, 200]
