"""The signed links of invitations: made from the row (id and nonce), never stored.

A link names its invitation and proves it was issued here (Django's signing, keyed by
SECRET_KEY, salted for this use). Whether it still works (pending, not expired) is the
row's to say, so a revoked or used invitation's link stops working at once.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from core.people.models import Invitation
from core.platform.errors import NotFound

SALT = "ferry.people.invitation"
INVALID = "This invitation link is not valid. Ask your agency admin for a new invitation."


def token_of(invitation: Invitation) -> str:
    return signing.dumps([invitation.id, invitation.nonce], salt=SALT)


def link_of(invitation: Invitation) -> str:
    return settings.FERRY_BASE_URL + reverse("people:join", args=[token_of(invitation)])


def invitation_of(token: str) -> Invitation:
    """The invitation a link names, whatever its state; NotFound for a forged or mangled link."""
    try:
        invitation_id, nonce = signing.loads(token[:300], salt=SALT)
        return Invitation.objects.select_related("tenant").get(id=int(invitation_id), nonce=str(nonce))
    except (signing.BadSignature, ValueError, TypeError, Invitation.DoesNotExist):
        raise NotFound(INVALID) from None
