"""Open-content export bundles: fan-out one task per item, fan-in counted in PostgreSQL, one zip
(adr/0029-export-bundles.md).

    request_export   (request)      the bundle, one item per content at its live version, and one
                                    `learning.export_item` event per item, in one transaction
    export_item      (batch, each)  the item's files (HTML page, Markdown source, tests, images)
                                    written to storage under fixed names; then, with the event's
                                    completion, the item is done and counted: the last one moves
                                    the bundle to `queued` and emits `learning.assemble_export`
    assemble         (batch, once)  a job (outbox/jobs.py): claimed, zipped outside any
                                    transaction under a fixed name, recorded `ready`
    expire_exports   (beat, hourly) ready bundles past EXPORT_RETENTION_DAYS lose their files
                                    (`expired`); unfinished ones past their deadline fail

A lost message (FLUSHALL, a killed worker) is redelivered by the outbox's sweep; a redelivered
item or assembly rewrites the same files and finds its row already moved, so nothing is counted,
zipped or recorded twice. The requester follows progress live (export.progress, export.ready
on their own channel).

The bundle (docs/learning.md, "Export bundles"): manifest.json and index.html at the root, then
lessons/<n>-<slug>/ (index.html, lesson.md, images/) and problems/<n>-<slug>/ (index.html,
statement.md, tests.py). Every member name is made here from ids and slugs, and checked
(`member_path`) before it is written: nothing from a user becomes a path.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

import structlog
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from core.accounts.models import User
from core.learning import queries
from core.learning.models import Content, ExportBundle, ExportItem, Kind, LessonImage
from core.platform.channels import user_channel
from core.platform.errors import Invalid, NotFound
from core.platform.storage import save_replacing
from outbox import jobs
from outbox.emit import emit

log = structlog.get_logger(__name__)

FORMAT = "ferry-open-content-bundle"
# The requester hears of progress about this many times per bundle (and of its last item).
PROGRESS_STEPS = 20
FORMAT_VERSION = 1
_IMAGE_SRC = re.compile(r'src="/learning/images/(\d+)/"')
_MEMBER = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")


# --- request --------------------------------------------------------------------------------------


def _content_ids(value: object) -> list[int]:
    """The requested ids, in order, each once; Invalid naming content_ids otherwise."""
    if not isinstance(value, list) or not value:
        raise Invalid("content_ids must be a non-empty list of lesson and problem ids", field="content_ids")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
        raise Invalid("content_ids must hold whole positive numbers", field="content_ids")
    ids = list(dict.fromkeys(value))
    if len(ids) > settings.EXPORT_MAX_ITEMS:
        raise Invalid(f"content_ids may name at most {settings.EXPORT_MAX_ITEMS} items", field="content_ids")
    return ids


def _title(value: object, count: int) -> str:
    if value is None or value == "":
        return f"Open content ({count} item{'s' if count != 1 else ''})"
    if not isinstance(value, str) or len(value) > 200 or not value.strip() or not value.isprintable():
        raise Invalid("title must be printable text of at most 200 characters", field="title")
    return value.strip()


def _live(content: Content) -> int:
    assert content.live_version_id is not None  # selected for it
    return content.live_version_id


@transaction.atomic(durable=True)
def request_export(actor: User, content_ids: object, title: object = None) -> ExportBundle:
    """A bundle of the agency's published lessons and problems named by `content_ids`, each at
    its live version, and one item event each. Invalid for a bad list; NotFound (naming
    content_ids) if one is not a published content of the agency."""
    assert actor.tenant_id is not None
    ids = _content_ids(content_ids)
    name = _title(title, len(ids))
    found = {c.id: c for c in Content.objects.filter(tenant_id=actor.tenant_id, id__in=ids,
                                                      live_version__isnull=False)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"content {missing[0]} is not a published lesson or problem of your agency",
                       field="content_ids")
    bundle = ExportBundle.objects.create(
        tenant_id=actor.tenant_id, requested_by=actor, title=name, key=secrets.token_hex(16), items_total=len(ids),
        deadline_at=timezone.now() + timedelta(seconds=settings.EXPORT_DEADLINE_S))
    items = ExportItem.objects.bulk_create(
        ExportItem(bundle=bundle, tenant_id=actor.tenant_id, content_id=i, version_id=_live(found[i]), position=n)
        for n, i in enumerate(ids, start=1))
    for item in items:
        emit("export.item_requested", aggregate_type="export", aggregate_id=bundle.id, task="learning.export_item",
             tenant_id=actor.tenant_id, actor_id=actor.id, payload={"item_id": item.id})
    _tell(bundle, "export.requested")
    return bundle


def _tell(bundle: ExportBundle, event_type: str) -> None:
    """The requester's live view of the bundle's progress."""
    emit(event_type, aggregate_type="export", aggregate_id=bundle.id,
         channel=user_channel(bundle.tenant_id, bundle.requested_by_id), tenant_id=bundle.tenant_id,
         payload={"bundle_id": bundle.id, "title": bundle.title, "status": bundle.status,
                  "items_done": bundle.items_done, "items_total": bundle.items_total, "error": bundle.error[:300]})


# --- one item (fan-out) ----------------------------------------------------------------------------


def member_path(*parts: str) -> str:
    """A zip member name from parts made here; ValueError unless it is a plain relative path of
    lower-case names (no absolute path, no `..`, no backslash: no zip-slip for whoever unpacks)."""
    path = "/".join(parts)
    if not _MEMBER.match(path) or ".." in PurePosixPath(path).parts:
        raise ValueError(f"refusing the bundle member name {path!r}")
    return path


@dataclass(frozen=True)
class ItemClaim:
    item_id: int
    bundle_id: int
    tenant_id: int
    bundle_key: str
    folder: str  # lessons/3-hand-hygiene
    kind: str


def claim_item(item_id: int, tenant_id: int) -> ItemClaim | None:
    """The item if it is still to be made for a bundle being built; None otherwise."""
    item = (ExportItem.objects.filter(id=item_id, tenant_id=tenant_id, status=ExportItem.Status.PENDING,
                                      bundle__status=ExportBundle.Status.BUILDING)
            .select_related("bundle", "content", "version").first())
    if item is None:
        return None
    slug = slugify(item.version.title)[:60].strip("-") or "untitled"
    folder = member_path("lessons" if item.content.kind == Kind.LESSON else "problems", f"{item.position}-{slug}")
    return ItemClaim(item.id, item.bundle_id, tenant_id, item.bundle.key, folder, item.content.kind)


def _page(title: str, body_html: str) -> str:
    return ("<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
            f"{body_html}\n</body>\n</html>\n")


def _images(tenant_id: int, body_html: str) -> tuple[str, list[tuple[str, LessonImage]]]:
    """The body with the agency's images pointing into images/, and those images."""
    wanted = {int(i) for i in _IMAGE_SRC.findall(body_html)}
    found = LessonImage.objects.filter(tenant_id=tenant_id, id__in=wanted)
    named = {i.id: (f"{i.id}.{i.original.rsplit('.', 1)[-1]}", i) for i in found}

    def local(match: re.Match[str]) -> str:
        entry = named.get(int(match[1]))
        return f'src="images/{entry[0]}"' if entry else 'src=""'

    return _IMAGE_SRC.sub(local, body_html), list(named.values())


def _item_files(claim: ItemClaim) -> dict[str, bytes]:
    """Member path -> bytes of one item, at the version the export took."""
    item = ExportItem.objects.select_related("version").get(id=claim.item_id)
    version = item.version
    body_html, images = _images(claim.tenant_id, version.body_html)
    files = {member_path(claim.folder, "index.html"): _page(version.title, body_html).encode()}
    if claim.kind == Kind.LESSON:
        files[member_path(claim.folder, "lesson.md")] = version.body.encode()
    else:
        files[member_path(claim.folder, "statement.md")] = version.body.encode()
        files[member_path(claim.folder, "tests.py")] = version.tests.encode()
    for name, image in images:
        with default_storage.open(image.original, "rb") as stored:
            files[member_path(claim.folder, "images", name)] = stored.read()
    return files


def make_item(claim: ItemClaim) -> list[dict[str, str]]:
    """Write the item's files to storage under fixed names (a redelivery overwrites them);
    [{"path": member path, "name": storage name}]. Holds no transaction."""
    if connection.in_atomic_block:
        raise RuntimeError("export items are written outside any transaction")
    written = []
    for path, data in _item_files(claim).items():
        name = f"exports/{claim.tenant_id}/{claim.bundle_key}/items/{claim.item_id}/{path}"
        written.append({"path": path, "name": save_replacing(name, ContentFile(data))})
    return written


def record_item(claim: ItemClaim, files: list[dict[str, str]]) -> bool:
    """Inside the task's effects(): the item is done and counted; the last item queues the
    bundle's assembly (see queries.COUNT_EXPORT_ITEM). False if the item was done already."""
    taken = ExportItem.objects.filter(id=claim.item_id, status=ExportItem.Status.PENDING).update(
        status=ExportItem.Status.DONE, files=files, done_at=timezone.now())
    if not taken:
        return False
    with connection.cursor() as cursor:
        cursor.execute(queries.COUNT_EXPORT_ITEM, {"bundle_id": claim.bundle_id, "tenant_id": claim.tenant_id})
        counted = cursor.fetchone()
    if counted is None:  # the bundle failed meanwhile (deadline): nothing more to do
        return True
    done, total, status = counted
    if status == ExportBundle.Status.QUEUED:
        emit("export.items_done", aggregate_type="export", aggregate_id=claim.bundle_id,
             task="learning.assemble_export", tenant_id=claim.tenant_id, payload={"bundle_id": claim.bundle_id})
    if done % max(1, total // PROGRESS_STEPS) == 0 or done == total:
        _tell(ExportBundle.objects.get(id=claim.bundle_id), "export.progress")
    return True


@transaction.atomic(durable=True)
def fail_bundle(bundle_id: int, reason: str) -> bool:
    """An item or the assembly failed for good: the bundle fails with the reason (if unfinished)."""
    bundle = ExportBundle.objects.select_for_update().filter(
        id=bundle_id, status__in=[ExportBundle.Status.BUILDING, ExportBundle.Status.QUEUED,
                                  ExportBundle.Status.RUNNING]).first()
    if bundle is None:
        return False
    bundle.status, bundle.error, bundle.finished_at = ExportBundle.Status.FAILED, reason[:2000], timezone.now()
    bundle.claimed_event = None
    bundle.save(update_fields=["status", "error", "finished_at", "claimed_event"])
    _tell(bundle, "export.failed")
    return True


@dataclass(frozen=True)
class MakeItem:
    """One item as a long-running consumer (outbox/jobs.py). A failure is retried by the outbox;
    the last one fails the bundle (its requester sees why)."""

    item_id: int
    tenant_id: int

    def claim(self, event_id: str | None) -> ItemClaim | None:
        return claim_item(self.item_id, self.tenant_id)

    def work(self, claim: ItemClaim) -> list[dict[str, str]]:
        return make_item(claim)

    def record(self, claim: ItemClaim, files: list[dict[str, str]]) -> bool:
        return record_item(claim, files)

    def failed(self, claim: ItemClaim, error: BaseException, final: bool) -> None:
        if final:
            fail_bundle(claim.bundle_id, f"item {claim.folder} could not be exported: {error}")


# --- assembly (fan-in) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AssemblyClaim:
    bundle_id: int
    tenant_id: int
    attempt: int


@transaction.atomic(durable=True)
def claim_assembly(bundle_id: int, tenant_id: int, event_id: str | None) -> AssemblyClaim | None:
    """The bundle, queued for assembly (or being assembled under this same event), for this
    delivery; None if it is not (ready already, failed, held by another delivery)."""
    attempt = jobs.claim(queries.EXPORTS, bundle_id, tenant_id, event_id, settings.EXPORT_ASSEMBLY_LEASE_S)
    if attempt is None:
        return None
    _tell(ExportBundle.objects.get(id=bundle_id), "export.progress")
    return AssemblyClaim(bundle_id, tenant_id, attempt)


def _manifest(bundle: ExportBundle, items: list[ExportItem]) -> dict[str, Any]:
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "title": bundle.title,
        "agency": bundle.tenant.name, "exported_at": timezone.now().isoformat(), "bundle_id": bundle.id,
        "items": [{"kind": i.content.kind, "title": i.version.title, "content_id": i.content_id,
                   "version": i.version.number, "page": i.files[0]["path"] if i.files else "",
                   "files": [f["path"] for f in i.files]} for i in items],
    }


def _index(bundle: ExportBundle, manifest: dict[str, Any]) -> str:
    rows = "\n".join(f'<li>{html.escape(i["kind"])}: <a href="{html.escape(i["page"])}">{html.escape(i["title"])}'
                     f'</a> (version {i["version"]})</li>' for i in manifest["items"])
    return _page(bundle.title, f"<ul>\n{rows}\n</ul>")


# Images are compressed already: deflating them again costs time and saves nothing.
_STORED_SUFFIXES = (".png", ".jpg", ".webp")


def _compression(path: str) -> int:
    return zipfile.ZIP_STORED if path.endswith(_STORED_SUFFIXES) else zipfile.ZIP_DEFLATED


@dataclass(frozen=True)
class Zipped:
    name: str
    size: int
    sha256: str


def assemble(claim: AssemblyClaim) -> Zipped:
    """Zip every item's files with manifest.json and index.html into storage, under the bundle's
    fixed name (a redelivery replaces it: one bundle, never two). Holds no transaction."""
    if connection.in_atomic_block:
        raise RuntimeError("a bundle is assembled outside any transaction")
    bundle = ExportBundle.objects.select_related("tenant").get(id=claim.bundle_id)
    items = list(bundle.items.select_related("content", "version").order_by("position"))
    manifest = _manifest(bundle, items)
    with tempfile.TemporaryFile() as scratch:
        with zipfile.ZipFile(scratch, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(member_path("manifest.json"), json.dumps(manifest, indent=2))
            archive.writestr(member_path("index.html"), _index(bundle, manifest))
            for item in items:
                for entry in item.files:
                    with default_storage.open(entry["name"], "rb") as stored:
                        archive.writestr(member_path(entry["path"]), stored.read(),
                                         compress_type=_compression(entry["path"]))
        scratch.seek(0)
        digest = hashlib.file_digest(scratch, "sha256").hexdigest()
        size = scratch.tell()
        scratch.seek(0)
        slug = slugify(bundle.title)[:60].strip("-") or "open-content"
        name = f"exports/{bundle.tenant_id}/{bundle.key}/{slug}.zip"
        stored_name = save_replacing(name, File(scratch, name=name))
    return Zipped(stored_name, size, digest)


def record_assembly(claim: AssemblyClaim, zipped: Zipped) -> bool:
    """Inside the task's effects(): the bundle is ready (if still assembled under this claim)."""
    now = timezone.now()
    taken = ExportBundle.objects.filter(id=claim.bundle_id, status=ExportBundle.Status.RUNNING,
                                        attempts=claim.attempt).update(
        status=ExportBundle.Status.READY, file_name=zipped.name, bytes=zipped.size, sha256=zipped.sha256,
        finished_at=now, expires_at=now + timedelta(days=settings.EXPORT_RETENTION_DAYS), claimed_event=None)
    if taken:
        _tell(ExportBundle.objects.get(id=claim.bundle_id), "export.ready")
    return bool(taken)


@dataclass(frozen=True)
class AssembleBundle:
    """Assembly as a long-running consumer (outbox/jobs.py)."""

    bundle_id: int
    tenant_id: int

    def claim(self, event_id: str | uuid.UUID | None) -> AssemblyClaim | None:
        return claim_assembly(self.bundle_id, self.tenant_id, str(event_id) if event_id else None)

    def work(self, claim: AssemblyClaim) -> Zipped:
        return assemble(claim)

    def record(self, claim: AssemblyClaim, zipped: Zipped) -> bool:
        return record_assembly(claim, zipped)

    def failed(self, claim: AssemblyClaim, error: BaseException, final: bool) -> None:
        if final:
            fail_bundle(claim.bundle_id, f"the bundle could not be assembled: {error}")


# --- retention and deadlines -------------------------------------------------------------------------


def _delete_files(bundle: ExportBundle) -> int:
    names = [f["name"] for item in bundle.items.all() for f in item.files]
    names += [bundle.file_name] if bundle.file_name else []
    for name in names:
        default_storage.delete(name)
    return len(names)


@transaction.atomic(durable=True)
def _expire(bundle_id: int) -> bool:
    bundle = ExportBundle.objects.select_for_update().filter(
        id=bundle_id, status=ExportBundle.Status.READY, expires_at__lt=timezone.now()).first()
    if bundle is None:
        return False
    _delete_files(bundle)  # a crash after this rolls the row back: the next run deletes again (no-op)
    bundle.status, bundle.file_name = ExportBundle.Status.EXPIRED, ""
    bundle.save(update_fields=["status", "file_name"])
    _tell(bundle, "export.expired")
    return True


@transaction.atomic(durable=True)
def _fail_overdue() -> int:
    with connection.cursor() as cursor:
        cursor.execute(queries.FAIL_OVERDUE_EXPORTS, {
            "error": f"the export did not finish within {settings.EXPORT_DEADLINE_S} s; ask for it again"})
        failed = [row[0] for row in cursor.fetchall()]
    for bundle in ExportBundle.objects.filter(id__in=failed):
        _tell(bundle, "export.failed")
    return len(failed)


def expire_exports(batch: int = 100) -> dict[str, int]:
    """Beat, hourly: delete the files of ready bundles past their retention (one transaction
    each), and fail the unfinished ones past their deadline. What it did, by kind."""
    expired = sum(_expire(bundle_id) for bundle_id in ExportBundle.objects.filter(
        status=ExportBundle.Status.READY, expires_at__lt=timezone.now()).values_list("id", flat=True)[:batch])
    overdue = _fail_overdue()
    if expired or overdue:
        log.info("learning.exports_expired", expired=expired, failed_overdue=overdue)
    return {"expired": expired, "failed_overdue": overdue}


# --- reads ---------------------------------------------------------------------------------------------


def bundles_of(tenant_id: int, limit: int = 50) -> list[ExportBundle]:
    return list(ExportBundle.objects.filter(tenant_id=tenant_id).select_related("requested_by")[:limit])


def bundle_of(tenant_id: int, bundle_id: int) -> ExportBundle:
    bundle = ExportBundle.objects.filter(id=bundle_id, tenant_id=tenant_id).select_related("requested_by").first()
    if bundle is None:
        raise NotFound(f"export {bundle_id} not found", field="bundle_id")
    return bundle


def file_of(tenant_id: int, bundle_id: int) -> tuple[ExportBundle, Any]:
    """The ready bundle and its zip, opened; NotFound if it is not ready (or expired)."""
    bundle = bundle_of(tenant_id, bundle_id)
    if bundle.status != ExportBundle.Status.READY or not bundle.file_name:
        raise NotFound(f"export {bundle_id} has no file ({bundle.status})", field="bundle_id")
    return bundle, default_storage.open(bundle.file_name, "rb")
