"""GET /live/stream: the signed-in user's live events as server-sent events (ADR 0009).

Served as a plain ASGI application beside Django (core/config/asgi.py routes the path
here), so that ten thousand streams arriving at once after a restart cost coroutines, not
threads: Django's middleware runs its sync parts on a thread per request, and each would
wait for a pooled database connection. A stream instead costs a coroutine and a queue; its
session is checked in batches (core/live/identity.py) and its replay shares one read with
the other streams replaying at the same moment (core/live/hub.py).

The stream carries the user's channels (core.platform.channels.channels_for: the tenant's
and the user's own). Each event's SSE `id` is its outbox cursor; a browser that reconnects
sends it back as Last-Event-ID and first receives, from Postgres, every event of its
channels after that cursor, then live ones, without a gap or a duplicate at the switch. A
client may also pass `?last_event_id=` (a page embeds its render-time cursor this way, so
nothing that happens between rendering and connecting is missed); the header wins.

Refusals use the API's error shape: 401 not signed in, 403 no agency role, 400 a malformed
cursor, 405 not a GET, 429 (with Retry-After) beyond LIVE_STREAMS_PER_USER open streams of
one user in this process, 503 (with Retry-After) beyond LIVE_MAX_STREAMS in this process.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

import structlog
from django.conf import settings

from core.live import identity
from core.live.batch import Batcher
from core.live.hub import OVERFLOW, Hub, Subscription, get_hub
from core.live.identity import Identity, IdentityCache
from core.platform.channels import channels_for
from outbox.reader import Cursor, InvalidCursor

log = structlog.get_logger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


# The last message of a stream whose user was signed out everywhere (deactivated, second
# factor reset): pages listen for this SSE event type, close their EventSource and say so.
SIGNED_OUT = b"event: signed-out\ndata: {}\n\n"


class Refusal(Exception):
    """A stream refused before it started: the status, the API's error body, extra headers."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


def security_headers() -> list[tuple[bytes, bytes]]:
    """What Django's SecurityMiddleware adds to its responses, for ours."""
    headers = [(b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", settings.SECURE_REFERRER_POLICY.encode())]
    if settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        headers.append((b"strict-transport-security", hsts.encode()))
    return headers


@dataclass(frozen=True)
class StreamRequest:
    """What a stream request says: its session, and where it wants to resume."""

    session_key: str | None
    last: Cursor | None

    @classmethod
    def of(cls, scope: Scope) -> StreamRequest:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        text = headers.get("last-event-id") or (query.get("last_event_id") or [""])[0]
        try:
            last = Cursor.parse(text) if text else None
        except InvalidCursor as exc:
            raise Refusal(400, "invalid", str(exc), "Last-Event-ID") from None
        return cls(session_key=_session_key(headers.get("cookie", "")), last=last)


def _session_key(cookie_header: str) -> str | None:
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(cookie_header)
    except CookieError:
        return None
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel is not None and 0 < len(morsel.value) <= 64 else None


class StreamApp:
    """The ASGI application of the stream path; one per web process (see the module's doc)."""

    def __init__(self) -> None:
        self.open = 0
        self.open_by_user: Counter[int] = Counter()
        self.refused: Counter[int] = Counter()  # by status, for the benchmark and metrics
        self._cache = IdentityCache(settings.LIVE_AUTH_CACHE_S)
        # Lookups are batched in the hub's threads, and streams start LIVE_SETUP_CONCURRENCY at
        # a time; a new hub (a new event loop: tests) gets its own of each.
        self._lookups: tuple[Hub, Batcher[str, Identity | None]] | None = None
        self._setup_slots: tuple[Hub, asyncio.Semaphore] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A storm is thousands of streams arriving together. Each starts (checks its session,
        # joins its group, sends its replay) in one of a bounded number of slots, the rest
        # waiting their turn as parked coroutines: the event loop then never runs thousands
        # of set-ups back to back, and a page or API request on this process is not stuck
        # behind them.
        slot = self._slot()
        await slot.acquire()
        released = False

        def release_slot() -> None:
            nonlocal released
            if not released:
                released = True
                slot.release()

        try:
            try:
                if scope["method"] != "GET":
                    raise Refusal(405, "method_not_allowed", "the live stream answers GET only",
                                  headers=(("allow", "GET"),))
                request = StreamRequest.of(scope)
                who = await self.identify(request.session_key)
                self.admit(who)
            except Refusal as refusal:
                self.refused[refusal.status] += 1
                await _refuse(send, refusal)
                return
            try:
                await self.serve(who, request.last, receive, send, on_live=release_slot)
            finally:
                self.release(who)
        finally:
            release_slot()

    def _slot(self) -> asyncio.Semaphore:
        hub = get_hub()
        if self._setup_slots is None or self._setup_slots[0] is not hub:
            self._setup_slots = (hub, asyncio.Semaphore(settings.LIVE_SETUP_CONCURRENCY))
        return self._setup_slots[1]

    async def identify(self, session_key: str | None) -> Identity:
        """The stream's user: 401 if not signed in, 403 without a role in an agency."""
        if session_key is None:
            raise Refusal(401, "unauthenticated", "sign in first")
        known, who = self._cache.get(session_key)
        if not known:
            # Stamped when the lookup starts: a revocation during it makes the answer stale.
            asked_at = time.monotonic()
            who = await self._lookup(session_key)
            self._cache.put(session_key, who, asked_at)
        if who is None:
            raise Refusal(401, "unauthenticated", "sign in first")
        if not who.has_agency_role:  # platform staff and role-less users have no channels
            raise Refusal(403, "forbidden", "the live stream is for users of an agency")
        return who

    async def _lookup(self, session_key: str) -> Identity | None:
        hub = get_hub()
        if self._lookups is None or self._lookups[0] is not hub:
            self._lookups = (hub, Batcher(identity.identities, hub.run, delay_s=settings.LIVE_SETUP_BATCH_S))
        return await self._lookups[1].get(session_key)

    def admit(self, who: Identity) -> None:
        """Count the stream in, or refuse it: 503 when the process is full, 429 when the user
        has too many open here."""
        if self.open >= settings.LIVE_MAX_STREAMS:
            retry = str(random.randint(5, 30))  # noqa: S311 - spreading reconnects, not secrecy
            raise Refusal(503, "unavailable", f"this server holds {self.open} live streams, its limit; "
                          f"try again in {retry} s", headers=(("retry-after", retry),))
        if self.open_by_user[who.user_id] >= settings.LIVE_STREAMS_PER_USER:
            raise Refusal(429, "rate_limited", f"at most {settings.LIVE_STREAMS_PER_USER} live streams per "
                          "user are open at once; close another tab first", headers=(("retry-after", "30"),))
        self.open += 1
        self.open_by_user[who.user_id] += 1

    def release(self, who: Identity) -> None:
        self.open -= 1
        self.open_by_user[who.user_id] -= 1
        if self.open_by_user[who.user_id] <= 0:
            del self.open_by_user[who.user_id]

    async def serve(self, who: Identity, last: Cursor | None, receive: Receive, send: Send,
                    on_live: Callable[[], None] | None = None) -> None:
        """Send the stream until it ends, the client goes away, or the time is up; `on_live`
        is called once its opening (headers, replay) is sent."""
        assert who.tenant_id is not None
        hub = get_hub()
        try:
            subscription = await hub.subscribe(who.tenant_id, channels_for(who.tenant_id, who.user_id))
        except Exception as exc:  # Postgres unreachable: the browser retries later
            log.warning("live.subscribe_failed", error=f"{type(exc).__name__}: {exc}")
            self.refused[503] += 1
            await _refuse(send, Refusal(503, "unavailable", "live updates are unavailable right now; retrying",
                                        headers=(("retry-after", "5"),)))
            return
        current = asyncio.current_task()
        assert current is not None
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                continue
            gone.set()
            current.cancel()

        watcher = asyncio.create_task(watch())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache, no-transform"),
                (b"x-accel-buffering", b"no"), *security_headers()]})
            async for chunk in stream_frames(hub, subscription, last, on_live, user_id=who.user_id,
                                             on_revoked=self._cache.revoke):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone.is_set():
                raise  # the server is stopping
        finally:
            watcher.cancel()
            hub.unsubscribe(subscription)


async def _refuse(send: Send, refusal: Refusal) -> None:
    body = json.dumps({"error": refusal.code, "message": refusal.message, "field": refusal.field}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *security_headers(), *((k.encode(), v.encode()) for k, v in refusal.headers)]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def frames(hub: Hub, tenant_id: int, channels: list[str], last: Cursor | None) -> AsyncGenerator[bytes, None]:
    """A stream's bytes for a new subscription to `channels` (stream_frames); it leaves the
    group when the generator is closed."""
    subscription = await hub.subscribe(tenant_id, channels)
    try:
        async for chunk in stream_frames(hub, subscription, last):
            yield chunk
    finally:
        hub.unsubscribe(subscription)


async def stream_frames(hub: Hub, subscription: Subscription, last: Cursor | None,
                        on_live: Callable[[], None] | None = None, *, user_id: int | None = None,
                        on_revoked: Callable[[int], None] | None = None) -> AsyncGenerator[bytes, None]:
    """The stream's bytes: the retry hint, the replay after `last`, then live events (calling
    `on_live` when those start).

    Ends (the browser reconnects and replays from its cursor) after LIVE_STREAM_MAX_S or when
    the client falls too far behind; ends for good when an event revokes `user_id` (deactivated:
    the browser's reconnect is then refused). Every revoking event seen is passed to `on_revoked`.
    """
    retry = f"retry: {settings.LIVE_RETRY_MS}\n"
    if last is None:  # a new client starts now; the id lets it resume here even before any event
        yield f"{retry}id: {subscription.start}\n\n".encode()
        position = subscription.start
    else:
        yield f"{retry}\n".encode()
        position = last
    if position < subscription.start:
        async for page in hub.replay(subscription, position):
            revoked = [event.ends_streams_of for event in page.events if event.ends_streams_of is not None]
            for user in revoked:
                if on_revoked is not None:
                    on_revoked(user)
            yield page.chunk  # one write for a page of a replay
            if user_id is not None and user_id in revoked:  # signed out while this browser was away
                yield SIGNED_OUT
                return
        # Everything of ours up to the group's cursor has been sent; the group sends the rest.
        position = subscription.start
        yield f"id: {position}\n\n".encode()
    if on_live is not None:
        on_live()
    async for frame in _live(subscription, position, user_id, on_revoked):
        yield frame


async def _live(subscription: Subscription, position: Cursor, user_id: int | None = None,
                on_revoked: Callable[[int], None] | None = None) -> AsyncIterator[bytes]:
    """Events from the group after `position`, keep-alives between them, until the time is up
    or an event revokes `user_id`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.LIVE_STREAM_MAX_S
    while (remaining := deadline - loop.time()) > 0:
        try:
            event = await asyncio.wait_for(subscription.queue.get(), min(settings.LIVE_KEEPALIVE_S, remaining))
        except TimeoutError:
            # The queue is empty, so every event of ours up to the group's cursor was sent:
            # moving the browser's id there spares its next reconnect a longer replay.
            group_position = subscription.group.position
            advance = f"id: {group_position}\n" if group_position > position else ""
            position = max(position, group_position)
            yield f": keep-alive\n{advance}\n".encode()
            continue
        if event is OVERFLOW:
            return
        if event.cursor > position:  # a client ahead of this process's hub has these already
            yield event.frame
            position = event.cursor
        if event.ends_streams_of is not None:
            if on_revoked is not None:
                on_revoked(event.ends_streams_of)
            if event.ends_streams_of == user_id:
                log.info("live.stream_revoked", user_id=user_id)
                yield SIGNED_OUT  # the page learns now, not at its refused reconnect
                return


stream_app = StreamApp()
