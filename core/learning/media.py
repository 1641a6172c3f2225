"""Lesson images: upload, low-bandwidth variants, and the pages' <picture> (adr/0028-lesson-images.md).

    upload_image     (request)   size checked, type sniffed from the bytes, decoded and cleaned
                                 in the sandbox (core/learning/imaging.py: EXIF and every other
                                 metadata stripped, orientation applied), the clean original
                                 stored, the row and the variants event committed together
    make_variants    (batch task) the variants decoded and encoded in the sandbox, stored, and
                                 recorded on the row with the event's completion
    with_pictures    (pages)     each <img> of a ready image of the agency becomes a <picture>
                                 with WebP and JPEG srcsets; until then the original is served

Untrusted bytes are parsed only in the sandbox; the web and worker processes see sizes, magic
bytes and the sandbox's answers. An image the sandbox refuses is a 400 naming `image` at upload
(nothing stored), or a `failed` row at the variants step (never retried: a hostile file cannot
make a worker loop). Files go through Django's default storage (the filesystem under
MEDIA_ROOT unless STORAGES says otherwise); pages and the API serve them through a view that
checks the agency.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone

from core.accounts.models import User
from core.learning.grading import sandbox_host
from core.learning.imaging import Imager, ImageRefused, ImagingLimits, ImagingUnavailable, Variant
from core.learning.models import LessonImage
from core.platform.channels import user_channel
from core.platform.errors import Invalid, NotFound, Unavailable
from core.platform.storage import save_replacing
from outbox.emit import emit

FIELD = "image"
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
# The address an author writes in Markdown: ![what it shows](/learning/images/12/)
URL = "/learning/images/{id}/"
_IMG = re.compile(r'<img\b([^>]*?)\ssrc="/learning/images/(\d+)/"([^>]*)>')


def size_text(size: int) -> str:
    """A byte count as people read it: "10 MB", "512 KB"."""
    return f"{size / (1024 * 1024):g} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def read_upload(upload: UploadedFile | None) -> bytes | None:
    """An uploaded file's bytes, read no further than one byte past IMAGE_MAX_BYTES (enough to
    refuse it as too large without holding all of it)."""
    return upload.read(settings.IMAGE_MAX_BYTES + 1) if upload is not None else None


def markdown_of(image: LessonImage) -> str:
    """What an author pastes into a lesson to show the image."""
    alt = image.title.rsplit(".", 1)[0].replace("[", "").replace("]", "") or "image"
    return f"![{alt}]({URL.format(id=image.id)})"


def imager() -> Imager:
    return Imager(sandbox_host(), ImagingLimits())


def _title(name: object) -> str:
    text = str(name or "image").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in text if ch.isprintable())[:200] or "image"


def upload_image(actor: User, data: bytes | None, name: object = "") -> LessonImage:
    """An author's upload: refused with Invalid (field `image`) unless it is a PNG, JPEG, GIF or
    WebP of at most IMAGE_MAX_BYTES and IMAGE_MAX_PIXELS that decodes whole; Unavailable (503)
    when this server cannot decode images confined. Nothing is stored for a refused file."""
    assert actor.tenant_id is not None
    if not data:
        raise Invalid("image is required: choose a PNG, JPEG, GIF or WebP file", field=FIELD)
    if len(data) > settings.IMAGE_MAX_BYTES:
        raise Invalid(f"image is larger than {size_text(settings.IMAGE_MAX_BYTES)}", field=FIELD)
    try:
        clean = imager().clean(data, max_bytes=settings.IMAGE_MAX_BYTES, max_pixels=settings.IMAGE_MAX_PIXELS)
    except ImageRefused as refused:
        raise Invalid(str(refused), field=FIELD) from None
    except ImagingUnavailable:
        raise Unavailable("images cannot be processed on this server right now; try again later",
                          field=FIELD) from None
    key = secrets.token_hex(16)
    stored = save_replacing(f"lesson-images/{actor.tenant_id}/{key}/original.{EXTENSIONS[clean.format]}",
                            ContentFile(clean.data))
    return _record_upload(actor, key, stored, clean.format, clean.content_type, clean.width, clean.height,
                          len(clean.data), _title(name))


@transaction.atomic(durable=True)
def _record_upload(actor: User, key: str, stored: str, fmt: str, content_type: str, width: int, height: int,
                   size: int, title: str) -> LessonImage:
    assert actor.tenant_id is not None
    image = LessonImage.objects.create(tenant_id=actor.tenant_id, uploaded_by=actor, title=title, key=key,
                                       format=fmt, content_type=content_type, width=width, height=height,
                                       bytes=size, original=stored)
    emit("image.uploaded", aggregate_type="image", aggregate_id=image.id, task="learning.make_image_variants",
         tenant_id=actor.tenant_id, actor_id=actor.id, payload={"image_id": image.id})
    return image


# --- variants (the batch task) ------------------------------------------------------------------


@dataclass(frozen=True)
class VariantClaim:
    image_id: int
    tenant_id: int
    uploaded_by: int
    key: str
    original: str


@dataclass(frozen=True)
class Made:
    variants: list[dict[str, Any]]
    error: str = ""  # the sandbox refused the image: the variants step failed for good


def claim_variants(image_id: int, tenant_id: int) -> VariantClaim | None:
    """The image if its variants are still to be made; None otherwise (made, failed, absent)."""
    image = LessonImage.objects.filter(id=image_id, tenant_id=tenant_id,
                                       status=LessonImage.Status.PROCESSING).first()
    if image is None:
        return None
    return VariantClaim(image.id, image.tenant_id, image.uploaded_by_id, image.key, image.original)


def _variant_row(claim: VariantClaim, variant: Variant) -> dict[str, Any]:
    name = save_replacing(
        f"lesson-images/{claim.tenant_id}/{claim.key}/w{variant.width}.{EXTENSIONS[variant.format]}",
        ContentFile(variant.data))
    return {"width": variant.width, "height": variant.height, "format": variant.format,
            "content_type": variant.content_type, "name": name, "bytes": len(variant.data)}


def make_variants(claim: VariantClaim) -> Made:
    """Decode the original and encode its variants in the sandbox, and store them. Holds no
    transaction (seconds of work). A refusal is a result (Made.error); ImagingUnavailable that
    is not permanent propagates, for the outbox to retry."""
    if connection.in_atomic_block:
        raise RuntimeError("variants are made outside any transaction")
    with default_storage.open(claim.original, "rb") as original:
        data = original.read()
    try:
        variants = imager().variants(data, settings.IMAGE_VARIANT_WIDTHS, max_pixels=settings.IMAGE_MAX_PIXELS)
    except ImageRefused as refused:
        return Made([], error=str(refused))
    except ImagingUnavailable as unavailable:
        if unavailable.permanent:
            return Made([], error="images cannot be processed on this server")
        raise
    return Made([_variant_row(claim, v) for v in variants])


def record_variants(claim: VariantClaim, made: Made) -> bool:
    """Inside the task's effects(): the row takes the variants (or the failure) if it is still
    processing, and the uploader hears of it live. Returns True if the row took it."""
    status = LessonImage.Status.FAILED if made.error else LessonImage.Status.READY
    taken = LessonImage.objects.filter(id=claim.image_id, status=LessonImage.Status.PROCESSING).update(
        status=status, variants=made.variants, error=made.error[:300], processed_at=timezone.now())
    if taken:
        emit(f"image.{status}", aggregate_type="image", aggregate_id=claim.image_id,
             channel=user_channel(claim.tenant_id, claim.uploaded_by), tenant_id=claim.tenant_id,
             payload={"image_id": claim.image_id, "status": str(status), "variants": len(made.variants),
                      "error": made.error[:300]})
    return bool(taken)


# --- reading and serving -----------------------------------------------------------------------


def image_of(tenant_id: int, image_id: int) -> LessonImage:
    image = LessonImage.objects.filter(id=image_id, tenant_id=tenant_id).first()
    if image is None:
        raise NotFound(f"image {image_id} not found", field="image_id")
    return image


def images_of(tenant_id: int, limit: int = 100) -> list[LessonImage]:
    return list(LessonImage.objects.filter(tenant_id=tenant_id)[:limit])


def file_of(image: LessonImage, variant: str) -> tuple[str, str]:
    """(storage name, content type) of `variant` ("original" or a variant's file name such as
    "w480.webp"); NotFound for a variant the image does not have (yet)."""
    if variant == "original":
        return image.original, image.content_type
    for row in image.variants:
        if row["name"].rsplit("/", 1)[-1] == variant:
            return str(row["name"]), str(row["content_type"])
    raise NotFound(f"image {image.id} has no variant {variant!r}", field="variant")


def _srcset(image: LessonImage, fmt: str) -> str:
    rows = sorted((r for r in image.variants if r["format"] == fmt), key=lambda r: r["width"])
    return ", ".join(f"{URL.format(id=image.id)}{r['name'].rsplit('/', 1)[-1]} {r['width']}w" for r in rows)


def _picture(image: LessonImage, before: str, after: str) -> str:
    src = URL.format(id=image.id)
    size = f' width="{image.width}" height="{image.height}"'
    if image.status != LessonImage.Status.READY or not image.variants:
        return f'<img{before} src="{src}"{after}{size} loading="lazy">'
    widest = max(r["width"] for r in image.variants)
    sizes = f'(max-width: {widest}px) 100vw, {widest}px'
    jpeg = _srcset(image, "jpeg")
    return (f'<picture><source type="image/webp" srcset="{_srcset(image, "webp")}" sizes="{sizes}">'
            f'<img{before} src="{src}" srcset="{jpeg}, {src} {image.width}w" sizes="{sizes}"{after}{size}'
            ' loading="lazy"></picture>')


def with_pictures(body_html: str, tenant_id: int) -> str:
    """Sanitised lesson HTML with each image of the agency served responsively: a <picture>
    of its variants when they are ready, the original (with its size) until then. Images of
    another agency, or that do not exist, are left as they are (their address answers 404)."""
    wanted = {int(m.group(2)) for m in _IMG.finditer(body_html)}
    if not wanted:
        return body_html
    images = {i.id: i for i in LessonImage.objects.filter(tenant_id=tenant_id, id__in=wanted)}

    def replace(match: re.Match[str]) -> str:
        image = images.get(int(match.group(2)))
        return _picture(image, match.group(1), match.group(3)) if image else match.group(0)

    return _IMG.sub(replace, body_html)


@dataclass(frozen=True)
class MakeVariants:
    """The variants step as a long-running consumer (outbox/jobs.py). A failure other than the
    image's own refusal (the sandbox did not start) is retried; if every retry fails the event
    is dead-lettered and the image stays `processing`, serving its original, until ops redrive it."""

    image_id: int
    tenant_id: int

    def claim(self, event_id: str | None) -> VariantClaim | None:
        return claim_variants(self.image_id, self.tenant_id)

    def work(self, claim: VariantClaim) -> Made:
        return make_variants(claim)

    def record(self, claim: VariantClaim, made: Made) -> str:
        record_variants(claim, made)
        return "failed" if made.error else "ready"

    def failed(self, claim: VariantClaim, error: BaseException, final: bool) -> None:
        pass  # nothing to note: the row stays processing, the outbox has the attempts and the error
