"""Per-user submission rate limit: a fixed-window counter in the Redis cache DB (`rl:` keys).

Redis is losable (ADR 0002): if the cache is unreachable the limit is counted from
PostgreSQL instead (the learner's submissions in the last window), so an outage neither
becomes a 500 nor lifts the limit. A FLUSHALL resets the counters, at worst letting a
learner submit one more window's worth.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta

import redis
import structlog
from django.conf import settings
from django.utils import timezone
from django_redis import get_redis_connection

from core.learning.models import Submission
from core.platform.errors import RateLimited

log = structlog.get_logger(__name__)

KEY_PREFIX = "rl:submissions"


def _count_in_redis(user_id: int, window_s: int, now: float) -> int:
    key = f"{KEY_PREFIX}:{user_id}:{int(now // window_s)}"
    pipe = get_redis_connection("default").pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window_s + 1)
    count, _ = pipe.execute()
    return int(count)


def _count_in_postgres(user_id: int, window_s: int) -> int:
    since = timezone.now() - timedelta(seconds=window_s)
    # +1: the submission being asked for now.
    return Submission.objects.filter(learner_id=user_id, created_at__gte=since).count() + 1


def check_submission_rate(user_id: int) -> None:
    """Count one submission of `user_id`; RateLimited (429, Retry-After) when over
    SUBMISSION_RATE_LIMIT in the current SUBMISSION_RATE_WINDOW_S window."""
    limit, window_s = settings.SUBMISSION_RATE_LIMIT, settings.SUBMISSION_RATE_WINDOW_S
    now = time.time()
    try:
        count = _count_in_redis(user_id, window_s, now)
        retry_after = math.ceil((now // window_s + 1) * window_s - now)
    # Any Redis failure, not just an unreachable server (a READONLY replica, OOM, a busy
    # script...): the cache is losable, the limit is not.
    except (redis.exceptions.RedisError, OSError) as exc:
        log.warning("learning.ratelimit_from_postgres", reason=str(exc) or type(exc).__name__)
        count, retry_after = _count_in_postgres(user_id, window_s), window_s
    if count > limit:
        raise RateLimited(f"at most {limit} submissions per {window_s} s; try again in {retry_after} s",
                          retry_after_s=max(1, retry_after))
