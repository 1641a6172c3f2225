"""Markdown to safe HTML, and to the plain text the search index holds.

Authors write Markdown; Markdown allows raw HTML, so its output is never trusted: nh3
(an allowlist sanitiser) keeps only the tags and attributes below and only http(s)/mailto
links, which removes scripts, event handlers, `javascript:` URLs, iframes and styles.

Rendered HTML is cached in the Redis cache DB keyed by version id: versions are immutable,
so a key never goes stale, a publish or rollback simply reads another key, and a flushed
cache costs one re-render.
"""

from __future__ import annotations

import html
import re

import markdown
import nh3
from django.conf import settings
from django.core.cache import cache

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
URL_SCHEMES = frozenset({"http", "https", "mailto"})
MARKDOWN_EXTENSIONS = ["fenced_code", "tables", "sane_lists"]

# Bump when the rendering changes, so cached HTML of the old rendering is not served.
RENDER_REVISION = 1

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def render_markdown(text: str) -> str:
    """Markdown -> sanitised HTML, safe to insert into a page as is."""
    raw = markdown.markdown(text, extensions=MARKDOWN_EXTENSIONS, output_format="html")
    return nh3.clean(raw, tags=set(ALLOWED_TAGS), attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
                     url_schemes=set(URL_SCHEMES), link_rel="noopener noreferrer nofollow")


def plain_text(text: str) -> str:
    """Markdown -> the readable text of it, for the search index and its snippets.

    No markup survives and no control characters (the search snippets use two of them as
    highlight markers, core/learning/search.py).
    """
    rendered = markdown.markdown(text, extensions=MARKDOWN_EXTENSIONS, output_format="html")
    stripped = html.unescape(nh3.clean(rendered, tags=set()))
    stripped = _CONTROL.sub(" ", stripped)
    lines = [_SPACES.sub(" ", line).strip() for line in stripped.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def version_html_key(version_id: int) -> str:
    return f"learning:version:{version_id}:html:r{RENDER_REVISION}"


def cached_version_html(version_id: int, body: str) -> str:
    """The sanitised HTML of version `version_id` whose Markdown is `body`, from the cache
    when present. The caller passes the body it read, so a miss costs no query."""
    key = version_html_key(version_id)
    rendered = cache.get(key)
    if not isinstance(rendered, str):
        rendered = render_markdown(body)
        cache.set(key, rendered, settings.LEARNING_CACHE_TIMEOUT_S)
    return rendered
