"""The digest pages: a person's own digest preference, and the unsubscribe link of every digest
(signed, works without signing in: core/learning/digests.py, adr/0019-digests.md)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.accounts.access import page_user, role_required
from core.learning import digests
from core.learning.models import DigestFrequency
from core.platform.errors import Invalid, NotFound
from core.platform.roles import Role

CHOICES = [(DigestFrequency.NONE, "No digest"), (DigestFrequency.DAILY, "Daily, every morning"),
           (DigestFrequency.WEEKLY, "Weekly, on Monday morning")]


@require_http_methods(["GET", "POST"])
@role_required(Role.LEARNER, Role.REVIEWER)
def digest_preferences(request: HttpRequest) -> HttpResponse:
    """How often the person's unread notifications are mailed; an unknown value is 400."""
    user = page_user(request)
    chosen, error = digests.frequency_of(user), None
    if request.method == "POST":
        chosen = request.POST.get("frequency", "")
        try:
            digests.set_digest_frequency(user, chosen)
        except Invalid as exc:
            error = exc
        else:
            messages.success(request, "Digest preference saved.")
            return redirect("learning:digest_preferences")
    return render(request, "learning/digest_preferences.html", {
        "choices": CHOICES, "chosen": chosen, "error": error, "zone": str(user.zone),
        "hour": f"{settings.DIGEST_LOCAL_HOUR:02d}:00", "email": user.email,
    }, status=400 if error else 200)


# The link is the credential (signed; it can only turn digests off), and mail providers'
# one-click unsubscribe (RFC 8058, the List-Unsubscribe-Post header) POSTs it without a
# session or CSRF token: CSRF protects a session's authority, and none is used here.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def digest_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page that asks to confirm; POST: digests off. A forged link is 404."""
    try:
        user = digests.user_of_token(token)
    except NotFound as exc:
        raise Http404(exc.message) from None
    done = request.method == "POST"
    if done:
        digests.set_digest_frequency(user, DigestFrequency.NONE, via="unsubscribe link")
    return render(request, "learning/digest_unsubscribe.html", {
        "agency": user.tenant.name if user.tenant else "", "username": user.username, "done": done})
