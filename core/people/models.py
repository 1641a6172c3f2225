"""Invitations: how a person joins an agency (core/people/invitations.py)."""

from __future__ import annotations

import secrets

from django.contrib.postgres.fields import ArrayField
from django.db import models

from core.accounts.models import Tenant, User


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


class Invitation(models.Model):
    """An agency admin asked `email` to join `tenant` with `roles`.

    The mailed link is signed over (id, nonce): the worker that sends the mail makes it again
    from the row, so no link is ever stored. Accepting is one conditional UPDATE from pending,
    so a link works once; revoking or expiry ends it too.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        REVOKED = "revoked"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField()
    roles = ArrayField(models.CharField(max_length=32))
    invited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    nonce = models.CharField(max_length=32, default=new_nonce)
    accepted_user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"], name="people_invitation_tenant")]

    def __str__(self) -> str:
        return f"{self.email} ({self.status})"
