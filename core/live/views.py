"""GET /live/stream: the signed-in user's live events as server-sent events (ADR 0009).

The stream carries the user's channels (core.platform.channels.channels_for: the tenant's and the
user's own). Each event's SSE `id` is its outbox cursor; a browser that reconnects sends
it back as Last-Event-ID and first receives, from Postgres, every event of its channels
after that cursor, then live ones, without a gap or a duplicate at the switch. A client
may also pass `?last_event_id=` (a page embeds its render-time cursor this way, so nothing
that happens between rendering and connecting is missed); the header wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from core.accounts.access import user_has_role
from core.live.hub import OVERFLOW, Hub, Subscription, get_hub
from core.platform.channels import channels_for
from core.platform.roles import Role
from outbox.reader import Cursor, InvalidCursor

ANY_ROLE = frozenset(Role)


def _refusal(status: int, code: str, message: str, field: str | None = None) -> JsonResponse:
    # The API's error shape (core/platform/api.py), so clients handle one.
    return JsonResponse({"error": code, "message": message, "field": field}, status=status)


def _who(user: Any) -> tuple[int, int] | JsonResponse:
    """(tenant id, user id) of a user with a role in a tenant, or the 401/403 refusal."""
    if not user.is_authenticated:
        return _refusal(401, "unauthenticated", "sign in first")
    if not user_has_role(user, ANY_ROLE):  # platform staff and role-less users have no channels
        return _refusal(403, "forbidden", "the live stream is for users of an agency")
    return int(user.tenant_id), int(user.pk)


def _last_event_id(request: HttpRequest) -> Cursor | None:
    """The client's cursor: the Last-Event-ID header, else ?last_event_id=; InvalidCursor if malformed."""
    text = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
    return Cursor.parse(text) if text else None


@require_GET
async def stream(request: HttpRequest) -> HttpResponseBase:
    user = await request.auser()
    who = await sync_to_async(_who)(user)  # user.roles reads the database
    if isinstance(who, JsonResponse):
        return who
    try:
        last = _last_event_id(request)
    except InvalidCursor as exc:
        return _refusal(400, "invalid", str(exc), "Last-Event-ID")
    tenant_id, user_id = who
    response = StreamingHttpResponse(_frames(get_hub(), tenant_id, channels_for(tenant_id, user_id), last),
                                     content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # proxies must pass events through as they come
    return response


stream.ferry_roles = ANY_ROLE  # type: ignore[attr-defined]  # for the access-matrix test (core/accounts/access.py)


async def _frames(hub: Hub, tenant_id: int, channels: list[str], last: Cursor | None,
                  ) -> AsyncGenerator[bytes, None]:
    """The stream's bytes: the retry hint, the replay after `last`, then live events.

    Ends (the browser reconnects and replays from its cursor) after LIVE_STREAM_MAX_S or when
    the client falls too far behind. Django cancels it when the client goes away.
    """
    await release_request_thread()
    subscription = await hub.subscribe(tenant_id, channels)
    try:
        retry = f"retry: {settings.LIVE_RETRY_MS}\n"
        if last is None:  # a new client starts now; the id lets it resume here even before any event
            yield f"{retry}id: {subscription.start}\n\n".encode()
            position = subscription.start
        else:
            yield f"{retry}\n".encode()
            position = last
        if position < subscription.start:
            async for event in hub.replay(position, subscription.start, channels):
                yield event.frame
                position = event.cursor
            # Everything of ours up to the group's cursor has been sent; the group sends the rest.
            position = subscription.start
            yield f"id: {position}\n\n".encode()
        async for frame in _live(subscription, position):
            yield frame
    finally:
        hub.unsubscribe(subscription)


async def _live(subscription: Subscription, position: Cursor) -> AsyncIterator[bytes]:
    """Events from the group after `position`, keep-alives between them, until the time is up."""
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


async def release_request_thread() -> None:
    """Give back the thread and the database connection the request's set-up used.

    Django serves each ASGI request inside asgiref's ThreadSensitiveContext: sync work of
    the request (session and user lookups, sync middleware) runs on a one-thread executor
    made for that request, which keeps its thread, and that thread's database connection,
    until the request ends. For a stream that lasts minutes this would be a thread and a
    pooled connection per idle client. Once the response has started (middleware is done),
    close that thread's connections (returning them to the pool) and shut its executor
    down; any later sync call of the request gets a fresh executor that lives briefly.
    """
    await sync_to_async(connections.close_all)()  # runs on the request's own thread
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is not None:
        executor = SyncToAsync.context_to_thread_executor.pop(context, None)
        if executor is not None:
            executor.shutdown(wait=False)
