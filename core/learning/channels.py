"""Where the learning app's live events go, in one place.

Review activity (version.created / .submitted / .reviewed) names drafts, which only a
tenant's reviewers may see, so it goes to a reviewers-only channel rather than the tenant
channel every role streams. The name follows core.platform.channels' scheme; once core.platform.channels has
a role_channel(tenant_id, role) and channels_for() subscribes users to the channels of
their roles, reviewers_channel() becomes a call to it (and the reviewers' pages receive
these events live; until then nothing streams them, which leaks nothing).
"""

from __future__ import annotations

from core.platform.roles import Role


def role_channel(tenant_id: int, role: Role) -> str:
    """Events for the users of `tenant_id` who have `role`."""
    return f"tenant:{tenant_id}:role:{role.value}:events"


def reviewers_channel(tenant_id: int) -> str:
    """Review activity of `tenant_id`: drafts and decisions, for its reviewers only."""
    return role_channel(tenant_id, Role.REVIEWER)
