"""Request-scoped context for logs: a request id, taken from X-Request-ID or generated, on
every line of the request, and one `http.request` line per request (method, route pattern,
status, milliseconds to the response) that carries it. The same route, status and time go
to the web's metrics (core/platform/metrics.py).

The id follows the request's work: emit() stores it as the outbox row's trace_id, the relay's
batch line (DEBUG) lists the trace ids it published, and the worker's `outbox.effect_recorded`
line carries it, so one request can be followed through every process's log."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from core.platform.metrics import WEB

log = structlog.get_logger("ferry.http")

# Accept a caller's id only if it is short and harmless in a log line or a header.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_for(request: HttpRequest) -> str:
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


class RequestContextMiddleware:
    """Binds request_id to every log line of the request and echoes it in the response."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        request_id, started = request_id_for(request), time.perf_counter()
        request.request_id = request_id  # type: ignore[attr-defined]
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            response: HttpResponseBase = self.get_response(request)
            _log_request(request, response, started)
        response["X-Request-ID"] = request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        request_id, started = request_id_for(request), time.perf_counter()
        request.request_id = request_id  # type: ignore[attr-defined]
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            response: HttpResponseBase = await self.get_response(request)
            _log_request(request, response, started)
        response["X-Request-ID"] = request_id
        return response


def _log_request(request: HttpRequest, response: HttpResponseBase, started: float) -> None:
    """The request's line and metrics: the route's pattern, not its path (no ids or names in
    the label)."""
    seconds = time.perf_counter() - started
    match = getattr(request, "resolver_match", None)
    route = match.route if match else ""
    log.info("http.request", method=request.method, route=route, status=response.status_code,
             ms=round(seconds * 1000, 1))
    WEB.request(route, str(request.method), response.status_code, seconds)


def client_address(request: HttpRequest) -> str:
    """The peer's address as the server sees it (uvicorn puts a trusted proxy's X-Forwarded-For
    here when started with --proxy-headers); "unknown" when the server gave none."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def content_security_policy(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    """Every response carries settings.CONTENT_SECURITY_POLICY (unless a view set its own): the
    browser then runs no script and applies no style that is not a file of this site."""
    from django.conf import settings

    policy = settings.CONTENT_SECURITY_POLICY

    def stamp(response: HttpResponseBase) -> HttpResponseBase:
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response

    if iscoroutinefunction(get_response):
        async def middleware_async(request: HttpRequest) -> HttpResponseBase:
            return stamp(await get_response(request))

        return markcoroutinefunction(middleware_async)

    def middleware(request: HttpRequest) -> HttpResponseBase:
        return stamp(get_response(request))

    return middleware


content_security_policy.sync_capable = True  # type: ignore[attr-defined]
content_security_policy.async_capable = True  # type: ignore[attr-defined]
