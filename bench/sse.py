"""A small server-sent events client over the standard library, for benchmarks and tests.

It speaks to a running web process as a browser's EventSource would (session cookie,
Last-Event-ID), and also reports the blocks a browser does not surface (id-only blocks,
keep-alive comments), so callers can check cursors and liveness.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Block:
    """One SSE block (lines up to a blank line). `data` is None when it had no data line."""

    id: str | None
    data: str | None
    retry: int | None
    comments: tuple[str, ...]

    @property
    def message(self) -> dict[str, Any]:
        assert self.data is not None
        result: dict[str, Any] = json.loads(self.data)
        return result


class Stream:
    """An open GET to a stream URL. `status` is the HTTP status; read blocks with `next_block`."""

    def __init__(self, base_url: str, path: str = "/live/stream", *, cookies: dict[str, str] | None = None,
                 last_event_id: str | None = None, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self._connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                                      timeout=timeout)
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self._connection.request("GET", path, headers=headers)
        self.response = self._connection.getresponse()
        self.status = self.response.status
        self.last_id: str | None = last_event_id

    def body(self) -> bytes:
        """The whole body of a refused (non-200) answer."""
        return self.response.read()

    def next_block(self, timeout: float) -> Block | None:
        """The next block, or None if none completes within `timeout` seconds or the stream ended."""
        deadline = time.monotonic() + timeout
        fields: dict[str, str] = {}
        data: list[str] = []
        comments: list[str] = []
        while True:
            line = self._readline(deadline)
            if line is None:
                return None
            if line == "":
                if fields or data or comments:
                    return self._block(fields, data, comments)
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                comments.append(value)
            elif name == "data":
                data.append(value)
            else:
                fields[name] = value

    def _block(self, fields: dict[str, str], data: list[str], comments: list[str]) -> Block:
        if "id" in fields:
            self.last_id = fields["id"]
        retry = fields.get("retry")
        return Block(id=fields.get("id"), data="\n".join(data) if data else None,
                     retry=int(retry) if retry and retry.isdigit() else None, comments=tuple(comments))

    def _readline(self, deadline: float) -> str | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock = self._connection.sock
        if sock is not None:
            sock.settimeout(remaining)
        try:
            raw = self.response.readline()
        except TimeoutError:
            return None
        if not raw:
            return None  # the server ended the stream
        return raw.decode().rstrip("\r\n")

    def messages(self, timeout: float) -> Iterator[dict[str, Any]]:
        """Data blocks as decoded JSON, until none arrives for `timeout` seconds."""
        while (block := self.next_block(timeout)) is not None:
            if block.data is not None:
                yield block.message

    def close(self) -> None:
        self._connection.close()
