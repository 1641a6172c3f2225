"""Thousands of live streams from one process: an asyncio server-sent events client, the
storm of streams opened at once that a web restart causes, and its measurements.

Used by `python -m bench.live` (the benchmark) and by the end-to-end storm test.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


def allow_many_sockets() -> None:
    """Each stream is a socket: use as many as this process's hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1_048_576
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@dataclass
class Block:
    """One SSE block: its id (if any), its data line (JSON text, decoded on demand), when it
    arrived. Decoding is left for after the measurement: ten thousand streams replaying
    hundreds of events each are millions of blocks, and the client shares the machine."""

    id: str | None
    text: str | None
    at: float

    @property
    def data(self) -> dict[str, Any] | None:
        return json.loads(self.text) if self.text is not None else None


@dataclass(eq=False)
class AsyncStream:
    """One GET of the stream, read as a browser's EventSource would (chunked transfer)."""

    url: str
    cookie: str
    last_event_id: str | None = None
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""  # a refusal's body
    blocks: list[Block] = field(default_factory=list)
    opened_at: float = 0.0
    error: str = ""
    # When the event whose aggregate id is `watch` arrived (set `watch` before it is sent).
    watch: str | None = None
    watched_at: float | None = None
    _writer: asyncio.StreamWriter | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def open(self, timeout: float = 60) -> None:
        """Connect, send the request and read the answer's head and first block (or a refusal)."""
        parts = urlsplit(self.url)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port or 80), timeout)
            self._writer = writer
            head = ["GET /live/stream HTTP/1.1", f"Host: {parts.netloc}", "Accept: text/event-stream",
                    f"Cookie: {self.cookie}"]
            if self.last_event_id:
                head.append(f"Last-Event-ID: {self.last_event_id}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            return
        lines = raw.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if self.status != 200:
            length = int(self.headers.get("content-length", "0") or 0)
            self.body = await reader.readexactly(length) if length else b""
            self.close()
            return
        self.opened_at = time.monotonic()
        asyncio.get_running_loop().create_task(self._read(reader))
        await asyncio.wait_for(self._arrived.wait(), timeout)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        try:
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.strip(), 16)
                if size == 0:
                    return
                chunk = await reader.readexactly(size + 2)
                buffer += chunk[:-2]
                *complete, buffer = buffer.split(b"\n\n")
                now = time.monotonic()
                for text in complete:
                    self._block(text.decode(), now)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return

    def _block(self, raw: str, at: float) -> None:
        fields: dict[str, str] = {}
        data: list[str] = []
        for line in raw.split("\n"):
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            elif name:
                fields[name] = value
        text = "\n".join(data) if data else None
        self.blocks.append(Block(fields.get("id"), text, at))
        if self.watch is not None and text is not None and f'"id":"{self.watch}"' in text:
            self.watched_at = at
        self._arrived.set()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(b.text) for b in self.blocks if b.text is not None]

    def arrival_of(self, label: str) -> float | None:
        """When the event whose aggregate id is `label` arrived (labels are unique strings)."""
        needle = f'"id":"{label}"'
        return next((b.at for b in reversed(self.blocks) if b.text is not None and needle in b.text), None)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


async def open_all(streams: Sequence[AsyncStream], timeout: float = 60) -> float:
    """Open every stream at once; the seconds until the last one answered."""
    started = time.monotonic()
    await asyncio.gather(*(stream.open(timeout) for stream in streams))
    return time.monotonic() - started


async def wait_for_watched(streams: Sequence[AsyncStream], timeout: float) -> None:
    """Until every open stream has its watched event, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(s.watched_at is not None for s in streams if s.status == 200):
            return
        await asyncio.sleep(0.05)


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of `values`, in milliseconds."""
    return {"p50_ms": round(statistics.median(values) * 1000, 1) if values else float("nan"),
            "p99_ms": round(percentile(values, 0.99) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1) if values else float("nan")}
