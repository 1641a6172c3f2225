"""The sign-in page, throttled (core/accounts/throttle.py): failures are counted per account
name and per client address; a locked name or address is refused with 429 and the same words
whether the account exists or not, and every lockout is written to the audit history (an
`account.locked_out` outbox event, in the transaction that counts the failure)."""

from __future__ import annotations

import math
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from django.http import HttpRequest, HttpResponse

from core.accounts import throttle
from core.platform.channels import platform_channel, tenant_channel
from core.platform.middleware import client_address
from outbox.emit import emit


def wait_text(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class ThrottledLoginView(auth_views.LoginView):
    template_name = "accounts/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = throttle.locked_for(self._username(), client_address(request))
        if wait:
            return self._refused(wait)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        throttle.clear(throttle.user_scope(self._username()))
        return super().form_valid(form)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        if not form.has_error(NON_FIELD_ERRORS, "invalid_login"):  # a field left empty: no attempt made
            return super().form_invalid(form)
        address = client_address(self.request)
        with transaction.atomic():
            lockouts = throttle.record_failure(self._username(), address)
            for lockout in lockouts:
                kind, _, value = lockout.scope.partition(":")
                emit("account.locked_out", aggregate_type="login", aggregate_id=lockout.scope[:64],
                     channel=tenant_channel(lockout.tenant_id) if lockout.tenant_id else platform_channel(),
                     tenant_id=lockout.tenant_id, payload={
                         "scope": kind, "username": value if kind == "user" else None, "address": address,
                         "failures": lockout.failures, "locked_for_s": lockout.seconds})
        if lockouts:
            return self._refused(max(lockout.seconds for lockout in lockouts))
        return super().form_invalid(form)

    def _username(self) -> str:
        return str(self.request.POST.get("username", ""))[:150]

    def _refused(self, wait: int) -> HttpResponse:
        """The form again, empty, saying when to try again: 429 with Retry-After."""
        context = self.get_context_data(form=self.get_form_class()(self.request), throttled=(
            f"Too many failed sign-ins. Try again in {wait_text(wait)}."))
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(wait)
        return response
