"""The auditor's pages: the outbox history, an event's story, exports (via the API)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from core.accounts.access import page_tenant_id, role_required
from core.audit.forms import HistoryFilterForm
from core.platform.roles import Role
from outbox import selectors
from outbox.models import OutboxEvent

PAGE_SIZE = 50




@role_required(Role.AUDITOR, Role.OPS)
def history(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET or None)
    events: list[OutboxEvent] = []
    next_before: int | None = None
    if form.is_valid() or not request.GET:
        filters = form.filters() if request.GET else selectors.HistoryFilter()
        before = form.cleaned_data.get("before") if request.GET else None
        events, next_before = selectors.history_page(page_tenant_id(request), filters, before, PAGE_SIZE)
    query = request.GET.copy()
    query.pop("before", None)
    return render(request, "audit/history.html", {
        "form": form, "events": events, "next_before": next_before, "filter_query": query.urlencode()})


@role_required(Role.AUDITOR, Role.OPS)
def event(request: HttpRequest, event_id: int) -> HttpResponse:
    story = selectors.event_story(page_tenant_id(request), event_id)
    if story is None:
        raise Http404("no such event")
    return render(request, "audit/event.html", {"story": story, "event": story.event})
