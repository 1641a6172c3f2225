"""Lesson images on pages: the authors' upload page, and the files themselves, served to the
agency only (core/learning/media.py)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from core.accounts.access import page_tenant_id, page_user, role_required
from core.learning import media
from core.platform.errors import DomainError, NotFound
from core.platform.roles import Role


@require_GET
@role_required(Role.LEARNER, Role.REVIEWER)
def image_file(request: HttpRequest, image_id: int, variant: str = "original") -> FileResponse:
    """The image's original or one of its variants; another agency's is 404 like a missing one.
    Never sniffed by the browser as anything but the image type recorded at upload."""
    try:
        name, content_type = media.file_of(media.image_of(page_tenant_id(request), image_id), variant)
        opened = default_storage.open(name, "rb")
    except (NotFound, FileNotFoundError):
        raise Http404("no such image") from None
    response = FileResponse(opened, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=86400, immutable"  # a file never changes under its name
    return response


@require_http_methods(["GET", "POST"])
@role_required(Role.REVIEWER)
def images(request: HttpRequest) -> HttpResponse:
    """The agency's lesson images and the upload form; an upload answers with the Markdown to
    paste, or the refusal beside the field (400)."""
    error = None
    if request.method == "POST":
        upload = request.FILES.get("image")
        try:
            image = media.upload_image(page_user(request), media.read_upload(upload), upload.name if upload else "")
        except DomainError as exc:
            error = exc
        else:
            messages.success(request, f"Uploaded. Paste this into a lesson: {media.markdown_of(image)}")
            return redirect("learning:images")
    return render(request, "learning/images.html", {
        "rows": [(image, media.markdown_of(image)) for image in media.images_of(page_tenant_id(request))],
        "error": error,
        "max_size": media.size_text(settings.IMAGE_MAX_BYTES)}, status=error.status if error else 200)
