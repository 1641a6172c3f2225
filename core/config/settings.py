"""Ferry settings: every value that differs between machines comes from the environment.

Local defaults point at the servers `make services` starts (scripts/services.py), so
`.venv/bin/python manage.py <command>` works on a developer machine with nothing set.
Production (FERRY_ENV=production) refuses to start with DEBUG on or the default secret.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.platform.env import (
    database_from_url,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    redis_url,
)
from core.platform.logs import logging_config

BASE_DIR = Path(__file__).resolve().parents[2]

FERRY_ENV = env_choice("FERRY_ENV", "development", ("development", "production"))
PRODUCTION = FERRY_ENV == "production"

_DEV_SECRET = "dev-only-secret-do-not-use-in-production"  # noqa: S105 - refused in production below
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET)
# Earlier keys, still accepted for what they signed (sessions, reset links, recovery codes made
# before a rotation), never used to sign anything new.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
DEBUG = env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

if PRODUCTION and (DEBUG or SECRET_KEY == _DEV_SECRET):
    problems = [p for p, bad in (("DEBUG is on", DEBUG), ("SECRET_KEY is the development default",
                                                          SECRET_KEY == _DEV_SECRET)) if bad]
    raise ImproperlyConfigured(
        "Refusing to start with FERRY_ENV=production: " + " and ".join(problems)
        + ". Set DEBUG=0 and a unique SECRET_KEY."
    )


def _process_name() -> str:
    """Which Ferry process this is, for Postgres application_name and logs.

    FERRY_PROCESS wins (the Procfile and compose file set it); otherwise it is guessed
    from the command line so ad-hoc commands are still recognisable in pg_stat_activity.
    """
    explicit = os.environ.get("FERRY_PROCESS")
    if explicit:
        return explicit
    argv = [Path(a).name for a in sys.argv[:3]]
    if argv and argv[0] in {"manage.py", "django-admin"} and len(argv) > 1:
        return argv[1]
    for name in ("pytest", "celery", "uvicorn"):
        if any(name in a for a in argv):
            return name
    return "python"


FERRY_PROCESS = _process_name()

# --- applications ---------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    # The second factor: TOTP devices and recovery codes (core/accounts/mfa.py).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # Layers, lowest first (adr/0013-layers.md): the platform, accounts and the outbox; the
    # domains and the relay; the site shell. (core.live has no models, templates or tasks.)
    "core.platform",
    "core.accounts",
    "outbox",
    "core.privacy",
    "relays",
    "core.dispatch",
    "core.learning",
    "core.ops",
    "core.audit",
    "core.people",
    "core.web",
    # Tooling apart from the product (benchmarks, the chaos run): installed for its commands.
    "bench",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.platform.middleware.content_security_policy",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.platform.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "core.accounts.sessions.IdleTimeoutMiddleware",
    "core.accounts.mfa.SecondFactorMiddleware",
    "core.platform.tenancy.TenantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "core.config.urls"
ASGI_APPLICATION = "core.config.asgi.application"
WSGI_APPLICATION = "core.config.wsgi.application"
AUTH_USER_MODEL = "core.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
# Sign-in throttling (core/accounts/throttle.py): this many failed sign-ins of one account name
# (existing or not) within the window lock that name for LOGIN_LOCKOUT_S, right password or
# not; one client address is locked after LOGIN_ADDRESS_FAILURE_LIMIT failures (any names).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 50, minimum=1)
LOGIN_FAILURE_WINDOW_S = env_int("LOGIN_FAILURE_WINDOW_S", 900, minimum=1)
LOGIN_LOCKOUT_S = env_int("LOGIN_LOCKOUT_S", 900, minimum=1)
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- PostgreSQL: the only source of truth ----------------------------------------------

# The development servers' ports (scripts/services.py reads the same variables).
_PG_PORT = env_int("FERRY_PG_PORT", 55432, minimum=1)
_REDIS_PORT = env_int("FERRY_REDIS_PORT", 56379, minimum=1)

DATABASE_URL = env_str("DATABASE_URL", f"postgres://ferry@127.0.0.1:{_PG_PORT}/ferry")
_database = database_from_url("DATABASE_URL", DATABASE_URL)
_database["OPTIONS"].setdefault("application_name", f"ferry-{FERRY_PROCESS}")
# Django binds parameters in the client and never prepares; the outbox's hot statements run
# prepared through core.platform.db.run_prepared and the deferred emit (planned once per
# connection), which needs psycopg's prepared statements enabled. Nothing else is prepared.
_database["OPTIONS"].setdefault("prepare_threshold", 5)
# The web process serves many short requests from threads and async tasks; a pool keeps
# connection set-up off the request path. Workers and relays hold one connection each.
if env_bool("FERRY_DB_POOL", False):
    _database["OPTIONS"]["pool"] = {
        "min_size": env_int("FERRY_DB_POOL_MIN", 2, minimum=0),
        "max_size": env_int("FERRY_DB_POOL_MAX", 16, minimum=1),
        "timeout": 10,
    }
else:
    _database["CONN_MAX_AGE"] = env_int("FERRY_DB_CONN_MAX_AGE", 60, minimum=0)
    _database["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: one server in three roles, each its own URL (ADR 0002) ---------------------

REDIS_BROKER_URL = redis_url("REDIS_BROKER_URL", f"redis://127.0.0.1:{_REDIS_PORT}/0")
REDIS_CACHE_URL = redis_url("REDIS_CACHE_URL", f"redis://127.0.0.1:{_REDIS_PORT}/1")
REDIS_PUBSUB_URL = redis_url("REDIS_PUBSUB_URL", f"redis://127.0.0.1:{_REDIS_PORT}/2")

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_CACHE_URL,
        "KEY_PREFIX": "ferry",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            # The cache is an optimisation: a Redis outage must cost a re-render, not a 500.
            "IGNORE_EXCEPTIONS": True,
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 1,
            # redis-py retries with backoff by default: a dead cache would cost seconds per call.
            "CONNECTION_POOL_KWARGS": {"retry": Retry(NoBackoff(), 0)},
        },
    }
}
DJANGO_REDIS_IGNORE_EXCEPTIONS = True
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
SESSION_ENGINE = "django.contrib.sessions.backends.db"  # sessions must survive a Redis flush
# A session unused this long ends by itself (core/accounts/sessions.py); users see and end their
# sessions at /accounts/sessions/.
SESSION_IDLE_TIMEOUT_S = env_int("SESSION_IDLE_TIMEOUT_S", 1800, minimum=1)

# --- Celery (hygiene defaults live in core/config/celery.py) ------------------------------------

# Longest hard time limit of any task; the broker's visibility timeout must exceed it,
# or a message still being worked on is handed to a second worker.
CELERY_MAX_TIME_LIMIT = env_int("CELERY_MAX_TIME_LIMIT", 660, minimum=1)
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 900, minimum=1)
# The chaos run pauses a worker past a short visibility timeout on purpose; it says so.
UNSAFE_SHORT_VISIBILITY_TIMEOUT = env_bool("FERRY_UNSAFE_SHORT_VISIBILITY_TIMEOUT", False)
if CELERY_VISIBILITY_TIMEOUT <= CELERY_MAX_TIME_LIMIT and not UNSAFE_SHORT_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        f"CELERY_VISIBILITY_TIMEOUT={CELERY_VISIBILITY_TIMEOUT} must exceed "
        f"CELERY_MAX_TIME_LIMIT={CELERY_MAX_TIME_LIMIT}, or running tasks are delivered twice"
    )
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 2.0, minimum=0.05)
# Celery's Django fixup closes every database connection before and after each task unless
# this is set (a new connection costs a task ~5 ms): a worker process keeps its connection
# for this many tasks, checked as Django checks a request's (core/config/celery.py).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)
CELERY_BROKER_URL = REDIS_BROKER_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    "health_check_interval": 25,
}

# --- outbox and relay (ADRs 0005, 0006) ------------------------------------------------------

# A task event relayed this long after its task's hard time limit, and not completed, is
# redelivered by the sweep (a duplicate is harmless: consumers are idempotent).
OUTBOX_REDELIVER_GRACE_S = env_int("OUTBOX_REDELIVER_GRACE_S", 300, minimum=1)
# Fault-injection runs only (the chaos run): redeliver a relayed task event after at most this
# many seconds, even before its task's hard time limit, so lost messages come back within a
# short run. A second delivery of a task still running is absorbed (the inbox; a job's claim).
# 0, the default: the deadline above applies.
OUTBOX_REDELIVER_AFTER_MAX_S = env_int("OUTBOX_REDELIVER_AFTER_MAX_S", 0, minimum=0)
# Deliveries of one event (relays, sweeps, retries) before it becomes a dead letter.
OUTBOX_MAX_DELIVERIES = env_int("OUTBOX_MAX_DELIVERIES", 8, minimum=1)
RELAY_BATCH_SIZE = env_int("RELAY_BATCH_SIZE", 1000, minimum=1)

# Retention (core/platform/retention.py, adr/0016): days each growing table keeps its rows;
# beat's outbox.enforce_retention deletes older ones every hour, in batches. The inbox must
# outlive any second delivery of a processed event (the broker's visibility timeout and the
# sweep's redelivery deadline are hours), hence its minimum of a day.
RETENTION_INBOX_DAYS = env_float("RETENTION_INBOX_DAYS", 14, minimum=1)
RETENTION_ATTEMPTS_DAYS = env_float("RETENTION_ATTEMPTS_DAYS", 30, minimum=0.0001)
# Dead letters that were redriven or discarded; an open one stays until someone acts on it.
RETENTION_DEAD_LETTERS_DAYS = env_float("RETENTION_DEAD_LETTERS_DAYS", 180, minimum=0.0001)
# The record of dispatchers' schedules' runs (core/dispatch/schedules.py).
RETENTION_SCHEDULE_RUNS_DAYS = env_float("RETENTION_SCHEDULE_RUNS_DAYS", 180, minimum=1)
# The outbox's figures over time (outbox/metrics.py): per minute for a month, per hour for a year.
RETENTION_METRIC_MINUTES_DAYS = env_float("RETENTION_METRIC_MINUTES_DAYS", 30, minimum=1)
RETENTION_METRIC_HOURS_DAYS = env_float("RETENTION_METRIC_HOURS_DAYS", 365, minimum=1)
# Heal runs, and bulk actions on dead letters (their progress; the action log keeps the record).
RETENTION_HEAL_RUNS_DAYS = env_float("RETENTION_HEAL_RUNS_DAYS", 90, minimum=0.0001)
# The operators' action log (core/ops: redrives, heal requests): kept a year for the record.
RETENTION_OPS_ACTIONS_DAYS = env_float("RETENTION_OPS_ACTIONS_DAYS", 365, minimum=1)
RETENTION_NOTIFICATIONS_DAYS = env_float("RETENTION_NOTIFICATIONS_DAYS", 180, minimum=0.0001)
# The read audit of patient data (core/privacy, adr/0017): who saw which visits, kept this long
# (default: about six years, the span US health privacy rules ask records of access to be kept).
READ_AUDIT_RETENTION_DAYS = env_float("READ_AUDIT_RETENTION_DAYS", 2192, minimum=1)
# Exports of the outbox history made in the background (core/audit/exports.py, adr/0021): how
# many of an agency may be unfinished at once, the largest (by the count's estimate: beyond it,
# narrow the time window), and how long a finished file is kept.
AUDIT_EXPORTS_AT_ONCE = env_int("AUDIT_EXPORTS_AT_ONCE", 2, minimum=1)
AUDIT_EXPORT_MAX_ROWS = env_int("AUDIT_EXPORT_MAX_ROWS", 20_000_000, minimum=1)
AUDIT_EXPORT_KEEP_DAYS = env_float("AUDIT_EXPORT_KEEP_DAYS", 7, minimum=0.0001)
# The live board's re-fetches of one day by one user and address within this many seconds
# share one read-audit row (its repeats count them).
READ_AUDIT_COLLAPSE_S = env_int("READ_AUDIT_COLLAPSE_S", 60, minimum=1)
# The outbox history is archived by whole months (outbox/archive.py): months that ended more
# than OUTBOX_HISTORY_KEEP_MONTHS ago are exported to OUTBOX_ARCHIVE_DIR and detached by the
# same hourly run. Empty (the default): archival is left to `manage.py outbox_archive`.
OUTBOX_HISTORY_KEEP_MONTHS = env_int("OUTBOX_HISTORY_KEEP_MONTHS", 13, minimum=1)
OUTBOX_ARCHIVE_DIR = os.environ.get("OUTBOX_ARCHIVE_DIR", "")
# Rows per delete and batches per table and run (the next run, an hour later, goes on).
RETENTION_BATCH = env_int("RETENTION_BATCH", 5000, minimum=1)
RETENTION_MAX_BATCHES = env_int("RETENTION_MAX_BATCHES", 200, minimum=1)
# The fallback poll when no NOTIFY arrives: bounds the latency of a missed wake-up.
RELAY_POLL_INTERVAL_S = env_float("RELAY_POLL_INTERVAL_S", 1.0, minimum=0.01)
# After relaying, the relay looks for new rows every RELAY_LINGER_POLL_S for RELAY_LINGER_S
# before it goes idle; writers send no NOTIFY meanwhile (ADR 0007).
RELAY_LINGER_S = env_float("RELAY_LINGER_S", 0.25, minimum=0)
RELAY_LINGER_POLL_S = env_float("RELAY_LINGER_POLL_S", 0.0005, minimum=0.0001)
# Task messages waiting in one Redis queue before the relay holds that queue's events back in
# PostgreSQL, where claims are shared fairly among tenants: a tenant's flood then delays
# another tenant's task by about this many messages (plus those workers hold). The relay refills
# a queue once it is down to half, looking every 20 ms: the bound should cover what the
# queue's workers take in 40 ms (32 keeps two worker processes busy; measured in
# docs/relay.md). 0: no bound. adr/0014.
RELAY_MAX_QUEUED = env_int("RELAY_MAX_QUEUED", 32, minimum=0)
# A claim is shared among at most this many tenants with due events (round robin beyond).
RELAY_MAX_TENANTS = env_int("RELAY_MAX_TENANTS", 100, minimum=1)

# A heal run's repairs are checked (ops.verify_heal_runs, every minute) until all took effect
# or this long after the run finished; what is unconfirmed by then stays so.
HEAL_VERIFY_WINDOW_S = env_int("HEAL_VERIFY_WINDOW_S", 3600, minimum=1)
# How often each worker reads which queues platform staff paused (core/ops/worker.py): a pause
# or a resume takes effect within this long.
QUEUE_PAUSE_POLL_S = env_float("QUEUE_PAUSE_POLL_S", 5, minimum=0.1)

# --- beat (core/platform/beat.py, adr/0015) ---------------------------------------------

# A standby beat tries to take the leader lock this often (seconds).
BEAT_STANDBY_POLL_S = env_float("BEAT_STANDBY_POLL_S", 1.0, minimum=0.1)
# The leader checks that it still holds the lock at least this often, before sending...
BEAT_MAX_LOOP_S = env_float("BEAT_MAX_LOOP_S", 1.0, minimum=0.1)
# ...and steps down when the check gets no answer within this long (a partition).
BEAT_LEASE_CHECK_S = env_float("BEAT_LEASE_CHECK_S", 2.0, minimum=0.5)
# PostgreSQL drops an unreachable leader's session (and its lock) after about four times this:
# much longer than the leader takes to step down, so two beats never send at once.
BEAT_LOCK_KEEPALIVE_S = env_int("BEAT_LOCK_KEEPALIVE_S", 5, minimum=1)
# Fault-injection runs only (the chaos run): every interval schedule stored in the database
# runs at least this often (seconds), so sweeps and heals come round within a short run.
# 0, the default: the stored intervals apply as they are.
BEAT_MAX_INTERVAL_S = env_int("BEAT_MAX_INTERVAL_S", 0, minimum=0)

# --- metrics (core/platform/metrics.py, docs/observability.md) ------------------------------

# Ports on which each process serves Prometheus metrics, apart from the public site; 0 (the
# default): not served. The relay's is its --metrics-port option. Two workers or beats on one
# host need different ports (or one of them 0).
WEB_METRICS_PORT = env_int("WEB_METRICS_PORT", 0, minimum=0)
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0, minimum=0)
BEAT_METRICS_PORT = env_int("BEAT_METRICS_PORT", 0, minimum=0)
# The address those ports listen on: loopback unless Prometheus scrapes from another host
# (compose: 0.0.0.0, inside the private network).
METRICS_ADDR = env_str("METRICS_ADDR", "127.0.0.1")

# --- dispatch (core/dispatch) ------------------------------------------------------------

# Seconds the solver may search when optimizing a day (core/dispatch/jobs.time_limit). A day
# of more than OPTIMIZE_LARGE_DAY_VISITS visits gets OPTIMIZE_SECONDS_PER_VISIT per visit, up
# to OPTIMIZE_MAX_TIME_LIMIT_S; a re-plan of the rest of a day (a sick call) at most
# OPTIMIZE_REPLAN_TIME_LIMIT_S.
OPTIMIZE_TIME_LIMIT_S = env_float("OPTIMIZE_TIME_LIMIT_S", 10.0, minimum=0.1)
OPTIMIZE_LARGE_DAY_VISITS = env_int("OPTIMIZE_LARGE_DAY_VISITS", 300, minimum=1)
OPTIMIZE_SECONDS_PER_VISIT = env_float("OPTIMIZE_SECONDS_PER_VISIT", 0.3, minimum=0.0)
OPTIMIZE_MAX_TIME_LIMIT_S = env_float("OPTIMIZE_MAX_TIME_LIMIT_S", 300.0, minimum=0.1)
OPTIMIZE_REPLAN_TIME_LIMIT_S = env_float("OPTIMIZE_REPLAN_TIME_LIMIT_S", 5.0, minimum=0.1)
# Travel times are haversine distances at this speed, times a detour factor for real roads.
TRAVEL_SPEED_KMH = env_float("TRAVEL_SPEED_KMH", 35.0, minimum=1.0)
TRAVEL_DETOUR_FACTOR = env_float("TRAVEL_DETOUR_FACTOR", 1.3, minimum=1.0)
# A queued or running Optimize Day job whose status has not moved for this long is treated
# as abandoned (its worker died past every redelivery) when the same day is requested again.
OPTIMIZE_STALE_AFTER_S = env_int("OPTIMIZE_STALE_AFTER_S", 1800, minimum=60)

# Live stream (core/live, ADR 0009). The hub wakes on Redis pub/sub and reads Postgres; this
# poll bounds how late an event is when its Redis message was lost.
LIVE_POLL_INTERVAL_S = env_float("LIVE_POLL_INTERVAL_S", 3.0, minimum=0.05)
# Doorbells arriving within this window are served by one read per tenant.
LIVE_DEBOUNCE_S = env_float("LIVE_DEBOUNCE_S", 0.005, minimum=0)
# A comment this often keeps proxies from closing an idle stream.
LIVE_KEEPALIVE_S = env_float("LIVE_KEEPALIVE_S", 15.0, minimum=0.1)
# The reconnection delay the browser is told to use (SSE `retry:`).
LIVE_RETRY_MS = env_int("LIVE_RETRY_MS", 3000, minimum=100)
# A stream ends after this long and the browser reconnects (replaying from its cursor): a
# signed-out or deactivated user's stream cannot outlive it.
LIVE_STREAM_MAX_S = env_float("LIVE_STREAM_MAX_S", 900.0, minimum=1.0)
# Events buffered for one slow client before its stream is closed (it reconnects and replays).
LIVE_QUEUE_LIMIT = env_int("LIVE_QUEUE_LIMIT", 1000, minimum=1)
# Open streams of one user in one web process; the next is refused with 429 and Retry-After.
LIVE_STREAMS_PER_USER = env_int("LIVE_STREAMS_PER_USER", 8, minimum=1)
# Open streams of one web process; the next is refused with 503 and Retry-After (spread over
# 5-30 s) before the process degrades. Measured: 10,000 fit in under 1 GiB (docs/live.md).
LIVE_MAX_STREAMS = env_int("LIVE_MAX_STREAMS", 12_000, minimum=1)
# A stream's session is checked against the database at most this often per process, in
# batches of the sessions asked about within LIVE_SETUP_BATCH_S.
LIVE_AUTH_CACHE_S = env_float("LIVE_AUTH_CACHE_S", 30.0, minimum=0)
LIVE_SETUP_BATCH_S = env_float("LIVE_SETUP_BATCH_S", 0.005, minimum=0)
# Streams starting (session check, joining, replay) at once in one process; the others wait
# their turn, so a storm never holds the event loop for long (core/live/stream.py).
LIVE_SETUP_CONCURRENCY = env_int("LIVE_SETUP_CONCURRENCY", 100, minimum=1)

# --- learning (core/learning) ---------------------------------------------------------------

# Submissions per user per window before 429 (counters in the cache DB under rl:).
SUBMISSION_RATE_LIMIT = env_int("SUBMISSION_RATE_LIMIT", 10, minimum=1)
SUBMISSION_RATE_WINDOW_S = env_int("SUBMISSION_RATE_WINDOW_S", 60, minimum=1)
# A submission queued or running longer than this is re-enqueued by heal_pending_gradings
# (longer than the grading task's hard time limit), at most GRADING_MAX_ATTEMPTS times.
GRADING_DEADLINE_S = env_int("GRADING_DEADLINE_S", 180, minimum=1)
GRADING_MAX_ATTEMPTS = env_int("GRADING_MAX_ATTEMPTS", 3, minimum=1)
# Sandbox limits for one submission's test run (docs/sandbox.md). CPU, memory, processes and
# file size apply to each test's process; wall-clock to the whole run; output to each test.
SANDBOX_CPU_S = env_int("SANDBOX_CPU_S", 5, minimum=1)
SANDBOX_WALL_S = env_int("SANDBOX_WALL_S", 10, minimum=1)
SANDBOX_MEMORY_MB = env_int("SANDBOX_MEMORY_MB", 256, minimum=16)
# Processes of one sandbox, counting the harness and the test's own process.
SANDBOX_PROCESSES = env_int("SANDBOX_PROCESSES", 16, minimum=2)
SANDBOX_FILE_SIZE_MB = env_int("SANDBOX_FILE_SIZE_MB", 4, minimum=1)
SANDBOX_OUTPUT_KB = env_int("SANDBOX_OUTPUT_KB", 64, minimum=1)
# Size of the sandbox's /tmp (a tmpfs, so it is memory): its only writable place.
SANDBOX_TMP_MB = env_int("SANDBOX_TMP_MB", 16, minimum=1)
# What grades submissions: a dotted path to a function returning a grader
# (core.learning.grading.Grader). Every Ferry process uses the sandbox; tests of the grading
# plumbing substitute a fake here.
LEARNING_GRADER = env_str("LEARNING_GRADER", "core.learning.grading.sandbox_grader")
# The isolation tool and the interpreter that runs submissions: the system Python, never the
# project's virtualenv (it must not be visible in the sandbox).
SANDBOX_BWRAP = env_str("SANDBOX_BWRAP", "/usr/bin/bwrap")
SANDBOX_PYTHON = env_str("SANDBOX_PYTHON", "/usr/bin/python3")
# The unprivileged host user submissions run as when the worker itself runs as root.
SANDBOX_USER = env_str("SANDBOX_USER", "ferry-sandbox")
# The grading task's time limits: the sandbox's wall clock plus time to start it, to probe
# the isolation once per worker process (the probe's self-test runs at most twice, each
# bounded by PROBE_LIMITS.wall_s in core/learning/sandbox/probe.py, 10 s) and to record the
# result. The heal's deadline must exceed the hard limit, or heal_pending_gradings would
# re-enqueue a submission whose grading may still be running.
GRADING_SOFT_TIME_LIMIT_S = SANDBOX_WALL_S + 30
GRADING_TIME_LIMIT_S = GRADING_SOFT_TIME_LIMIT_S + 10
if GRADING_DEADLINE_S <= GRADING_TIME_LIMIT_S:
    raise ImproperlyConfigured(
        f"GRADING_DEADLINE_S={GRADING_DEADLINE_S} must exceed the grading task's hard time limit "
        f"({GRADING_TIME_LIMIT_S} s, SANDBOX_WALL_S + 40), or running gradings are enqueued twice"
    )
# Search: the longest query accepted, and results per page.
SEARCH_QUERY_MAX_CHARS = env_int("SEARCH_QUERY_MAX_CHARS", 200, minimum=10)
SEARCH_RESULTS_MAX = env_int("SEARCH_RESULTS_MAX", 20, minimum=1)
# Search ranks by text relevance x (1 + SEARCH_QUALITY_WEIGHT x quality score), the score from 0 to
# 1, recomputed nightly (core/learning/quality.py); content not scored yet counts as
# SEARCH_UNSCORED_QUALITY. The score looks at the last QUALITY_WINDOW_DAYS of use; freshness
# halves every QUALITY_HALF_LIFE_DAYS.
SEARCH_QUALITY_WEIGHT = env_float("SEARCH_QUALITY_WEIGHT", 1.0, minimum=0)
SEARCH_UNSCORED_QUALITY = 0.5
QUALITY_WINDOW_DAYS = env_int("QUALITY_WINDOW_DAYS", 90, minimum=1)
QUALITY_HALF_LIFE_DAYS = env_int("QUALITY_HALF_LIFE_DAYS", 180, minimum=1)
# Whether a reviewer may review a version they wrote themselves (409 otherwise): for a
# one-reviewer agency only; review is meant to be a second pair of eyes.
LEARNING_ALLOW_SELF_REVIEW = env_bool("LEARNING_ALLOW_SELF_REVIEW", False)

# Published documents (a live version's title and rendered body) cached by version in the
# cache DB (core/learning/cache.py); False reads them from PostgreSQL every time.
LEARNING_CACHE = env_bool("LEARNING_CACHE", True)
LEARNING_CACHE_TTL_S = env_int("LEARNING_CACHE_TTL_S", 24 * 3600, minimum=1)

# Email digests (core/learning/digests.py, adr/0019-digests.md): mailed at this local hour (in
# each person's zone) of the day (daily) or of Monday (weekly); beat's learning.plan_digests
# looks for due people every 15 minutes, DIGEST_BATCH at a time, at most DIGEST_MAX_BATCHES
# batches per run (the next run goes on). A digest lists at most DIGEST_MAX_ITEMS notices.
DIGEST_LOCAL_HOUR = env_int("DIGEST_LOCAL_HOUR", 7, minimum=0)
if DIGEST_LOCAL_HOUR > 23:
    raise ImproperlyConfigured(f"DIGEST_LOCAL_HOUR={DIGEST_LOCAL_HOUR} must be an hour of the day, 0 to 23")
DIGEST_BATCH = env_int("DIGEST_BATCH", 500, minimum=1)
DIGEST_MAX_BATCHES = env_int("DIGEST_MAX_BATCHES", 20, minimum=1)
DIGEST_MAX_ITEMS = env_int("DIGEST_MAX_ITEMS", 50, minimum=1)
# A digest still pending this long after its send event had its event lost (a flushed
# broker): the planner emits a fresh one (the outbox sweep usually got there first).
DIGEST_REEMIT_AFTER_S = env_int("DIGEST_REEMIT_AFTER_S", 3600, minimum=60)
RETENTION_DIGESTS_DAYS = env_float("RETENTION_DIGESTS_DAYS", 90, minimum=1)
# Stale-draft reminders (core/learning/reminders.py): a draft that is still its content's latest
# version this many days after it was written reminds its author once (in-app and in the digest).
STALE_DRAFT_DAYS = env_int("STALE_DRAFT_DAYS", 7, minimum=1)
STALE_DRAFT_BATCH = env_int("STALE_DRAFT_BATCH", 500, minimum=1)
# Streaks (core/learning/streaks.py): lapsed runs reset per statement of the rollover.
STREAK_ROLLOVER_BATCH = env_int("STREAK_ROLLOVER_BATCH", 500, minimum=1)

# Spaced review (core/learning/review.py, adr/0020): learners whose due queue one build
# transaction makes (each batch is its own outbox event), and FSRS's target recall.
REVIEW_QUEUE_BATCH = env_int("REVIEW_QUEUE_BATCH", 500, minimum=1)
REVIEW_DESIRED_RETENTION = env_float("REVIEW_DESIRED_RETENTION", 0.9, minimum=0.5)

# Similarity checks of graded submissions (core/learning/similarity.py, adr/0027): a pair is
# flagged when they share at least this share of the smaller one's fingerprints, and at least
# SIMILARITY_MIN_SHARED of them (tiny programs match by chance). A fingerprint found in more
# than SIMILARITY_COMMON earlier submissions of the problem is boilerplate and not evidence.
SIMILARITY_THRESHOLD = env_float("SIMILARITY_THRESHOLD", 0.45, minimum=0.05)
SIMILARITY_MIN_SHARED = env_int("SIMILARITY_MIN_SHARED", 4, minimum=1)
SIMILARITY_COMMON = env_int("SIMILARITY_COMMON", 100, minimum=1)

# Lesson images (core/learning/media.py, adr/0028): uploads up to IMAGE_MAX_BYTES and
# IMAGE_MAX_PIXELS (decoded only inside the sandbox, docs/sandbox.md), and the widths of the
# low-bandwidth variants the batch task makes of each (WebP and JPEG at each width).
IMAGE_MAX_BYTES = env_int("IMAGE_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
IMAGE_MAX_PIXELS = env_int("IMAGE_MAX_PIXELS", 40_000_000, minimum=10_000)
_widths = env_list("IMAGE_VARIANT_WIDTHS", ["480", "960"])
if not _widths or not all(w.isdigit() and 16 <= int(w) <= 4096 for w in _widths):
    raise ImproperlyConfigured(f"IMAGE_VARIANT_WIDTHS={','.join(_widths)} must be widths in pixels from 16 to 4096, "
                               "separated by commas")
IMAGE_VARIANT_WIDTHS = tuple(sorted({int(w) for w in _widths}))

# Open-content export bundles (core/learning/exports.py, adr/0029): items per bundle, how long an
# export may take before it fails, how long a ready bundle is kept, and the assembly's lease
# (longer than the assembly task's hard time limit: past it, its holder is dead).
EXPORT_MAX_ITEMS = env_int("EXPORT_MAX_ITEMS", 200, minimum=1)
EXPORT_DEADLINE_S = env_int("EXPORT_DEADLINE_S", 3600, minimum=60)
EXPORT_RETENTION_DAYS = env_float("EXPORT_RETENTION_DAYS", 7, minimum=0.01)
EXPORT_ASSEMBLY_LEASE_S = 660

# --- mail: invitations and password resets go out over SMTP from a worker (core/people) ---------

# Links in mail point here (a worker has no request to take the host from).
FERRY_BASE_URL = env_str("FERRY_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
# `make up` runs a local SMTP server process on this port that keeps mail in var/mail/ (a maildir).
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 51025, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Ferry <no-reply@ferry.localhost>")

# --- internationalisation, static files -------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
# Files Ferry makes (exports of the history): the default storage's directory, never served
# as static files (downloads go through views that check the agency and role). Web and workers
# must share it; with an S3-compatible backend in STORAGES["default"] instead, nothing else changes.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / ".var" / "media")))
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- security: strict in production -------------------------------------------------------

# The second factor (core/accounts/mfa.py): the issuer an authenticator app shows, and how many
# single-use recovery codes a person gets at enrolment.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Ferry")
MFA_RECOVERY_CODES = env_int("MFA_RECOVERY_CODES", 10, minimum=1)
# Platform staff (is_staff or is_superuser: the Django admin reaches every agency's data) must
# sign in with a second factor too.
PLATFORM_STAFF_MFA = env_bool("PLATFORM_STAFF_MFA", True)
# Invitation links (core/people/invitations.py) expire after this long.
INVITATION_MAX_AGE_S = env_int("INVITATION_MAX_AGE_S", 7 * 24 * 3600, minimum=60)
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3600, minimum=60)
# At most one reset mail per account per this many seconds, however often it is asked for.
PASSWORD_RESET_MIN_INTERVAL_S = env_int("PASSWORD_RESET_MIN_INTERVAL_S", 300, minimum=1)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
# Sent with every response (core.platform.middleware.content_security_policy): scripts, styles,
# images, fonts and connections (the live stream, fetches) from this site only; no inline script
# or style (templates use static files and classes), no plugins, no framing, forms post here only.
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- logging: structlog, JSON in production ------------------------------------------------

LOG_FORMAT = env_choice("LOG_FORMAT", "json" if PRODUCTION else "console", ("json", "console"))
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING_CONFIG = None
logging_config(LOG_FORMAT, LOG_LEVEL)
