"""The cache of published documents: what a problem or lesson page and the API show of a live
version (title, number, rendered body), in the Redis cache DB (django-redis).

Freshness never depends on the cache. A page first reads which version is live from
PostgreSQL (one indexed row, without the large text columns), then asks the cache for that
version's document, keyed `learning:version:<id>:html:r<render revision>`. A version is
immutable and its rendering is named by the revision, so a cached document is never stale:
a publish, unpublish or rollback changes which key the next page asks for, in the same
transaction that changes the pointer. The outbox events of those changes
(`content.published`, `content.unpublished`, `content.rolled_back`, consumed by
learning.index_content) evict the document that stopped being live, so the cache holds what
is read, not every version ever published; and keys expire after LEARNING_CACHE_TTL_S.

Filled on read. A FLUSHDB, a Redis outage (the cache ignores connection errors) or
LEARNING_CACHE=False costs the read of the version's row, nothing else. Hits and misses are
counted (`STATS`, and the web process's metric ferry_learning_cache_lookups_total).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from core.learning.models import Content, Version
from core.learning.rendering import RENDER_REVISION
from core.platform.errors import NotFound
from core.platform.metrics import WEB

# In-process counts (tests and the benchmark read them): hit, miss, bypass.
STATS: Counter[str] = Counter()


@dataclass(frozen=True)
class LiveDocument:
    """A published content as its readers see it: its live version, rendered."""

    content_id: int
    kind: str
    version_id: int
    version_number: int
    title: str
    body_html: str


def document_key(version_id: int) -> str:
    return f"learning:version:{version_id}:html:r{RENDER_REVISION}"


def live_version_id(tenant_id: int, content_id: int, kind: str) -> int:
    """The id of the live version of a published content of `kind`; NotFound for drafts,
    unpublished content and other tenants' ids alike."""
    found = (Content.objects.filter(id=content_id, tenant_id=tenant_id, kind=kind, live_version__isnull=False)
             .values_list("live_version_id", flat=True).first())
    if found is None:
        raise NotFound(f"{kind} {content_id} not found")
    return int(found)


def live_document(tenant_id: int, content_id: int, kind: str) -> LiveDocument:
    """The published document of a content: the pointer from PostgreSQL, the document from the
    cache (filled from PostgreSQL on a miss)."""
    version_id = live_version_id(tenant_id, content_id, kind)
    if not settings.LEARNING_CACHE:
        _count("bypass")
        return _load(content_id, kind, version_id)
    cached = cache.get(document_key(version_id))
    if isinstance(cached, dict):
        _count("hit")
        return LiveDocument(**cached)
    _count("miss")
    document = _load(content_id, kind, version_id)
    cache.set(document_key(version_id), asdict(document), settings.LEARNING_CACHE_TTL_S)
    return document


def evict_not_live(content_id: int) -> int:
    """Forget the cached documents of the content's versions that are not live now (the
    consumer of its live-change events calls this); how many keys were named."""
    live = Content.objects.filter(id=content_id).values_list("live_version_id", flat=True).first()
    stale = Version.objects.filter(content_id=content_id).exclude(id=live).values_list("id", flat=True) \
        if live is not None else Version.objects.filter(content_id=content_id).values_list("id", flat=True)
    keys = [document_key(version_id) for version_id in stale]
    if keys:
        cache.delete_many(keys)
    return len(keys)


def _load(content_id: int, kind: str, version_id: int) -> LiveDocument:
    version = Version.objects.only("id", "number", "title", "body_html").get(id=version_id)
    return LiveDocument(content_id=content_id, kind=kind, version_id=version.id, version_number=version.number,
                        title=version.title, body_html=version.body_html)


def _count(result: str) -> None:
    STATS[result] += 1
    WEB.learning_cache.labels(result).inc()


def as_api(document: LiveDocument) -> dict[str, Any]:
    return {"id": document.content_id, "kind": document.kind, "version_id": document.version_id,
            "version_number": document.version_number, "title": document.title, "body_html": document.body_html}
