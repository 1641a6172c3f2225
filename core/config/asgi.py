"""ASGI entry point: the web process runs under uvicorn.

Two applications share the process: the live stream (core/live/stream.py), served without
Django's middleware so that thousands of streams cost coroutines rather than threads, and
Django for everything else. Its metrics are served on a port of their own (WEB_METRICS_PORT).
"""

from __future__ import annotations

import gc
import os
import resource
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.config.settings")

django_application = get_asgi_application()

from django.conf import settings  # noqa: E402

from core.live.stream import stream_app  # noqa: E402 - after Django is set up
from core.platform.channels import STREAM_PATH  # noqa: E402
from core.platform.metrics import WEB, serve  # noqa: E402

Scope = dict[str, Any]


def _allow_many_connections() -> None:
    """Each open stream is a socket: let this process use as many as its hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1_048_576
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def application(scope: Scope, receive: Callable[[], Awaitable[Any]],
                      send: Callable[[Any], Awaitable[None]]) -> None:
    """The stream path goes to the live stream; every other request to Django."""
    if scope["type"] == "http" and scope["path"] == STREAM_PATH:
        await stream_app(scope, receive, send)
    else:
        await django_application(scope, receive, send)


def _serve_metrics() -> None:
    """The web's metrics (requests, open streams) on WEB_METRICS_PORT, apart from the site: one
    uvicorn process, one port."""
    WEB.watch_streams(lambda: stream_app.open, stream_app.refused)
    if settings.WEB_METRICS_PORT:
        serve(WEB.registry, settings.WEB_METRICS_PORT, settings.METRICS_ADDR)


_allow_many_connections()
_serve_metrics()
# Thousands of open streams are many long-lived objects: the cyclic collector's default
# thresholds would scan them every few hundred milliseconds, stalling every request.
# Collect less often, and never rescan what was loaded at start-up.
gc.set_threshold(50_000, 20, 100)
gc.freeze()
# Page and API requests run Django's sync code in threads beside the event loop that serves
# the streams; hand the interpreter over every millisecond rather than every five, so a
# request's thread waits less behind a busy loop at each database round trip.
sys.setswitchinterval(0.001)
