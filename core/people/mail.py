"""The mail Ferry sends: invitations and password resets, written here and sent over SMTP by a
worker (core/people/tasks.py). Each message goes to one person and names only their agency."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from core.accounts.models import User
from core.people.invitations import link_of
from core.people.models import Invitation


def _message(to: str, subject: str, body: str) -> EmailMessage:
    return EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])


def invitation_message(invitation_id: int, tenant_id: int) -> EmailMessage | None:
    """The invitation's mail; None if it no longer waits for an answer (accepted, revoked,
    expired): a late or repeated delivery then sends nothing."""
    invitation = Invitation.objects.select_related("tenant", "invited_by").filter(
        id=invitation_id, tenant_id=tenant_id, status=Invitation.Status.PENDING,
        expires_at__gt=timezone.now()).first()
    if invitation is None:
        return None
    inviter = invitation.invited_by.get_full_name() or invitation.invited_by.username
    expires = timezone.localtime(invitation.expires_at).strftime("%Y-%m-%d %H:%M %Z")
    body = (f"{inviter} invites you to join {invitation.tenant.name} on Ferry as "
            f"{', '.join(r.replace('_', ' ') for r in invitation.roles)}.\n\n"
            f"Choose your user name and password here (the link works once, until {expires}):\n\n"
            f"{link_of(invitation)}\n\n"
            "If you did not expect this, ignore this mail: nothing happens unless the link is used.\n")
    return _message(invitation.email, f"Join {invitation.tenant.name} on Ferry", body)


def password_reset_message(user_id: int) -> EmailMessage | None:
    """The reset link for an active person with a password; None otherwise (deactivated since)."""
    user = User.objects.select_related("tenant").filter(id=user_id, is_active=True).first()
    if user is None or not user.has_usable_password() or not user.email:
        return None
    path = reverse("password_reset_confirm", kwargs={
        "uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user)})
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    valid = f"{hours} hour{'s' if hours != 1 else ''}" if hours else f"{settings.PASSWORD_RESET_TIMEOUT // 60} minutes"
    body = (f"Someone asked to reset the Ferry password of {user.username}"
            f"{' (' + user.tenant.name + ')' if user.tenant else ''}.\n\n"
            f"Choose a new password here (the link works once, for {valid}):\n\n"
            f"{settings.FERRY_BASE_URL}{path}\n\n"
            "If it was not you, ignore this mail: your password stays as it is.\n")
    return _message(user.email, "Reset your Ferry password", body)
