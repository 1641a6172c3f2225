"""What must hold once the load stopped and the heals ran, read from Postgres and the index.

Each check returns the list of what was lost (empty when it holds), one readable line each.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg

from bench.chaos.load import Ledger

FINAL_SUBMISSION = ("passed", "failed", "error", "timed_out")


def rows(db: psycopg.Connection[Any], query: str, *params: Any) -> list[tuple[Any, ...]]:
    return db.execute(query, params).fetchall()


def outbox_settled(db: psycopg.Connection[Any]) -> list[str]:
    """Every event delivered: nothing pending or relayed, nothing dead."""
    lost = [f"outbox event #{i} ({t}) still {s} after recovery"
            for i, t, s in rows(db, "SELECT id, event_type, status FROM outbox_event "
                                    "WHERE status IN ('pending', 'relayed') ORDER BY id LIMIT 50")]
    lost += [f"outbox event #{i} ({t}) dead: {e}"
             for i, t, e in rows(db, "SELECT id, event_type, last_error FROM outbox_event WHERE status = 'dead'")]
    return lost


def search_index_matches_live_versions(db: psycopg.Connection[Any]) -> list[str]:
    """One document per live content, at its live version; none for anything not live."""
    missing = rows(db, """
        SELECT c.id, c.live_version_id, d.version_id FROM learning_content c
        LEFT JOIN learning_searchdocument d ON d.content_id = c.id
        WHERE c.live_version_id IS NOT NULL AND d.version_id IS DISTINCT FROM c.live_version_id""")
    extra = rows(db, """
        SELECT d.content_id, d.version_id FROM learning_searchdocument d
        JOIN learning_content c ON c.id = d.content_id WHERE c.live_version_id IS NULL""")
    return ([f"content {c}: live version {v} indexed as {d}" for c, v, d in missing]
            + [f"content {c}: not live but indexed at version {v}" for c, v in extra])


def submissions_graded(db: psycopg.Connection[Any]) -> list[str]:
    """Every submission graded, or errored with a reason."""
    stuck = rows(db, "SELECT id, status FROM learning_submission WHERE status <> ALL(%s)", list(FINAL_SUBMISSION))
    silent = rows(db, "SELECT id FROM learning_submission WHERE status = 'error' AND error = ''")
    return ([f"submission {i} still {s}" for i, s in stuck]
            + [f"submission {i} errored without a reason" for (i,) in silent])


def jobs_finished(db: psycopg.Connection[Any]) -> list[str]:
    """Every Optimize Day job done (with its plan) or failed with a reason."""
    stuck = rows(db, "SELECT id, status FROM dispatch_optimizejob WHERE status NOT IN ('done', 'failed')")
    silent = rows(db, "SELECT id FROM dispatch_optimizejob WHERE status = 'failed' AND error = ''")
    return ([f"optimize job {i} still {s}" for i, s in stuck]
            + [f"optimize job {i} failed without a reason" for (i,) in silent])


def decisions_notified(db: psycopg.Connection[Any]) -> list[str]:
    """Every review decision told the version's author (as a decision, or as a mention when the
    comment names them), once: the rows are unique per (recipient, source)."""
    missing = rows(db, """
        SELECT r.id, v.author_id FROM learning_review r JOIN learning_version v ON v.id = r.version_id
        WHERE v.author_id <> r.reviewer_id AND NOT EXISTS (
            SELECT 1 FROM learning_notification n
            WHERE n.recipient_id = v.author_id AND n.source = 'review:' || r.id)""")
    return [f"review {r}: its author (user {a}) was never notified" for r, a in missing]


# --- no effect twice ------------------------------------------------------------------------
# Each consumer's effect leaves a trace per cause that nothing in the schema keeps unique: a
# second execution of an effect would show as a second trace. (The inbox, by its primary key,
# is what should make that impossible: these checks test it from the outside.)


def notifications_once(db: psycopg.Connection[Any]) -> list[str]:
    """learning.notify: one notification per (recipient, cause), announced once."""
    doubled = rows(db, """
        SELECT aggregate_id, count(*) FROM outbox_log WHERE event_type = 'notification.created'
        GROUP BY aggregate_id HAVING count(*) > 1""")
    return [f"notification {n} announced {k} times" for n, k in doubled]


def gradings_once(db: psycopg.Connection[Any]) -> list[str]:
    """learning.grade_submission (and heal_pending_gradings' errors): each submission graded once."""
    doubled = rows(db, """
        SELECT aggregate_id, count(*) FROM outbox_log WHERE event_type = 'submission.graded'
        GROUP BY aggregate_id HAVING count(*) > 1""")
    return [f"submission {s} graded {k} times" for s, k in doubled]


def route_plans_once(db: psycopg.Connection[Any]) -> list[str]:
    """dispatch.optimize_day: at most one route plan, announced once, per optimize job."""
    doubled = rows(db, "SELECT job_id, count(*) FROM dispatch_routeplan WHERE job_id IS NOT NULL "
                       "GROUP BY job_id HAVING count(*) > 1")
    announced = rows(db, """
        SELECT payload ->> 'job_id', count(*) FROM outbox_log WHERE event_type = 'schedule.optimized'
        GROUP BY 1 HAVING count(*) > 1""")
    return ([f"optimize job {j} wrote {n} plans" for j, n in doubled]
            + [f"optimize job {j} announced {n} times" for j, n in announced])


def index_writes_once(db: psycopg.Connection[Any]) -> list[str]:
    """learning.index_content: every index event took effect in one execution."""
    doubled = rows(db, """
        SELECT a.event_id, count(*) FROM outbox_attempt a
        WHERE a.outcome = 'succeeded' AND a.event_id IN (
            SELECT event_id FROM outbox_log WHERE task_name = 'learning.index_content')
        GROUP BY a.event_id HAVING count(*) > 1""")
    return [f"index event {e} took effect {n} times" for e, n in doubled]


def heal_repairs_once(db: psycopg.Connection[Any]) -> list[str]:
    """Heal jobs: one repair per target and run, and no two runs of one heal at once."""
    doubled = rows(db, """
        SELECT payload ->> 'heal_run_id', aggregate_id, count(*) FROM outbox_log
        WHERE event_type = 'search.repair_requested' GROUP BY 1, 2 HAVING count(*) > 1""")
    overlapping = rows(db, """
        SELECT a.id, b.id, a.name FROM ops_healrun a JOIN ops_healrun b
          ON a.name = b.name AND a.id < b.id AND NOT a.dry_run AND NOT b.dry_run
         AND a.tenant_id IS NOT DISTINCT FROM b.tenant_id AND a.started_at IS NOT NULL AND b.started_at IS NOT NULL
         AND tstzrange(a.started_at, a.finished_at) && tstzrange(b.started_at, b.finished_at)""")
    return ([f"heal run {r} repaired {t} {n} times" for r, t, n in doubled]
            + [f"heal runs {a} and {b} of {name} ran at once" for a, b, name in overlapping])


def effects_once(db: psycopg.Connection[Any]) -> list[str]:
    """Every consumer: no event took effect in two executions."""
    doubled = rows(db, "SELECT event_id, count(*) FROM outbox_attempt WHERE outcome = 'succeeded' "
                       "GROUP BY event_id HAVING count(*) > 1")
    history = rows(db, "SELECT event_id, count(*) FROM outbox_log GROUP BY event_id HAVING count(*) > 1")
    return ([f"event {e} took effect {n} times" for e, n in doubled]
            + [f"event {e} completed {n} times" for e, n in history])


def effects_checked(db: psycopg.Connection[Any]) -> dict[str, int]:
    """How many causes each duplicate check looked at (a check over nothing proves nothing)."""
    counts = rows(db, """
        SELECT count(*) FILTER (WHERE event_type = 'notification.created'),
               count(*) FILTER (WHERE event_type = 'submission.graded'),
               count(*) FILTER (WHERE event_type = 'schedule.optimized'),
               count(*) FILTER (WHERE task_name = 'learning.index_content'),
               count(*) FILTER (WHERE event_type = 'search.repair_requested'),
               count(*)
        FROM outbox_log""")[0]
    return dict(zip(DUPLICATES, (int(n) for n in counts), strict=True))


def no_effect_of_uncommitted_events(db: psycopg.Connection[Any]) -> list[str]:
    """Every event a consumer processed (its inbox row) is one that committed: nothing of a
    rolled-back transaction ever reached a worker."""
    ghosts = rows(db, """
        SELECT i.event_id, i.task_name FROM outbox_inbox i
        WHERE NOT EXISTS (SELECT 1 FROM outbox_log l WHERE l.event_id = i.event_id)""")
    return [f"{task} processed event {event_id}, which never committed" for event_id, task in ghosts]


def accepted_writes_persisted(db: psycopg.Connection[Any], ledger: Ledger) -> list[str]:
    """The last accepted write to every visit and every content is what Postgres holds now."""
    lost = []
    windows = {i: (s.isoformat(timespec="seconds"), e.isoformat(timespec="seconds"))
               for i, s, e in rows(db, "SELECT id, window_start, window_end FROM dispatch_visit")}
    for visit_id, outcome in ledger.visits.items():
        if outcome.accepted is not None and not outcome.allows(windows.get(visit_id)):
            lost.append(f"visit {visit_id}: window {windows.get(visit_id)}, accepted {outcome.accepted}")
    live = dict(rows(db, "SELECT id, live_version_id FROM learning_content"))
    for content_id, outcome in ledger.live.items():
        if not outcome.allows(live.get(content_id)):
            lost.append(f"content {content_id}: live version {live.get(content_id)}, accepted {outcome.accepted}")
    known = {i for (i,) in rows(db, "SELECT id FROM learning_submission")}
    lost += [f"accepted submission {i} does not exist" for i in sorted(ledger.submissions - known)]
    jobs = {i for (i,) in rows(db, "SELECT id FROM dispatch_optimizejob")}
    lost += [f"accepted optimize job {i} does not exist" for i in sorted(ledger.jobs - jobs)]
    return lost + ledger.violations


def server_errors_outside_windows(ledger: Ledger, windows: list[tuple[float, float]]) -> list[str]:
    """5xx answers to valid requests, except during a declared PostgreSQL restart."""
    return [f"{dt.datetime.fromtimestamp(t, dt.UTC):%H:%M:%S} {m} {p} -> {s}"
            for t, m, p, s in ledger.server_errors if not any(a <= t <= b for a, b in windows)]


# The state derived from the events: right once the system settled.
DERIVED = {
    "search index = live versions": search_index_matches_live_versions,
    "submissions graded or errored with a reason": submissions_graded,
    "optimize jobs done or failed with a reason": jobs_finished,
    "review decisions notified": decisions_notified,
}

CHECKS = {
    "outbox delivered everything": outbox_settled,
    **DERIVED,
    "no effect of anything rolled back": no_effect_of_uncommitted_events,
}

DUPLICATES = {
    "notifications once": notifications_once,
    "gradings once": gradings_once,
    "route plans once": route_plans_once,
    "index writes once": index_writes_once,
    "heal repairs once": heal_repairs_once,
    "every event's effect once": effects_once,
}
