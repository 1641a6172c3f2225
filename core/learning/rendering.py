"""Markdown to safe HTML and to plain text, once, when a version is written.

A version is immutable, so its body is rendered when it is saved (create_content /
create_version) and the result is stored on the row (body_html for pages and the API,
body_text for the search index); nothing renders on the request path of a read or in a
task. The render itself is bounded, because Python-Markdown is super-linear on some inputs
and recursive on others:

1. cheap pre-checks refuse what is known to be slow or to recurse, instantly, with a
   message the author can act on: lists or quotes nested more than MAX_NESTING deep, and
   bracket patterns whose scanning cost exceeds SCAN_BUDGET (see scan_cost());
2. the render runs in a separate process (core/learning/markdown_worker.py) that is killed
   when it takes longer than RENDER_TIMEOUT_S, or fails on its own (RecursionError,
   MemoryError under its address-space limit): whatever slips past the pre-checks still
   costs at most that long, and never the caller's stack or memory.

Any refusal is a RenderRefused with a user-readable message; the write functions turn it into
Invalid(field="body"). The sanitising policy (nh3 allowlist; links to https:// or relative
addresses only, images from relative addresses only) lives with the renderer.

RENDER_REVISION names the renderer's behaviour. Versions store the revision they were
rendered with, and search documents the revision of the text they hold; bump it when the
output changes, with a data migration that calls rerender() on every version, and
heal_search_index then rewrites every document of an older revision (ADR 0010).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

RENDER_REVISION = 2

# Deepest list / quote nesting accepted (a level is a `>` or four columns of indentation
# before a list marker); Python-Markdown recurses per level.
MAX_NESTING = 16
# Python-Markdown looks for the end of a link from every `[` (to its matching `]`, or to the
# end of the block when there is none), for the end of its address from every `](`, and for
# the end of an HTML tag from every `<` (to the next `>`): the sum of those distances is its
# cost, 0.1 to 1 µs per character scanned, so the budget bounds the known slow cases near 0.5 s.
SCAN_BUDGET = 500_000
# One render's wall clock, and the renderer's start-up (once per process).
RENDER_TIMEOUT_S = 2.0
STARTUP_TIMEOUT_S = 30.0

WORKER = Path(__file__).with_name("markdown_worker.py")

_BLOCKS = re.compile(r"\n[ \t]*\n")
_NESTING = re.compile(r"^((?:[ \t]*>)*)([ \t]*)(?:[-*+]|\d{1,9}[.)])(?=[ \t]|$)|^((?:[ \t]*>)+)")
_TAG_START = re.compile(r"(?<!\\)<[A-Za-z/!?]")


class RenderRefused(ValueError):
    """The body cannot be rendered safely; the message says why, for its author."""


@dataclass(frozen=True)
class Rendered:
    html: str  # sanitised: safe to insert into a page as is
    text: str  # plain text for the search index: no markup, no control characters
    revision: int = RENDER_REVISION


# --- pre-checks -----------------------------------------------------------------------------


def nesting_depth(text: str) -> int:
    """The deepest list or quote nesting of any line."""
    deepest = 0
    for line in text.splitlines():
        match = _NESTING.match(line)
        if match is None:
            continue
        quotes = (match.group(1) or match.group(3) or "").count(">")
        indent = len((match.group(2) or "").expandtabs(4)) // 4
        deepest = max(deepest, quotes + indent)
    return deepest


def _bracket_cost(block: str) -> int:
    """Characters Python-Markdown scans in one block looking for the `]` of each `[`, and for
    the `)` of each `](` (a link's address); an escaped bracket (`\\[`) costs nothing."""
    cost = 0
    opened: dict[str, list[int]] = {"[": [], "(": []}
    closing = {"]": "[", ")": "("}
    escaped = False
    for position, char in enumerate(block):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in opened:
            # A `(` costs only as a link's address: right after a `]`.
            opened[char].append(position if char == "[" or block[position - 1:position] == "]" else -1)
        elif char in closing and opened[closing[char]]:
            start = opened[closing[char]].pop()
            cost += position - start if start >= 0 else 0
    return cost + sum(len(block) - start for starts in opened.values() for start in starts if start >= 0)


def _tag_cost(text: str) -> int:
    """Characters scanned looking for the `>` of everything that starts like an HTML tag."""
    cost, end = 0, len(text)
    for match in _TAG_START.finditer(text):
        close = text.find(">", match.start())
        cost += (close if close >= 0 else end) - match.start()
    return cost


def scan_cost(text: str) -> int:
    """An estimate of the renderer's super-linear work on `text` (see SCAN_BUDGET)."""
    return sum(_bracket_cost(block) for block in _BLOCKS.split(text)) + _tag_cost(text)


def check_renderable(text: str) -> None:
    """RenderRefused, at once, for bodies known to be too slow or too deep to render."""
    depth = nesting_depth(text)
    if depth > MAX_NESTING:
        raise RenderRefused(f"body nests lists or quotes {depth} levels deep; at most {MAX_NESTING} are allowed")
    if scan_cost(text) > SCAN_BUDGET:
        raise RenderRefused("body has too many unclosed brackets [ or < to render; close them or escape them "
                            "with a backslash (\\[, \\<)")


# --- the renderer process ----------------------------------------------------------------------


class _Renderer:
    """One renderer process per Ferry process, started on first use, one render at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._owner = 0  # the pid that started it: a forked child starts its own

    def render(self, text: str, timeout_s: float) -> Rendered:
        with self._lock:
            process = self._running()
            try:
                reply = self._exchange(process, text.encode(), timeout_s)
            except TimeoutError:
                self._stop()
                raise RenderRefused(f"body took longer than {timeout_s:g} s to render; simplify it") from None
            except (OSError, EOFError, ValueError):
                self._stop()
                raise RenderRefused("body could not be rendered (the renderer stopped)") from None
        if "error" in reply:
            raise RenderRefused(str(reply["error"]))
        return Rendered(html=str(reply["html"]), text=str(reply["text"]))

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is not None and (self._owner != os.getpid() or self._process.poll() is not None):
            self._stop()
        if self._process is None:
            self._process = self._start()
            self._owner = os.getpid()
        return self._process

    @staticmethod
    def _start() -> subprocess.Popen[bytes]:
        # -I: no environment variables, no user site, and not the script's directory on
        # sys.path (core/learning/selectors.py would shadow the standard library's).
        process = subprocess.Popen([sys.executable, "-I", str(WORKER)],  # noqa: S603 - our own script
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   bufsize=0, close_fds=True)
        try:
            if _read(process, 1, time.monotonic() + STARTUP_TIMEOUT_S) != b"R":
                raise EOFError
        except (TimeoutError, EOFError, OSError):
            process.kill()
            process.wait()
            raise RuntimeError(f"the Markdown renderer ({WORKER.name}) did not start") from None
        return process

    @staticmethod
    def _exchange(process: subprocess.Popen[bytes], body: bytes, timeout_s: float) -> dict[str, object]:
        assert process.stdin is not None
        deadline = time.monotonic() + timeout_s
        process.stdin.write(struct.pack(">I", len(body)) + body)
        (size,) = struct.unpack(">I", _read(process, 4, deadline))
        reply = json.loads(_read(process, size, deadline))
        if not isinstance(reply, dict):
            raise ValueError("malformed reply")
        return reply

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()


def _read(process: subprocess.Popen[bytes], size: int, deadline: float) -> bytes:
    """Exactly `size` bytes of the process's output by `deadline`: TimeoutError, or EOFError
    if it stops first."""
    assert process.stdout is not None
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError
            chunk = os.read(process.stdout.fileno(), size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
    return data


_renderer = _Renderer()


def render_body(text: str) -> Rendered:
    """Markdown -> sanitised HTML and plain text, or RenderRefused with the reason (at once
    for known-bad bodies, after at most RENDER_TIMEOUT_S otherwise). `text` must be clean
    (core/learning/text.py: no NUL, no lone surrogates)."""
    check_renderable(text)
    return _renderer.render(text, RENDER_TIMEOUT_S)


def render_or_escape(text: str) -> Rendered:
    """render_body(), or for a body that cannot be rendered its text, escaped, in a <pre>:
    for re-rendering stored versions (migrations), which must not fail."""
    import html

    try:
        return render_body(text)
    except RenderRefused:
        plain = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", " ", text)
        return Rendered(html=f"<pre>{html.escape(plain)}</pre>", text=plain.strip())
