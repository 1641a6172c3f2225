"""Write functions of an agency's people: each changes its rows and writes its outbox event in
one transaction, so every invitation, role change, deactivation and policy change is in the
audit history. Views and the API call these; nothing else writes users' roles or state.

Agency admins act only inside their agency: every user or invitation id is looked up with
the admin's tenant, and another agency's ids answer 404 exactly like ids that do not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.accounts import sessions, throttle
from core.accounts.access import get_for_tenant
from core.accounts.models import Tenant, User, is_time_zone
from core.people import mfa
from core.people.invitations import invitation_of
from core.people.models import Invitation
from core.platform.channels import people_channel, platform_channel, tenant_channel
from core.platform.errors import Conflict, Invalid
from core.platform.roles import Role
from outbox.emit import emit

ROLE_NAMES = frozenset(role.value for role in Role)


def valid_roles(roles: Iterable[str], *, field: str = "roles", allow_none: bool = False) -> list[str]:
    """The roles, sorted and without repeats; Invalid naming `field` for an unknown role."""
    chosen = sorted({str(role) for role in roles})
    unknown = [role for role in chosen if role not in ROLE_NAMES]
    if unknown:
        raise Invalid(f"no such role: {', '.join(unknown)} (roles are {', '.join(sorted(ROLE_NAMES))})", field=field)
    if not chosen and not allow_none:
        raise Invalid("choose at least one role", field=field)
    return chosen


def _account_event(event_type: str, user: User, actor: User, payload: dict[str, object], *,
                   ends_streams: bool = False) -> None:
    assert user.tenant_id is not None
    emit(event_type, aggregate_type="user", aggregate_id=user.id, tenant_id=user.tenant_id, actor_id=actor.id,
         channel=tenant_channel(user.tenant_id) if ends_streams else people_channel(user.tenant_id),
         payload={"user_id": user.id, **payload})


def _member(tenant_id: int, user_id: int) -> User:
    """The agency's person, locked; the agency's row is locked first, so that two admins acting
    at once (demoting or deactivating each other) are serialised and the "an agency keeps an
    admin" check sees the other's change."""
    Tenant.objects.select_for_update().filter(id=tenant_id).first()
    return get_for_tenant(User.objects.select_for_update(of=("self",)), tenant_id, user_id, "person")


def _other_active_admins(tenant_id: int, user: User) -> bool:
    return User.objects.filter(tenant_id=tenant_id, is_active=True, groups__name=Role.AGENCY_ADMIN).exclude(
        id=user.id).exists()


# --- invitations ----------------------------------------------------------------------------

@transaction.atomic(durable=True)
def invite(*, tenant_id: int, email: str, roles: Iterable[str], actor: User) -> Invitation:
    """Invite `email` into the admin's agency with `roles`; the link is mailed by a worker
    (people.send_invitation). A pending invitation to the same address is replaced (a resend)."""
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise Invalid(f"{email!r} is not an email address", field="email") from None
    chosen = valid_roles(roles)
    if User.objects.filter(tenant_id=tenant_id, email__iexact=email, is_active=True).exists():
        raise Conflict(f"{email} already has an account in this agency", field="email")
    Invitation.objects.select_for_update().filter(
        tenant_id=tenant_id, email__iexact=email, status=Invitation.Status.PENDING).update(
        status=Invitation.Status.REVOKED)
    invitation = Invitation.objects.create(
        tenant_id=tenant_id, email=email, roles=chosen, invited_by=actor,
        expires_at=timezone.now() + timedelta(seconds=settings.INVITATION_MAX_AGE_S))
    emit("account.invited", aggregate_type="invitation", aggregate_id=invitation.id, tenant_id=tenant_id,
         actor_id=actor.id, task="people.send_invitation", payload={"invitation_id": invitation.id})
    return invitation


@transaction.atomic(durable=True)
def revoke_invitation(*, tenant_id: int, invitation_id: int, actor: User) -> Invitation:
    invitation = get_for_tenant(Invitation.objects.select_for_update(), tenant_id, invitation_id, "invitation")
    if invitation.status != Invitation.Status.PENDING:
        raise Conflict(f"this invitation is already {invitation.status}")
    invitation.status = Invitation.Status.REVOKED
    invitation.save(update_fields=["status"])
    emit("account.invitation_revoked", aggregate_type="invitation", aggregate_id=invitation.id,
         tenant_id=tenant_id, actor_id=actor.id, channel=people_channel(tenant_id),
         payload={"invitation_id": invitation.id})
    return invitation


def why_unusable(invitation: Invitation) -> str | None:
    """Why a (genuine) link no longer works, in the invitee's words; None if it does."""
    if invitation.status == Invitation.Status.ACCEPTED:
        return "This invitation has already been used. Sign in, or ask your agency admin for a new one."
    if invitation.status == Invitation.Status.REVOKED:
        return "This invitation was withdrawn. Ask your agency admin for a new one."
    if invitation.expires_at <= timezone.now():
        return "This invitation has expired. Ask your agency admin for a new one."
    return None


def _check_new_account(username: str, password: str, invitation: Invitation) -> None:
    try:
        User.username_validator(username)
    except ValidationError as exc:
        raise Invalid(" ".join(exc.messages), field="username") from None
    if not username or len(username) > 150:
        raise Invalid("a user name has 1 to 150 characters", field="username")
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"the user name {username!r} is taken; choose another", field="username")
    try:
        validate_password(password, User(username=username, email=invitation.email))
    except ValidationError as exc:
        raise Invalid(" ".join(exc.messages), field="password") from None


@transaction.atomic(durable=True)
def accept_invitation(*, token: str, username: str, password: str, full_name: str = "") -> User:
    """The invitee becomes a user of the agency with the invited roles. The link works once:
    the invitation is claimed with one conditional UPDATE, so two tabs cannot both use it."""
    invitation = invitation_of(token)
    problem = why_unusable(invitation)
    if problem:
        raise Conflict(problem)
    username = username.strip()
    _check_new_account(username, password, invitation)
    claimed = Invitation.objects.filter(id=invitation.id, status=Invitation.Status.PENDING,
                                        expires_at__gt=timezone.now()).update(status=Invitation.Status.ACCEPTED)
    if not claimed:
        raise Conflict("This invitation has just been used or withdrawn. Ask your agency admin for a new one.")
    first, _, last = full_name.strip().partition(" ")
    user = User(username=username, email=invitation.email, tenant_id=invitation.tenant_id,
                first_name=first[:150], last_name=last[:150])
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # taken by another join at the same moment
        raise Conflict(f"the user name {username!r} is taken; choose another", field="username") from None
    user.groups.set(Group.objects.filter(name__in=invitation.roles))
    Invitation.objects.filter(id=invitation.id).update(accepted_user=user)
    _account_event("account.joined", user, invitation.invited_by,
                   {"invitation_id": invitation.id, "roles": list(invitation.roles)})
    return user


# --- roles, deactivation, unlocking ------------------------------------------------------------

@transaction.atomic(durable=True)
def set_roles(*, tenant_id: int, user_id: int, roles: Iterable[str], actor: User) -> User:
    """Give a person of the agency exactly `roles` (none leaves them signed in to nothing).
    An agency keeps at least one active agency admin."""
    user = _member(tenant_id, user_id)
    chosen = valid_roles(roles, allow_none=True)
    before = sorted(user.roles)
    if Role.AGENCY_ADMIN in before and Role.AGENCY_ADMIN not in chosen and not _other_active_admins(tenant_id, user):
        raise Conflict("the agency would have no agency admin left; make someone else admin first", field="roles")
    user.groups.set(Group.objects.filter(name__in=chosen))
    _account_event("account.roles_changed", user, actor, {"roles": chosen, "previous": before})
    return user


@transaction.atomic(durable=True)
def deactivate(*, tenant_id: int, user_id: int, actor: User) -> int:
    """Switch an account off at once: its sessions end (pages and the API refuse it from the
    next request) and its open live streams close (the event is on the tenant's channel).
    Returns how many sessions ended."""
    user = _member(tenant_id, user_id)
    if user.id == actor.id:
        raise Conflict("you cannot deactivate your own account; ask another agency admin")
    if not user.is_active:
        raise Conflict(f"{user.username} is already deactivated")
    if Role.AGENCY_ADMIN in user.roles and not _other_active_admins(tenant_id, user):
        raise Conflict("the agency would have no agency admin left; make someone else admin first")
    user.is_active = False
    user.save(update_fields=["is_active"])
    ended = sessions.end_all(user)
    _account_event("account.deactivated", user, actor, {"sessions_ended": ended}, ends_streams=True)
    return ended


@transaction.atomic(durable=True)
def reactivate(*, tenant_id: int, user_id: int, actor: User) -> User:
    user = _member(tenant_id, user_id)
    if user.is_active:
        raise Conflict(f"{user.username} is already active")
    user.is_active = True
    user.save(update_fields=["is_active"])
    _account_event("account.reactivated", user, actor, {})
    return user


@transaction.atomic(durable=True)
def unlock_sign_in(*, tenant_id: int, user_id: int, actor: User) -> bool:
    """Lift a sign-in lockout of the person's account name before its time; False if none."""
    user = _member(tenant_id, user_id)
    lifted = bool(throttle.clear(throttle.user_scope(user.username)))
    if lifted:
        _account_event("account.unlocked", user, actor, {})
    return lifted


@transaction.atomic(durable=True)
def reset_second_factor(*, tenant_id: int, user_id: int, actor: User) -> int:
    """A person lost their authenticator and recovery codes: remove them and end the person's
    sessions; the next sign-in asks them to enrol again. Returns how many sessions ended."""
    user = _member(tenant_id, user_id)
    if not mfa.reset_second_factor(user):
        raise Conflict(f"{user.username} has no second factor to reset")
    ended = sessions.end_all(user)
    _account_event("account.second_factor_reset", user, actor, {"sessions_ended": ended}, ends_streams=True)
    return ended


@transaction.atomic(durable=True)
def set_mfa_policy(*, tenant_id: int, roles: Iterable[str], actor: User) -> list[str]:
    """Which roles of the agency must sign in with a second factor."""
    chosen = valid_roles(roles, field="mfa_roles", allow_none=True)
    tenant = Tenant.objects.select_for_update().get(id=tenant_id)
    before = sorted(tenant.mfa_roles)
    tenant.mfa_roles = chosen
    tenant.save(update_fields=["mfa_roles"])
    emit("agency.mfa_policy_changed", aggregate_type="tenant", aggregate_id=tenant_id, tenant_id=tenant_id,
         actor_id=actor.id, channel=people_channel(tenant_id), payload={"mfa_roles": chosen, "previous": before})
    return chosen


# --- a person's own preferences ----------------------------------------------------------------

@transaction.atomic(durable=True)
def set_time_zone(user: User, time_zone: str) -> User:
    """The person's own time zone (empty: their agency's); their local days (streaks, due
    reviews, digests) follow it."""
    time_zone = time_zone.strip()
    if time_zone and not is_time_zone(time_zone):
        raise Invalid(f"{time_zone!r} is not a time zone (use an IANA name such as Europe/Lisbon)",
                      field="time_zone")
    before = user.time_zone
    User.objects.filter(id=user.id).update(time_zone=time_zone)
    user.time_zone = time_zone
    emit("account.time_zone_changed", aggregate_type="user", aggregate_id=user.id, tenant_id=user.tenant_id,
         actor_id=user.id, channel=people_channel(user.tenant_id) if user.tenant_id else platform_channel(),
         payload={"user_id": user.id, "time_zone": time_zone, "previous": before})
    return user


# --- password reset ------------------------------------------------------------------------

@transaction.atomic(durable=True)
def request_password_reset(email: str) -> int:
    """Mail a reset link to each active account with this address and a password (a worker
    sends it: people.send_password_reset), at most one per account per
    PASSWORD_RESET_MIN_INTERVAL_S, so a stranger cannot flood someone's mailbox. Returns how
    many mails were queued; the caller answers the same whatever it is, so the page does not
    tell who has an account."""
    users = [user for user in User.objects.filter(email__iexact=email.strip(), is_active=True)
             if user.has_usable_password()  # no reset for accounts that sign in without one
             and throttle.once_per(f"reset:{user.id}", settings.PASSWORD_RESET_MIN_INTERVAL_S)]
    for user in users:
        emit("account.password_reset_requested", aggregate_type="user", aggregate_id=user.id,
             tenant_id=user.tenant_id, task="people.send_password_reset", payload={"user_id": user.id})
    return len(users)


@transaction.atomic(durable=True)
def complete_password_reset(user: User, password: str) -> None:
    """The person chose a new password from a reset link (already validated by the form). Their
    other sessions end with the old password (Django's session hash) and are forgotten here."""
    user.set_password(password)
    user.save(update_fields=["password"])
    sessions.end_all(user)
    throttle.clear(throttle.user_scope(user.username))
    # On the agency's channel: the person's open live streams end with it (STREAM_ENDING_EVENTS).
    emit("account.password_reset", aggregate_type="user", aggregate_id=user.id, tenant_id=user.tenant_id,
         actor_id=user.id, channel=tenant_channel(user.tenant_id) if user.tenant_id else platform_channel(),
         payload={"user_id": user.id})
