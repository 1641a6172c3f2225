"""Test settings: the project's own servers, with Redis databases of their own.

Tests use Redis DBs 10-12 (pytest-xdist's workers: three each from 10) so that `make test`
never flushes the broker, cache or pub/sub data of a `make up` running beside it;
pytest-django creates test_<name> in PostgreSQL for the same reason. Real processes started
by end-to-end tests get these URLs through their environment.
"""

from __future__ import annotations

import os
import tempfile

_redis = f"redis://127.0.0.1:{os.environ.get('FERRY_REDIS_PORT', '56379')}"
# Two test runs at once (two developers' helpers on one machine) each set
# FERRY_TEST_REDIS_BASE and FERRY_TEST_DB so they never flush each other's data. Under
# pytest-xdist, worker gwN takes the three Redis databases from base + 3N, and pytest-django
# gives it a PostgreSQL database of its own (test_ferry_gw0, ...).
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker != os.environ.get("FERRY_TEST_WORKER", ""):
    # A worker inherits the environment of the pytest process that started it, this module's
    # defaults below included: its first import drops them and takes its own. (Processes the
    # worker starts inherit FERRY_TEST_WORKER, so they keep what they were given.)
    os.environ["FERRY_TEST_WORKER"] = _worker
    for _name in ("REDIS_BROKER_URL", "REDIS_CACHE_URL", "REDIS_PUBSUB_URL", "MEDIA_ROOT"):
        os.environ.pop(_name, None)
_base = int(os.environ.get("FERRY_TEST_REDIS_BASE", "10")) + (3 * int(_worker[2:]) if _worker[2:].isdigit() else 0)
REDIS_TEST_BASE = _base  # this process's first Redis database (the broker's)
os.environ.setdefault("REDIS_BROKER_URL", f"{_redis}/{_base}")
os.environ.setdefault("REDIS_CACHE_URL", f"{_redis}/{_base + 1}")
os.environ.setdefault("REDIS_PUBSUB_URL", f"{_redis}/{_base + 2}")
os.environ.setdefault("LOG_FORMAT", "console")
# Files the tests make (exports of the history) go to a directory of the run's own, never to
# the checkout's .var/media; processes started by end-to-end tests inherit it.
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="ferry-test-media-"))

from core.config.settings import *  # noqa: E402, F403

DATABASES["default"]["TEST"] = {"NAME": os.environ.get("FERRY_TEST_DB", "test_ferry")}  # noqa: F405

INSTALLED_APPS = [*INSTALLED_APPS, "tests.support"]  # noqa: F405

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
