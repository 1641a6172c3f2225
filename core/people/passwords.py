"""Password reset by mail, and changing one's password: Django's views, with the mail sent by a
worker through the outbox (core/people/services.py) and Django's password validators on
every password set (AUTH_PASSWORD_VALIDATORS)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse_lazy

from core.people import services


class ResetRequestForm(PasswordResetForm):
    def save(self, *args: Any, **kwargs: Any) -> None:
        """Queue the mail (one outbox event per account with this address); the page says the
        same whether there was any."""
        services.request_password_reset(self.cleaned_data["email"])


class ResetRequestView(auth_views.PasswordResetView):
    form_class = ResetRequestForm
    template_name = "people/password_reset.html"
    success_url = reverse_lazy("password_reset_done")


class ResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "people/password_reset_done.html"


class ResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "people/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        services.complete_password_reset(form.user, form.cleaned_data["new_password1"])
        del self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN]
        return HttpResponseRedirect(self.get_success_url())


class ResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "people/password_reset_complete.html"


class ChangeView(auth_views.PasswordChangeView):
    template_name = "people/password_change.html"
    success_url = reverse_lazy("password_change_done")


class ChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "people/password_change_done.html"
