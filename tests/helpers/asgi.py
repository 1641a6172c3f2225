"""Calling an ASGI application in-process, as uvicorn would, for what happens before a body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    """What an ASGI app sent: its status, headers (lower-case names) and body chunks."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def json(self) -> Any:
        return json.loads(self.body)


class Call:
    """One request to `app`; `disconnect()` plays a client going away."""

    def __init__(self, app: Callable[..., Coroutine[Any, Any, None]], path: str, *, method: str = "GET",
                 headers: dict[str, str] | None = None, query: str = "") -> None:
        self.answer = Answer()
        self._gone = asyncio.Event()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
                 "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
                 "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]}
        self.task = asyncio.get_running_loop().create_task(app(scope, self._receive, self._send))

    async def _receive(self) -> dict[str, Any]:
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.answer.status = message["status"]
            self.answer.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            self.answer.started.set()
        elif message["type"] == "http.response.body":
            self.answer.chunks.append(message.get("body", b""))
            self.answer.ended = not message.get("more_body", False)

    async def started(self, timeout: float = 10) -> Answer:
        """The answer once its status is known (a refusal's body is complete by then too)."""
        await asyncio.wait_for(self.answer.started.wait(), timeout)
        await asyncio.sleep(0)  # a refusal sends its body right after the start
        return self.answer

    async def first_block(self, timeout: float = 10) -> bytes:
        """The first body chunk of a stream."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.answer.chunks:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("no body within the timeout")
            await asyncio.sleep(0.01)
        return self.answer.chunks[0]

    async def disconnect(self) -> None:
        self._gone.set()
        await asyncio.wait_for(self.task, 10)
