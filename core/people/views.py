"""The agency admin's people pages, the invitee's join page, and the second-factor pages.

Every change goes through a write function (core/people/services.py, core/people/mfa.py); a
refused change renders the page again with the reason under its field and the status the API
would answer (400, 404, 409, 429).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from core.accounts import mfa as second_factor_rules
from core.accounts.access import page_tenant_id, page_user, role_required
from core.accounts.models import Tenant
from core.people import mfa, selectors, services
from core.people.forms import CodeForm, InviteForm, JoinForm, MfaPolicyForm, PreferencesForm, RolesForm
from core.people.invitations import invitation_of
from core.platform.errors import DomainError, NotFound, RateLimited
from core.platform.roles import Role

T = TypeVar("T")
ADMINS = Role.AGENCY_ADMIN


def _attempt(form: forms.Form, write: Callable[[dict[str, Any]], T]) -> tuple[T | None, int]:
    """Call `write` with the form's data; (result, 200) or (None, the refusal's status) with the
    reason on the form, under the field it names."""
    if not form.is_valid():
        return None, 400
    try:
        return write(form.cleaned_data), 200
    except RateLimited:
        raise  # the caller answers 429 with Retry-After
    except DomainError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return None, exc.status


# --- the agency admin's pages -------------------------------------------------------------

def _index(request: HttpRequest, invite_form: InviteForm | None = None, policy_form: MfaPolicyForm | None = None,
           status: int = 200) -> HttpResponse:
    tenant_id = page_tenant_id(request)
    tenant = Tenant.objects.get(id=tenant_id)
    return render(request, "people/index.html", {
        "people": selectors.people_of(tenant_id), "invitations": selectors.open_invitations(tenant_id),
        "invite_form": invite_form or InviteForm(),
        "policy_form": policy_form or MfaPolicyForm(initial={"mfa_roles": tenant.mfa_roles}),
    }, status=status)


@role_required(ADMINS)
@require_http_methods(["GET"])
def index(request: HttpRequest) -> HttpResponse:
    return _index(request)


@role_required(ADMINS)
@require_POST
def invite(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    done, status = _attempt(form, lambda data: services.invite(
        tenant_id=page_tenant_id(request), email=data["email"], roles=data["roles"], actor=page_user(request)))
    if done is None:
        return _index(request, invite_form=form, status=status)
    messages.success(request, f"Invitation sent to {done.email}.")
    return redirect("people:index")


@role_required(ADMINS)
@require_POST
def revoke_invitation(request: HttpRequest, invitation_id: int) -> HttpResponse:
    try:
        services.revoke_invitation(tenant_id=page_tenant_id(request), invitation_id=invitation_id,
                                   actor=page_user(request))
    except NotFound as exc:
        raise Http404(exc.message) from None
    except DomainError as exc:
        messages.error(request, exc.message)
        return _index(request, status=exc.status)
    messages.success(request, "Invitation withdrawn: its link no longer works.")
    return redirect("people:index")


@role_required(ADMINS)
@require_POST
def mfa_policy(request: HttpRequest) -> HttpResponse:
    form = MfaPolicyForm(request.POST)
    done, status = _attempt(form, lambda data: services.set_mfa_policy(
        tenant_id=page_tenant_id(request), roles=data["mfa_roles"], actor=page_user(request)))
    if done is None:
        return _index(request, policy_form=form, status=status)
    messages.success(request, "Second-factor policy saved.")
    return redirect("people:index")


def _person_page(request: HttpRequest, user_id: int, roles_form: RolesForm | None = None,
                 status: int = 200) -> HttpResponse:
    found = selectors.person(page_tenant_id(request), user_id)
    if found is None:
        raise Http404(f"person {user_id} not found")
    return render(request, "people/person.html", {
        "person": found, "roles_form": roles_form or RolesForm(initial={"roles": found.roles}),
        "is_self": found.id == page_user(request).id}, status=status)


@role_required(ADMINS)
@require_http_methods(["GET"])
def person(request: HttpRequest, user_id: int) -> HttpResponse:
    return _person_page(request, user_id)


@role_required(ADMINS)
@require_POST
def set_roles(request: HttpRequest, user_id: int) -> HttpResponse:
    form = RolesForm(request.POST)
    try:
        done, status = _attempt(form, lambda data: services.set_roles(
            tenant_id=page_tenant_id(request), user_id=user_id, roles=data["roles"], actor=page_user(request)))
    except NotFound as exc:  # raised before the form could hold it: the person is not there
        raise Http404(exc.message) from None
    if done is None:
        return _person_page(request, user_id, roles_form=form, status=status)
    messages.success(request, "Roles saved.")
    return redirect("people:person", user_id=user_id)


# The person page's buttons: what each does, and what it says when done.
ACTIONS: dict[str, tuple[Callable[..., Any], Callable[[Any], str]]] = {
    "deactivate": (services.deactivate, lambda ended: f"Account deactivated; {ended} session(s) ended."),
    "reactivate": (services.reactivate, lambda _: "Account active again."),
    "unlock": (services.unlock_sign_in, lambda lifted: "Sign-ins unlocked." if lifted else "No lockout to lift."),
    "reset-second-factor": (services.reset_second_factor,
                            lambda ended: f"Second factor removed; {ended} session(s) ended. "
                                          "The next sign-in asks to set one up again."),
}


@role_required(ADMINS)
@require_POST
def person_action(request: HttpRequest, user_id: int, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404(f"no action {action!r}")
    write, said = ACTIONS[action]
    try:
        result = write(tenant_id=page_tenant_id(request), user_id=user_id, actor=page_user(request))
    except NotFound as exc:
        raise Http404(exc.message) from None
    except DomainError as exc:
        messages.error(request, exc.message)
        return _person_page(request, user_id, status=exc.status)
    messages.success(request, said(result))
    return redirect("people:person", user_id=user_id)


# --- joining by invitation --------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    """The invitee chooses a user name and password; then they are signed in (and asked for a
    second factor if their role needs one)."""
    try:
        invitation = invitation_of(token)
    except NotFound as exc:
        return render(request, "people/join.html", {"problem": exc.message}, status=404)
    problem = services.why_unusable(invitation)
    if problem:
        return render(request, "people/join.html", {"problem": problem}, status=409)
    form = JoinForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        user, status = _attempt(form, lambda data: services.accept_invitation(
            token=token, username=data["username"], password=data["password"], full_name=data["full_name"]))
        if user is not None:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to {invitation.tenant.name}.")
            return redirect("home")
    else:
        status = 200
    return render(request, "people/join.html", {"form": form, "invitation": invitation}, status=status)


# --- the second factor --------------------------------------------------------------------------

def _next(request: HttpRequest) -> str:
    target = str(request.POST.get("next") or request.GET.get("next") or "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("home")


@login_required
@require_http_methods(["GET", "POST"])
def second_factor(request: HttpRequest) -> HttpResponse:
    """Enter a code (enrolled people), or set up an authenticator (people who must and have none)."""
    user = page_user(request)
    if not second_factor_rules.enrolled(user):
        return enrol(request)
    form = CodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        try:
            kind, status = _attempt(form, lambda data: mfa.verify(request, user, data["token"]))
        except RateLimited as exc:
            form.add_error("token", exc.message)
            response = render(request, "people/verify.html", {"form": form, "next": _next(request)}, status=429)
            response["Retry-After"] = str(exc.retry_after_s)
            return response
        if kind is not None:
            if kind == "recovery code":
                messages.warning(request, "You signed in with a recovery code; it cannot be used again. "
                                          "Make new ones on the second-factor page if few are left.")
            return redirect(_next(request))
    return render(request, "people/verify.html", {"form": form, "next": _next(request)}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: scan the code (or type the key), then enter one code from it.
    A person already enrolled must have proved their current one (replacing it)."""
    user: Any = request.user
    if second_factor_rules.enrolled(user) and not user.is_verified():
        return redirect(f"{reverse('mfa')}?next={reverse('mfa_enrol')}")
    form = CodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        try:
            codes, status = _attempt(form, lambda data: mfa.confirm_enrolment(
                request, page_user(request), data["token"]))
        except RateLimited as exc:
            form.add_error("token", exc.message)
            codes, status, retry_after = None, 429, exc.retry_after_s
        if codes is not None:
            return render(request, "people/recovery_codes.html", {"codes": codes, "next": _next(request)})
    enrolment = mfa.pending_enrolment(page_user(request)) if request.method == "POST" else None
    if enrolment is None:
        enrolment = mfa.start_enrolment(page_user(request))
    response = render(request, "people/enrol.html", {"form": form, "enrolment": enrolment, "next": _next(request)},
                      status=status)
    if status == 429:
        response["Retry-After"] = str(retry_after)
    return response


@login_required
@require_POST
def recovery_codes(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if not user.is_verified():
        return redirect(f"{reverse('mfa')}?next={reverse('mfa_settings')}")
    try:
        codes = mfa.new_recovery_codes(page_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("mfa_settings")
    return render(request, "people/recovery_codes.html", {"codes": codes, "next": reverse("mfa_settings")})


@login_required
@require_http_methods(["GET"])
def mfa_settings(request: HttpRequest) -> HttpResponse:
    user = page_user(request)
    return render(request, "people/mfa_settings.html", {
        "enrolled": second_factor_rules.enrolled(user), "required": second_factor_rules.required_by_policy(user),
        "staff": second_factor_rules.required_as_staff(user)})



@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    """A person's own settings: their time zone."""
    user = page_user(request)
    form = PreferencesForm(request.POST if request.method == "POST" else None,
                           initial={"time_zone": user.time_zone})
    status = 200
    if request.method == "POST":
        done, status = _attempt(form, lambda data: services.set_time_zone(user, data["time_zone"]))
        if done is not None:
            messages.success(request, "Preferences saved.")
            return redirect("preferences")
    agency_zone = user.tenant.time_zone if user.tenant else "UTC"
    return render(request, "people/preferences.html", {"form": form, "agency_zone": agency_zone}, status=status)
