"""The auditor's pages: the outbox history, an event's story, the read audit of patient data,
one read record; exports via the API."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.accounts.access import page_tenant_id, page_user, role_required
from core.accounts.models import User
from core.audit import exports
from core.audit.forms import HistoryFilterForm, ReadFilterForm, TraceForm
from core.audit.presenters import actors_of, export_dict, matching_text, name_of, path_steps, user_names
from core.platform.errors import DomainError, Invalid, NotFound
from core.platform.roles import Role
from core.privacy import selectors as reads
from core.privacy.models import PatientRead
from outbox import selectors
from outbox.models import OutboxEvent

PAGE_SIZE = 50


def _filter_query(request: HttpRequest) -> str:
    """The page's filters as a query string, without the page position (for "older" links)."""
    query = request.GET.copy()
    query.pop("before", None)
    return query.urlencode()


@role_required(Role.AUDITOR, Role.OPS, Role.OPS_VIEWER)
def history(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET or None)
    events: list[OutboxEvent] = []
    next_before: int | None = None
    matching = ""
    if form.is_valid() or not request.GET:
        filters = form.filters() if request.GET else selectors.HistoryFilter()
        before = form.cleaned_data.get("before") if request.GET else None
        try:
            events, next_before = selectors.history_page(page_tenant_id(request), filters, before, PAGE_SIZE)
        except Invalid as error:  # the page's anchor is gone (archived): say so beside the filters
            form.add_error(None, error.message)
        matching = matching_text(selectors.history_count(page_tenant_id(request), filters))
    actors = actors_of(events)
    rows = [(event, actors.label(event)) for event in events]
    return render(request, "audit/history.html", {
        "form": form, "events": rows, "next_before": next_before, "matching": matching,
        "filter_query": _filter_query(request), "can_export": _can_export(request)})


@role_required(Role.AUDITOR, Role.OPS, Role.OPS_VIEWER)
def event(request: HttpRequest, event_id: int) -> HttpResponse:
    story = selectors.event_story(page_tenant_id(request), event_id)
    if story is None:
        raise Http404("no such event")
    who = actors_of([story.event]).label(story.event)
    return render(request, "audit/event.html", {"story": story, "event": story.event, "actor": who})


def _people(tenant_id: int) -> list[tuple[int, str]]:
    """The tenant's people, for the User filter (an agency has tens of them, not thousands)."""
    users = User.objects.filter(tenant_id=tenant_id).order_by("username")
    return [(user.pk, user.get_full_name() or user.username) for user in users]


@role_required(Role.AUDITOR)
def read_list(request: HttpRequest) -> HttpResponse:
    """Who was shown patient data: filtered, newest first, a page at a time."""
    tenant_id = page_tenant_id(request)
    form = ReadFilterForm(request.GET or None, users=_people(tenant_id))
    rows: list[tuple[PatientRead, str]] = []
    next_before: int | None = None
    if form.is_valid() or not request.GET:
        filters = form.filters() if request.GET else reads.ReadFilter()
        before = form.cleaned_data.get("before") if request.GET else None
        page, next_before = reads.reads_page(tenant_id, filters, before, PAGE_SIZE)
        names = user_names(read.user_id for read in page)
        rows = [(read, name_of(names, read.user_id)) for read in page]
    return render(request, "audit/reads.html", {
        "form": form, "reads": rows, "next_before": next_before, "filter_query": _filter_query(request)})


@role_required(Role.AUDITOR)
def read_detail(request: HttpRequest, read_id: int) -> HttpResponse:
    record = reads.read_record(page_tenant_id(request), read_id)
    if record is None:
        raise Http404("no such read record")
    names = user_names([record.user_id])
    return render(request, "audit/read.html", {"read": record, "who": name_of(names, record.user_id)})


def _can_export(request: HttpRequest) -> bool:
    return bool(page_user(request).roles & {Role.AUDITOR, Role.OPS})


def _exports_page(request: HttpRequest, error: str = "", status: int = 400) -> HttpResponse:
    made = [(item, export_dict(item)) for item in exports.exports_of(page_tenant_id(request))[:50]]
    return render(request, "audit/exports.html", {"exports": made, "error": error, "can_export": _can_export(request),
                                                  "keep_days": settings.AUDIT_EXPORT_KEEP_DAYS},
                  status=status if error else 200)


@require_GET
@role_required(Role.AUDITOR, Role.OPS, Role.OPS_VIEWER)
def export_list(request: HttpRequest) -> HttpResponse:
    """The agency's exports made in the background, with their progress."""
    return _exports_page(request)


@require_POST
@role_required(Role.AUDITOR, Role.OPS)
def export_create(request: HttpRequest) -> HttpResponse:
    """Have an export made of the history filter the form carries (the history page's)."""
    form = HistoryFilterForm(request.POST)
    if not form.is_valid():
        return _exports_page(request, "The filter is not valid: " + "; ".join(
            f"{name}: {' '.join(str(m) for m in messages)}" for name, messages in form.errors.items()))
    try:
        exports.request_export(page_user(request), form.filters(), request.POST.get("format", ""))
    except DomainError as refused:
        return _exports_page(request, refused.message, refused.status)
    return redirect("audit:exports")


@role_required(Role.AUDITOR, Role.OPS, Role.OPS_VIEWER)
def export_file(request: HttpRequest, export_id: int) -> FileResponse:
    try:
        made, opened = exports.file_of(page_tenant_id(request), export_id)
    except NotFound:
        raise Http404("no such export file") from None
    return FileResponse(opened, as_attachment=True, filename=f"outbox-history-{made.id}.{made.format}")


@require_GET
@role_required(Role.AUDITOR, Role.OPS, Role.OPS_VIEWER)
def trace(request: HttpRequest) -> HttpResponse:
    """Everything one request set going (`?event=ID`: that event's trace; `?trace=ID&at=TIME`),
    or the last events of one aggregate (`?aggregate_type=…&aggregate_id=…`), each with its path."""
    tenant_id = page_tenant_id(request)
    form = TraceForm(request.GET)
    if not form.is_valid():
        return render(request, "audit/trace.html", {"form": form}, status=400)
    data = form.cleaned_data
    found: selectors.Trace | None = None
    stories: list[selectors.EventStory] = []
    if data["event"]:
        anchor = selectors.event_of(tenant_id, data["event"])
        if anchor is None:
            raise Http404("no such event")
        if anchor.trace_id:
            found = selectors.trace(tenant_id, anchor.trace_id, anchor.created_at)
            stories = found.stories
        else:
            stories = selectors.stories_of([anchor])  # an event of no request (beat's, a command's): its own path
    elif data["trace"]:
        found = selectors.trace(tenant_id, data["trace"], data["at"] or timezone.now())
        stories = found.stories
    else:
        events = list(selectors.history(tenant_id, selectors.HistoryFilter(
            aggregate_type=data["aggregate_type"], aggregate_id=data["aggregate_id"]))[:50])
        stories = selectors.stories_of(events[::-1])
    actors = actors_of(story.event for story in stories)
    shown = [(story, path_steps(story), actors.label(story.event)) for story in stories]
    return render(request, "audit/trace.html", {"form": form, "trace": found, "stories": shown})
