"""cache_bench: what the published-document cache (core/learning/cache.py) buys a problem page.

In a database of its own (`ferry_cachebench`, created, migrated and dropped), with cache keys
under a prefix of their own (the development cache's keys are never read or written), it
publishes a problem whose body is `--body-kb` kilobytes of Markdown, signs a learner in, and
requests the problem page through Django's whole stack (middleware, view, template) in three
ways, interleaved round by round so that drift in the machine's speed weighs on all alike:

- warm: the document is in the cache (a hit);
- cold: the document's key is deleted before each request (a miss, then the fill);
- no cache: LEARNING_CACHE off (the baseline: the version's row from PostgreSQL each time).

It prints the median and the 95th percentile of each, the baseline beside the others.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache as django_cache
from django.db import connection
from django.test import Client

from bench import scratch
from core.accounts.models import Tenant, User
from core.learning import cache, services
from core.learning.models import Kind
from core.platform.roles import Role

BENCH_DB = "ferry_cachebench"
KEY_PREFIX = "ferry-cachebench"

Report = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    requests: int = 300  # of each kind
    body_kb: int = 16  # a long problem statement (the limit is 20,000 characters)


def run_isolated(options: BenchOptions, keep: bool, report: Report) -> None:
    report(f"cache_bench: building {BENCH_DB} (migrations) …")
    scratch.run_isolated(BENCH_DB, "cache_bench", ["--requests", str(options.requests),
                                                   "--body-kb", str(options.body_kb)], keep)


def _user(username: str, tenant: Tenant, role: Role) -> User:
    user = User.objects.create_user(username=username, tenant=tenant)
    user.groups.set([Group.objects.get(name=role.value)])
    return user


def _problem(tenant: Tenant, body_kb: int) -> tuple[int, int]:
    """A published problem of about `body_kb` KB of Markdown: (content id, version id)."""
    author, reviewer = _user("cb-author", tenant, Role.REVIEWER), _user("cb-reviewer", tenant, Role.REVIEWER)
    paragraph = ("Check the **prescribed dose** against the patient's weight, then the *route*, then "
                 "the time of the last dose; record each check in the visit notes. ")
    sections = [f"## Step {n}\n\n{paragraph * 4}\n\n- weigh\n- compute\n- confirm\n" for n in range(200)]
    body = "".join(sections)[: body_kb * 1024]
    tests = "import solution\n\ndef test_dose():\n    assert solution.dose(70) == 700\n"
    version = services.create_content(author, Kind.PROBLEM, "Total daily dose by weight", body, tests)
    services.submit_for_review(version.id, author)
    services.review_version(version.id, reviewer, "approve")
    services.publish_version(version.id, reviewer)
    return version.content_id, version.id


def _timed(get: Callable[[], object]) -> float:
    started = time.perf_counter()
    get()
    return (time.perf_counter() - started) * 1000


def _figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(ordered):6.2f} ms   p95 {p95:6.2f} ms"


def run_inside(options: BenchOptions, report: Report) -> None:
    if connection.settings_dict["NAME"] != BENCH_DB:
        raise RuntimeError(f"cache_bench --inside runs only in {BENCH_DB}")
    django_cache.key_prefix = KEY_PREFIX  # never the development cache's keys
    logging.getLogger("ferry.http").setLevel(logging.WARNING)  # a line per request would drown the figures
    tenant = Tenant.objects.create(name="Cache bench", slug="cache-bench")
    content_id, version_id = _problem(tenant, options.body_kb)
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(_user("cb-learner", tenant, Role.LEARNER))
    path = f"/learning/problems/{content_id}/"

    def get() -> object:
        response = client.get(path)
        assert response.status_code == 200, response.status_code
        return response

    for _ in range(20):  # warm the process: imports, template loading, prepared statements
        get()
    samples: dict[str, list[float]] = {"warm": [], "cold": [], "none": []}
    try:
        for _ in range(options.requests):
            settings.LEARNING_CACHE = True
            samples["warm"].append(_timed(get))
            cache.evict_not_live(content_id)  # the live one stays: evict it by hand for a cold read
            django_cache.delete(cache.document_key(version_id))
            samples["cold"].append(_timed(get))
            settings.LEARNING_CACHE = False
            samples["none"].append(_timed(get))
    finally:
        settings.LEARNING_CACHE = True
        django_cache.delete(cache.document_key(version_id))
    server = connection.cursor().connection.info.server_version
    report(f"cache_bench on PostgreSQL {server // 10000}.{server % 10000}: problem page "
           f"(~{options.body_kb} KB statement), {options.requests} requests of each kind, interleaved")
    report(f"  no cache (baseline)      {_figures(samples['none'])}")
    report(f"  cold cache (miss, fill)  {_figures(samples['cold'])}")
    report(f"  warm cache (hit)         {_figures(samples['warm'])}")
    report(f"  lookups counted: {dict(cache.STATS)}")
