"""The Markdown renderer, run as a separate process by core/learning/rendering.py.

Python-Markdown is super-linear on some inputs (thousands of unclosed brackets take minutes)
and recursive on others (deeply nested lists raise RecursionError), so it never runs in a
web or worker process: this small process renders one body at a time, and its parent kills
it when a render overruns its time limit. It imports nothing of Ferry and nothing of Django,
so it starts in a fraction of a second, and it caps its own memory.

Protocol (stdin/stdout, binary): the process writes one byte b"R" when ready; then, per
request, it reads a 4-byte big-endian length and that many bytes of UTF-8 Markdown, and
answers a 4-byte length and a JSON object: {"html": ..., "text": ...} or {"error": ...}.
It exits when stdin closes.

The policy (what survives sanitising): only the tags and attributes below; links only to
https:// or relative (same-site) addresses; images only from relative addresses (an image
from another site would tell that site who reads the page, and when); protocol-relative
addresses ("//host/...", also spelled with backslashes or control characters) are removed,
because a browser treats them as another site.
"""

from __future__ import annotations

import html
import json
import re
import resource
import struct
import sys
from typing import Any, BinaryIO

import markdown
import nh3

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub", "sup",
    "table", "tbody", "td", "th", "thead", "tr", "ul",
})
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "abbr": {"title"},
    "td": {"align"},
    "th": {"align"},
}
# Checked by nh3 on href and src; relative addresses pass it and are checked by _url_filter.
URL_SCHEMES = frozenset({"https"})
MARKDOWN_EXTENSIONS = ["fenced_code", "tables", "sane_lists"]
# The renderer's address space: far above what a 20,000-character body needs, far below
# what would hurt the machine.
MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
# Browsers drop tabs and newlines anywhere in a URL and C0 controls and spaces around it.
_URL_IGNORED = re.compile(r"[\t\n\r]")


def _browser_view(url: str) -> str:
    """The address as a browser resolves it, as far as scheme and host are concerned."""
    return _URL_IGNORED.sub("", url).strip("".join(map(chr, range(0x21)))).replace("\\", "/")


def _url_filter(element: str, attribute: str, value: str) -> str | None:
    """nh3 attribute filter: drop protocol-relative addresses everywhere, and any image
    address that names a scheme (another site)."""
    if (element, attribute) not in {("a", "href"), ("img", "src")}:
        return value
    seen = _browser_view(value)
    if seen.startswith("//"):
        return None
    if element == "img" and _SCHEME.match(seen):
        return None
    return value


def markdown_to_html(text: str) -> str:
    """Markdown -> the HTML Python-Markdown makes of it (unsanitised: authors may write HTML)."""
    return markdown.markdown(text, extensions=MARKDOWN_EXTENSIONS, output_format="html")


def sanitised(raw: str) -> str:
    """Rendered HTML -> HTML safe to insert into a page as is."""
    return nh3.clean(raw, tags=set(ALLOWED_TAGS), attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
                     url_schemes=set(URL_SCHEMES), attribute_filter=_url_filter,
                     link_rel="noopener noreferrer nofollow")


def readable_text(raw: str) -> str:
    """Rendered HTML -> its readable text, for the search index and its snippets: no markup,
    no control characters (the snippets use \\x02 and \\x03 as highlight markers)."""
    stripped = _CONTROL.sub(" ", html.unescape(nh3.clean(raw, tags=set())))
    lines = [_SPACES.sub(" ", line).strip() for line in stripped.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def render(text: str) -> dict[str, str]:
    """One request: {"html", "text"}, or {"error"} when the body cannot be rendered."""
    try:
        raw = markdown_to_html(text)
        return {"html": sanitised(raw), "text": readable_text(raw)}
    except RecursionError:
        return {"error": "the body nests too deeply to render"}
    except MemoryError:
        return {"error": "the body needs too much memory to render"}
    except Exception as exc:  # any failure of the renderer refuses this body, not the process
        return {"error": f"the body could not be rendered ({type(exc).__name__})"}


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _write(stream: BinaryIO, reply: dict[str, Any]) -> None:
    data = json.dumps(reply).encode()
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """Answer requests until the parent closes stdin."""
    replies.write(b"R")
    replies.flush()
    while True:
        header = _read_exactly(requests, 4)
        if header is None:
            return
        body = _read_exactly(requests, struct.unpack(">I", header)[0])
        if body is None:
            return
        _write(replies, render(body.decode("utf-8", errors="replace")))


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
