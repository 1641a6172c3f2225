"""Names of the pub/sub channels live events travel on (the SSE stream subscribes to them)."""

from __future__ import annotations

# Where a signed-in browser follows its channels (core/live/stream.py, served beside Django).
STREAM_PATH = "/live/stream"


def tenant_channel(tenant_id: int) -> str:
    """Events every signed-in user of the tenant sees (schedule.optimized, content.published, ...)."""
    return f"tenant:{tenant_id}:events"


def user_channel(tenant_id: int, user_id: int) -> str:
    """Events for one user only (their notifications, their submission's grade)."""
    return f"tenant:{tenant_id}:user:{user_id}:events"


def people_channel(tenant_id: int) -> str:
    """An agency's account events (invitations, roles, the second-factor policy): written for the
    audit history; no stream follows it, since they name people and their roles."""
    return f"tenant:{tenant_id}:people:events"


# Events after which the live streams of the user named by their payload's "user_id" end at
# once (core/live/stream.py): they travel on the tenant's channel, which every stream of the
# agency follows, so each web process hears of it wherever the user's streams are.
STREAM_ENDING_EVENTS = frozenset({"account.deactivated", "account.second_factor_reset", "account.password_reset"})


def platform_channel() -> str:
    """Platform-wide operational events (heal runs not tied to one tenant); staff only."""
    return "platform:ops:events"


def channels_for(tenant_id: int, user_id: int) -> list[str]:
    """What a signed-in user's live stream carries."""
    return [tenant_channel(tenant_id), user_channel(tenant_id, user_id)]
