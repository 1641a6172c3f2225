"""The reviewers' export page: choose published lessons and problems, follow the bundle's
progress live, download it (core/learning/exports.py)."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from core.accounts.access import page_tenant_id, page_user, role_required
from core.learning import exports, selectors
from core.learning.text import parse_id
from core.platform.errors import DomainError, NotFound
from core.platform.roles import Role
from outbox.reader import current_position


@require_http_methods(["GET", "POST"])
@role_required(Role.REVIEWER)
def export_bundles(request: HttpRequest) -> HttpResponse:
    """The agency's bundles and the form for a new one; a refused request is shown beside the
    list of contents (400), with what was ticked."""
    tenant_id = page_tenant_id(request)
    error, chosen = None, set()
    if request.method == "POST":
        raw = request.POST.getlist("content_ids")
        ids = [parse_id(value) for value in raw]
        chosen = {i for i in ids if i is not None}
        try:
            bundle = exports.request_export(page_user(request), ids if None not in ids else raw,
                                            request.POST.get("title") or None)
        except DomainError as exc:
            error = exc
        else:
            messages.success(request, f"Export of {bundle.items_total} item(s) started.")
            return redirect("learning:exports")
    position = current_position()  # before the bundles: what commits later is replayed
    return render(request, "learning/exports.html", {
        "stream_position": str(position), "bundles": exports.bundles_of(tenant_id),
        "contents": selectors.live_contents(tenant_id), "error": error, "chosen": chosen},
        status=error.status if error else 200)


@require_GET
@role_required(Role.REVIEWER)
def export_file(request: HttpRequest, bundle_id: int) -> FileResponse:
    try:
        bundle, opened = exports.file_of(page_tenant_id(request), bundle_id)
    except NotFound:
        raise Http404("no such export file") from None
    return FileResponse(opened, as_attachment=True, filename=bundle.file_name.rsplit("/", 1)[-1],
                        content_type="application/zip")
