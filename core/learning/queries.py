"""Every hand-written SQL statement of the learning app, by name (ADR 0010).

Full-text search, the search index's writes, the heals' set-based gap queries and the
grading state moves. Dynamic parts (an optional tenant filter) are composed with
psycopg.sql from the fragments below, never with string formatting of values.
"""

from __future__ import annotations

from psycopg import sql

from outbox.jobs import JobTable

# The text-search configuration; the same one computes learning_searchdocument.document
# (a generated column, migration 0001), so queries and documents stem words alike.
TS_CONFIG = "english"

# --- the search index (written only by tasks: core/learning/indexing.py) -----------------

# The truth about one content, in two statements (ADR 0010). First the content row, locked
# against a concurrent change of its live version: publish/unpublish/rollback update this
# row, so they wait for the indexer (and the indexer for them). Whatever order index events
# arrive in, the last indexer to take the lock reads the latest truth.
#
# The version is read by a second statement on purpose. Under READ COMMITTED, a locking
# read that waited for a concurrent update re-evaluates only the locked row at its new
# version; a joined row comes from the statement's old snapshot. A LEFT JOIN to the version
# in the same statement would then see the new live_version_id next to the old version row,
# fail the join condition and come back null-extended: "nothing live", and the indexer would
# delete the document of a content that was just published. The second statement takes a
# fresh snapshot, which includes the change the lock waited for.
LOCK_CONTENT_FOR_INDEX = """
SELECT c.kind, c.live_seq, c.live_version_id
FROM learning_content c
WHERE c.id = %(content_id)s AND c.tenant_id = %(tenant_id)s
FOR SHARE
"""

# The live version's indexed fields (rendered when the version was written).
LIVE_VERSION_FOR_INDEX = """
SELECT v.number, v.title, v.body_text, v.render_revision
FROM learning_version v
WHERE v.id = %(version_id)s AND v.content_id = %(content_id)s
"""

# Write the document of a live content. Never moves backwards: a row already written for a
# later change of the live version (higher live_seq) is left alone. A row of the same live
# change but an older rendering (render_revision) is rewritten. Returns the row if written.
UPSERT_DOCUMENT = """
INSERT INTO learning_searchdocument AS d
    (content_id, tenant_id, kind, version_id, version_number, live_seq, title, body_text, render_revision,
     indexed_at)
VALUES (%(content_id)s, %(tenant_id)s, %(kind)s, %(version_id)s, %(version_number)s, %(live_seq)s,
        %(title)s, %(body_text)s, %(render_revision)s, now())
ON CONFLICT (content_id) DO UPDATE
SET kind = EXCLUDED.kind, version_id = EXCLUDED.version_id, version_number = EXCLUDED.version_number,
    live_seq = EXCLUDED.live_seq, title = EXCLUDED.title, body_text = EXCLUDED.body_text,
    render_revision = EXCLUDED.render_revision, indexed_at = EXCLUDED.indexed_at
WHERE d.tenant_id = EXCLUDED.tenant_id
  AND d.live_seq <= EXCLUDED.live_seq
  AND (d.live_seq, d.version_id, d.render_revision)
      IS DISTINCT FROM (EXCLUDED.live_seq, EXCLUDED.version_id, EXCLUDED.render_revision)
RETURNING d.version_id
"""

# Remove the document of a content that is not live (or no longer exists) in this tenant,
# unless it was written for a later change than the one the caller saw.
DELETE_DOCUMENT = """
DELETE FROM learning_searchdocument
WHERE content_id = %(content_id)s AND tenant_id = %(tenant_id)s AND live_seq <= %(live_seq)s
RETURNING version_id
"""

# --- search ---------------------------------------------------------------------------------

# Ranked published content of one tenant, with highlighted title and snippet. The join to
# learning_content drops a document whose version is no longer live before its index task
# has run, so search never shows unpublished or rolled-back text. ts_rank_cd's normalisation
# 1 divides by 1 + log(length), so a long lesson does not outrank a short, exact one.
# Highlights are marked with \x02 ... \x03 (removed from indexed text when a version is
# rendered, core/learning/markdown_worker.py: readable_text), so the caller can HTML-escape
# everything else and turn only the markers into <mark>. ts_headline reads only the first
# snippet_chars of a body: its cost grows with the text it parses, for every hit shown.
# The rank is text relevance times (1 + quality_weight x the content's quality score: nightly,
# core/learning/quality.py), `unscored` for content not scored yet: relevance leads, quality
# orders what is about as relevant.
SEARCH = """
WITH q AS (SELECT websearch_to_tsquery('english', %(q)s) AS query)
SELECT hit.content_id, hit.kind, hit.version_id, hit.version_number, hit.title, hit.rank, hit.quality,
       ts_headline('english', hit.title, q.query,
                   'HighlightAll=true, StartSel=' || chr(2) || ', StopSel=' || chr(3)) AS title_marked,
       ts_headline('english', left(hit.body_text, %(snippet_chars)s), q.query,
                   'MaxFragments=2, MaxWords=24, MinWords=8, FragmentDelimiter=" … ", '
                   || 'StartSel=' || chr(2) || ', StopSel=' || chr(3)) AS snippet_marked
FROM (
    SELECT d.content_id, d.kind, d.version_id, d.version_number, d.title, d.body_text,
           ts_rank_cd(d.document, q.query, 1)
               * (1 + %(quality_weight)s * coalesce(quality.score, %(unscored)s)) AS rank,
           coalesce(quality.score, %(unscored)s) AS quality
    FROM learning_searchdocument d
    JOIN learning_content c ON c.id = d.content_id AND c.live_version_id = d.version_id
    LEFT JOIN learning_contentquality quality ON quality.content_id = d.content_id
    CROSS JOIN q
    WHERE d.tenant_id = %(tenant_id)s AND d.document @@ q.query
      AND (%(kind)s::text IS NULL OR d.kind = %(kind)s::text)
    ORDER BY rank DESC, d.content_id
    LIMIT %(limit)s
) hit
CROSS JOIN q
ORDER BY hit.rank DESC, hit.content_id
"""

# --- heal_search_index ------------------------------------------------------------------------

# One statement, one pass over both sides (ADR 0012): every live content with its live version,
# full-joined to every indexed document. A gap is a live content with no document ("missing")
# or with a document of another version or of an older rendering ("stale": its
# render_revision is not the current RENDER_REVISION), or a document with no live content
# ("not_live"). Returns per-tenant counts of what was examined and the list of gaps, as JSON.
# {content_filter} / {document_filter} restrict both sides to one tenant, or are empty.
SEARCH_INDEX_GAPS = sql.SQL("""
WITH live AS (
    SELECT c.id AS content_id, c.tenant_id, c.live_version_id AS version_id
    FROM learning_content c
    WHERE c.live_version_id IS NOT NULL {content_filter}
), indexed AS (
    SELECT d.content_id, d.tenant_id, d.version_id, d.render_revision
    FROM learning_searchdocument d
    WHERE true {document_filter}
), joined AS MATERIALIZED (
    SELECT coalesce(live.content_id, indexed.content_id) AS content_id,
           coalesce(live.tenant_id, indexed.tenant_id) AS tenant_id,
           live.version_id AS live_version_id,
           indexed.version_id AS indexed_version_id,
           CASE WHEN indexed.content_id IS NULL THEN 'missing'
                WHEN live.content_id IS NULL THEN 'not_live'
                WHEN indexed.version_id <> live.version_id
                     OR indexed.render_revision <> %(render_revision)s THEN 'stale'
           END AS gap
    FROM live FULL JOIN indexed ON indexed.content_id = live.content_id
)
SELECT
    (SELECT coalesce(json_object_agg(tenant_id, examined), '{{}}')
     FROM (SELECT tenant_id, count(*) AS examined FROM joined GROUP BY tenant_id) per_tenant),
    (SELECT coalesce(json_agg(json_build_array(content_id, tenant_id, gap, live_version_id, indexed_version_id)
                              ORDER BY content_id), '[]')
     FROM joined WHERE gap IS NOT NULL)
""")
CONTENT_TENANT_FILTER = sql.SQL("AND c.tenant_id = %(tenant_id)s")
DOCUMENT_TENANT_FILTER = sql.SQL("AND d.tenant_id = %(tenant_id)s")

# --- grading ------------------------------------------------------------------------------------

# Submissions are long-running jobs (outbox/jobs.py): a grading delivery claims a queued one, or
# the running one its own event already holds (a redelivery after a worker died, or a retry).
# Counting attempts in the claim makes the attempt number the claim; the claim's lease is the
# grading deadline. heal_pending_gradings (below) is what abandons them.
SUBMISSIONS = JobTable("learning_submission")

# --- heal_pending_gradings ----------------------------------------------------------------------

PENDING_SUBMISSIONS = sql.SQL("""
SELECT tenant_id, count(*) FROM learning_submission s
WHERE status IN ('queued', 'running') {tenant_filter}
GROUP BY tenant_id
""")

# A submission is stuck when it is queued or running past its deadline AND no grading event
# for it is still waiting in the outbox (pending: behind the relay, or in a retry's
# backoff), which the relay will still deliver. A relayed event that did not complete by the
# deadline was lost with Redis (or its worker): the deadline exceeds the task's hard time
# limit, so no grading of it can still be running. The heal re-enqueues it at once rather
# than wait for the outbox's slower, generic redelivery sweep; should both deliver, the
# claim (start_grading) lets one grade and the other finds nothing to do. A completed or
# dead event with the submission unfinished is the heal's case too. Grading events
# (submission.received, submission.regrade_requested) name the submission as their
# aggregate; only the hot table outbox_event holds unfinished events (history holds
# completed ones), so the check reads that small table.
STUCK = sql.SQL("""s.status IN ('queued', 'running') AND s.deadline_at < now()
      AND NOT EXISTS (
          SELECT 1 FROM outbox_event e
          WHERE e.task_name = 'learning.grade_submission' AND e.aggregate_type = 'submission'
            AND e.aggregate_id = s.id::text AND e.status = 'pending')""")

# What a run would do, without doing it (dry run): stuck submissions ({stuck} is STUCK) and
# their fate.
STUCK_SUBMISSIONS = sql.SQL("""
SELECT id, tenant_id, status,
       CASE WHEN enqueues >= %(max_enqueues)s THEN 'error' ELSE 'requeue' END AS action, enqueues
FROM learning_submission s
WHERE {stuck} {tenant_filter}
ORDER BY deadline_at
LIMIT %(limit)s
""")

# Re-enqueue stuck submissions ({stuck} is STUCK), or error them once they were enqueued max_enqueues times; their
# attempts still marked running are lost. One statement: no submission is seen in two states,
# and SKIP LOCKED leaves one that a grader is finishing right now to that grader.
REQUEUE_STUCK = sql.SQL("""
WITH stuck AS (
    SELECT id, status AS was FROM learning_submission s
    WHERE {stuck} {tenant_filter}
    ORDER BY deadline_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE learning_submission s
    SET status = CASE WHEN s.enqueues >= %(max_enqueues)s THEN 'error' ELSE 'queued' END,
        enqueues = s.enqueues + CASE WHEN s.enqueues >= %(max_enqueues)s THEN 0 ELSE 1 END,
        deadline_at = now() + make_interval(secs => %(deadline_s)s),
        claimed_event = NULL,
        finished_at = CASE WHEN s.enqueues >= %(max_enqueues)s THEN now() END,
        error = CASE WHEN s.enqueues >= %(max_enqueues)s
                     THEN format('grading did not finish within %%s s after each of %%s attempts',
                                 %(deadline_s)s, s.enqueues)
                     ELSE s.error END
    FROM stuck WHERE s.id = stuck.id
    RETURNING s.id, s.tenant_id, s.learner_id, s.problem_id, stuck.was, s.status, s.error
), lost AS (
    UPDATE learning_gradingattempt a
    SET status = 'lost', finished_at = now(), error = 'no result before the grading deadline'
    FROM moved WHERE a.submission_id = moved.id AND a.status = 'running'
)
SELECT id, tenant_id, learner_id, problem_id, was, status, error FROM moved ORDER BY id
""")
SUBMISSION_TENANT_FILTER = sql.SQL("AND s.tenant_id = %(tenant_id)s")


def tenant_filter(fragment: sql.SQL, tenant_id: int | None) -> sql.Composable:
    """`fragment` (which reads the %(tenant_id)s parameter), or nothing when the statement
    covers every tenant."""
    return fragment if tenant_id is not None else sql.SQL("")

# --- email digests (core/learning/digests.py, adr/0019-digests.md) --------------------------------

# Who wants a digest now: people with a daily or weekly preference, active, with an address,
# whose local morning of the current period (DIGEST_LOCAL_HOUR of the local day, or of the
# local week's Monday) has come at %(now)s, and who have no digest row for that period yet.
# Local time is PostgreSQL's conversion with the tz database, so DST days are right: 07:00 in
# New York is 12:00 UTC in winter and 11:00 UTC in summer. A zone PostgreSQL does not know
# (Python's tz database is newer) leaves that person out rather than failing everyone.
DUE_DIGESTS = """
WITH people AS (
    SELECT p.user_id, p.tenant_id, p.frequency, z.zone, (%(now)s::timestamptz AT TIME ZONE z.zone) AS local_now
    FROM learning_digestpreference p
    JOIN core_user u ON u.id = p.user_id AND u.tenant_id = p.tenant_id
    JOIN core_tenant t ON t.id = u.tenant_id
    CROSS JOIN LATERAL (SELECT coalesce(nullif(u.time_zone, ''), t.time_zone) AS zone) z
    WHERE p.frequency <> 'none' AND u.is_active AND u.email <> ''
      AND z.zone IN (SELECT name FROM pg_timezone_names)
), periods AS (
    SELECT people.*,
           CASE frequency WHEN 'weekly' THEN to_char(local_now, 'IYYY-"W"IW')
                          ELSE to_char(local_now, 'YYYY-MM-DD') END AS period_key,
           date_trunc(CASE frequency WHEN 'weekly' THEN 'week' ELSE 'day' END, local_now)
               + make_interval(hours => %(hour)s) AS morning
    FROM people
)
SELECT user_id, tenant_id, frequency, period_key, (morning AT TIME ZONE zone) AS due_at
FROM periods
WHERE local_now >= morning
  AND NOT EXISTS (SELECT FROM learning_digest d WHERE d.user_id = periods.user_id AND d.period_key = periods.period_key)
ORDER BY user_id
LIMIT %(batch)s
"""

# One batch of the planner: a pending digest row for each due person (a concurrent planner's
# rows are skipped by the unique (user, period_key)); the caller emits their send events in
# the same transaction. Fewer rows than the batch: nobody else is due.
PLAN_DIGESTS = """
INSERT INTO learning_digest AS d
    (tenant_id, user_id, frequency, period_key, due_at, status, created_at, emitted_at, notifications, error)
SELECT tenant_id, user_id, frequency, period_key, due_at, 'pending', %(now)s, %(now)s, 0, ''
FROM (""" + DUE_DIGESTS + """) due
ON CONFLICT (user_id, period_key) DO NOTHING
RETURNING d.id, d.tenant_id, d.user_id, d.period_key
"""

# The planner's heal: pending digests whose send event was emitted long ago and never ran (a
# flushed broker that the outbox sweep has not yet repaired) get a fresh event.
REEMIT_DIGESTS = """
UPDATE learning_digest d SET emitted_at = %(now)s
WHERE d.id IN (SELECT id FROM learning_digest
               WHERE status = 'pending' AND emitted_at < %(now)s - make_interval(secs => %(after_s)s)
               ORDER BY emitted_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
RETURNING d.id, d.tenant_id, d.user_id, d.period_key
"""

# Claims whose holder is dead (past the send task's hard time limit) end as uncertain: the
# mail may have been accepted, so it is never sent again (adr/0019).
ABANDON_DIGEST_CLAIMS = """
UPDATE learning_digest SET status = 'uncertain', error = %(error)s
WHERE status = 'sending' AND deadline_at < %(now)s
RETURNING id
"""

# Take a pending digest for one delivery, right before it is mailed, and fix its window: from
# the end of the person's last digest that went out (or found nothing unread), else one
# period back, until now. An uncertain digest does not move the window, so what it may not
# have delivered is in the next one. The clock, not the transaction's start (now()): notices
# are stamped by the application as they are written.
CLAIM_DIGEST = """
UPDATE learning_digest d
SET status = 'sending', claimed_event = %(event_id)s, claimed_at = clock_timestamp(),
    deadline_at = clock_timestamp() + make_interval(secs => %(lease_s)s), covered_until = clock_timestamp(),
    covered_from = coalesce(
        (SELECT max(p.covered_until) FROM learning_digest p
         WHERE p.user_id = d.user_id AND p.status IN ('sent', 'empty')),
        clock_timestamp() - CASE d.frequency WHEN 'weekly' THEN interval '7 days' ELSE interval '1 day' END)
WHERE d.id = %(id)s AND d.tenant_id = %(tenant_id)s AND d.status = 'pending'
RETURNING d.user_id, d.covered_from, d.covered_until
"""

# A digest that this same event claimed before (its execution died after the claim) or whose
# claim expired: uncertain, never mailed again. Returns the row if it was settled so.
SETTLE_ABANDONED_DIGEST = """
UPDATE learning_digest SET status = 'uncertain', error = %(error)s
WHERE id = %(id)s AND tenant_id = %(tenant_id)s AND status = 'sending'
  AND (claimed_event = %(event_id)s OR deadline_at < now())
RETURNING id
"""

# --- stale-draft reminders (core/learning/reminders.py) --------------------------------------------

# One batch: a reminder row for each draft that is still its content's latest version, written
# more than %(days)s days before %(now)s by an active author, and not yet reminded at this
# threshold. The unique (version, threshold) makes a second run, or a concurrent one, a no-op.
REMIND_STALE_DRAFTS = """
INSERT INTO learning_draftreminder AS r (tenant_id, version_id, author_id, threshold_days, created_at)
SELECT v.tenant_id, v.id, v.author_id, %(days)s, %(now)s
FROM learning_version v
JOIN core_user u ON u.id = v.author_id AND u.is_active AND u.tenant_id = v.tenant_id
WHERE v.status = 'draft' AND v.created_at < %(now)s - make_interval(days => %(days)s)
  AND NOT EXISTS (SELECT FROM learning_version later WHERE later.content_id = v.content_id AND later.number > v.number)
  AND NOT EXISTS (SELECT FROM learning_draftreminder done
                  WHERE done.version_id = v.id AND done.threshold_days = %(days)s)
ORDER BY v.created_at, v.id
LIMIT %(batch)s
ON CONFLICT (version_id, threshold_days) DO NOTHING
RETURNING r.tenant_id, r.version_id, r.author_id
"""


# --- streaks (core/learning/streaks.py) ------------------------------------------------------------

# A learner's zone, as PostgreSQL resolves it: their own, else their agency's (IANA names: DST
# is PostgreSQL's to apply).
_ZONE = sql.SQL("coalesce(nullif(u.time_zone, ''), t.time_zone, 'UTC')")

# Count the local day of %(at)s. A day right after the run's last extends it; a day right before
# its first extends it backwards (a grade recorded out of order); a later day after a gap starts
# a new run; any other day is already counted (or older than the run) and changes nothing, so no
# row is returned. `current` is computed from the days, so a rollover that zeroed it meanwhile
# does not shorten a run that a late grade continues.
STREAK_RECORD = sql.SQL("""
WITH who AS (
    SELECT (%(at)s::timestamptz AT TIME ZONE {zone})::date AS day, (now() AT TIME ZONE {zone})::date AS today
    FROM core_user u JOIN core_tenant t ON t.id = u.tenant_id WHERE u.id = %(user_id)s
), upserted AS (
    INSERT INTO learning_streak AS s (user_id, tenant_id, run_start_day, last_active_day, current, longest, updated_at)
    SELECT %(user_id)s, %(tenant_id)s, who.day, who.day, 1, 1, now() FROM who
    ON CONFLICT (user_id) DO UPDATE SET
        run_start_day = CASE WHEN excluded.last_active_day > s.last_active_day + 1 THEN excluded.last_active_day
                             WHEN excluded.last_active_day = s.run_start_day - 1 THEN excluded.last_active_day
                             ELSE s.run_start_day END,
        last_active_day = greatest(s.last_active_day, excluded.last_active_day),
        current = CASE WHEN excluded.last_active_day > s.last_active_day + 1 THEN 1
                       ELSE greatest(s.last_active_day, excluded.last_active_day)
                            - least(s.run_start_day, excluded.last_active_day) + 1 END,
        longest = greatest(s.longest, CASE WHEN excluded.last_active_day > s.last_active_day + 1 THEN 1
                                           ELSE greatest(s.last_active_day, excluded.last_active_day)
                                                - least(s.run_start_day, excluded.last_active_day) + 1 END),
        updated_at = now()
    WHERE excluded.last_active_day > s.last_active_day OR excluded.last_active_day = s.run_start_day - 1
    RETURNING s.current, s.longest, s.last_active_day
)
SELECT upserted.current, upserted.longest, upserted.last_active_day, who.today FROM upserted, who
""").format(zone=_ZONE).as_string()

# The streak as of now in the learner's zone: a run whose last day is before yesterday reads 0.
STREAK_OF = sql.SQL("""
SELECT CASE WHEN s.last_active_day >= z.today - 1 THEN s.current ELSE 0 END, coalesce(s.longest, 0),
       s.last_active_day, z.today
FROM (SELECT (now() AT TIME ZONE {zone})::date AS today
      FROM core_user u JOIN core_tenant t ON t.id = u.tenant_id WHERE u.id = %(user_id)s) z
LEFT JOIN learning_streak s ON s.user_id = %(user_id)s
""").format(zone=_ZONE).as_string()

# One batch of the rollover: streaks still counted whose last day is before yesterday in their
# learner's zone at this moment go to 0. Rows locked by an activity being recorded are skipped
# (the next run sees them).
STREAK_ROLL_OVER = sql.SQL("""
WITH lapsed AS (
    SELECT s.user_id FROM learning_streak s
    JOIN core_user u ON u.id = s.user_id JOIN core_tenant t ON t.id = u.tenant_id
    WHERE s.current > 0 AND s.last_active_day < (now() AT TIME ZONE {zone})::date - 1
    ORDER BY s.user_id LIMIT %(batch)s FOR UPDATE OF s SKIP LOCKED
)
UPDATE learning_streak s SET current = 0, updated_at = now() FROM lapsed WHERE s.user_id = lapsed.user_id
RETURNING s.tenant_id, s.user_id, s.longest
""").format(zone=_ZONE).as_string()


# --- reputation (core/learning/reputation.py) ----------------------------------------------------

# Award once: the award row (unique per person and key) and the person's total move together;
# nothing is returned when the award was there already (a replayed event).
REPUTATION_AWARD = """
WITH awarded AS (
    INSERT INTO learning_reputationaward (tenant_id, user_id, key, points, created_at)
    VALUES (%(tenant_id)s, %(user_id)s, %(key)s, %(points)s, now())
    ON CONFLICT (user_id, key) DO NOTHING
    RETURNING tenant_id, user_id, points
)
INSERT INTO learning_reputation AS r (user_id, tenant_id, points, updated_at)
SELECT user_id, tenant_id, points, now() FROM awarded
ON CONFLICT (user_id) DO UPDATE SET points = r.points + excluded.points, updated_at = now()
RETURNING r.points
"""

# What everyone should have earned, from the truth (of one agency and one person when given):
# a first passed submission per problem, each approved version one wrote, and each approved
# version of someone else one replied about.
_REPUTATION_TRUTH = sql.SQL("""
WITH truth AS (
    SELECT DISTINCT s.tenant_id, s.learner_id AS user_id, 'solution:' || s.problem_id AS key,
           %(solution_points)s::integer AS points
    FROM learning_submission s
    WHERE s.status = 'passed' AND (%(tenant_id)s::bigint IS NULL OR s.tenant_id = %(tenant_id)s)
      AND (%(user_id)s::bigint IS NULL OR s.learner_id = %(user_id)s)
    UNION
    SELECT v.tenant_id, v.author_id, 'approval:' || v.id, %(approval_points)s::integer
    FROM learning_version v
    WHERE v.status = 'approved' AND (%(tenant_id)s::bigint IS NULL OR v.tenant_id = %(tenant_id)s)
      AND (%(user_id)s::bigint IS NULL OR v.author_id = %(user_id)s)
    UNION
    SELECT DISTINCT v.tenant_id, rp.author_id, 'reply:' || v.id, %(reply_points)s::integer
    FROM learning_reply rp JOIN learning_review rv ON rv.id = rp.review_id
    JOIN learning_version v ON v.id = rv.version_id
    WHERE v.status = 'approved' AND rp.author_id <> v.author_id
      AND (%(tenant_id)s::bigint IS NULL OR v.tenant_id = %(tenant_id)s)
      AND (%(user_id)s::bigint IS NULL OR rp.author_id = %(user_id)s)
), have AS (
    SELECT tenant_id, user_id, key, points FROM learning_reputationaward
    WHERE (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
      AND (%(user_id)s::bigint IS NULL OR user_id = %(user_id)s)
)""")


def _after_truth(statement: str) -> str:
    """`statement`, which reads the CTEs truth and have."""
    return sql.Composed([_REPUTATION_TRUTH, sql.SQL(statement)]).as_string()

# The people whose awards differ from the truth, or whose total is not the sum of their awards.
REPUTATION_DRIFT = _after_truth("""
SELECT DISTINCT tenant_id, user_id FROM (
    (SELECT tenant_id, user_id FROM (SELECT * FROM truth EXCEPT SELECT * FROM have) missing)
    UNION ALL
    (SELECT tenant_id, user_id FROM (SELECT * FROM have EXCEPT SELECT * FROM truth) spurious)
    UNION ALL
    (SELECT r.tenant_id, r.user_id FROM learning_reputation r
     LEFT JOIN (SELECT user_id, sum(points) AS total FROM have GROUP BY user_id) h USING (user_id)
     WHERE r.points <> coalesce(h.total, 0) AND (%(tenant_id)s::bigint IS NULL OR r.tenant_id = %(tenant_id)s)
       AND (%(user_id)s::bigint IS NULL OR r.user_id = %(user_id)s))
) drift
ORDER BY tenant_id, user_id
LIMIT %(limit)s
""")

REPUTATION_EXAMINED = """
SELECT tenant_id, count(*) FROM learning_reputation
WHERE (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s) GROUP BY tenant_id
"""

# A person's awards made equal to the truth (run in one transaction: the three statements).
REPUTATION_DROP_SPURIOUS = _after_truth("""
DELETE FROM learning_reputationaward a USING (SELECT * FROM have EXCEPT SELECT * FROM truth) spurious
WHERE a.user_id = spurious.user_id AND a.key = spurious.key
""")
REPUTATION_ADD_MISSING = _after_truth("""
INSERT INTO learning_reputationaward (tenant_id, user_id, key, points, created_at)
SELECT tenant_id, user_id, key, points, now() FROM (SELECT * FROM truth EXCEPT SELECT * FROM have) missing
ON CONFLICT (user_id, key) DO UPDATE SET points = excluded.points
""")
REPUTATION_SET_TOTAL = """
INSERT INTO learning_reputation AS r (user_id, tenant_id, points, updated_at)
VALUES (%(user_id)s, %(tenant_id)s,
        (SELECT coalesce(sum(points), 0) FROM learning_reputationaward WHERE user_id = %(user_id)s), now())
ON CONFLICT (user_id) DO UPDATE SET points = excluded.points, updated_at = now()
RETURNING (SELECT points FROM learning_reputation WHERE user_id = %(user_id)s), r.points
"""


# --- spaced review (core/learning/review.py, adr/0020-spaced-review.md) ------------------------------

# Learners whose local day has begun at %(now)s and whose due queue for that day is not built
# yet: active, with at least one card, in a zone PostgreSQL knows (an unknown one leaves that
# learner out rather than failing the batch). The local date is PostgreSQL's conversion of the
# instant, so a DST change day is one day like any other. {learner_filter} narrows to one
# agency or one learner. Catch-up needs nothing more: after any downtime a learner's current
# local day is simply not built yet.
_UNBUILT_REVIEW_DAYS = sql.SQL("""
SELECT u.id AS learner_id, u.tenant_id, z.zone, (%(now)s::timestamptz AT TIME ZONE z.zone)::date AS day
FROM core_user u
JOIN core_tenant t ON t.id = u.tenant_id
CROSS JOIN LATERAL (SELECT {zone} AS zone) z
WHERE u.is_active {learner_filter}
  AND z.zone IN (SELECT name FROM pg_timezone_names)
  AND EXISTS (SELECT FROM learning_reviewcard c WHERE c.learner_id = u.id)
  AND NOT EXISTS (SELECT FROM learning_reviewday d
                  WHERE d.learner_id = u.id AND d.day = (%(now)s::timestamptz AT TIME ZONE z.zone)::date)
ORDER BY u.id
LIMIT %(batch)s
""")
REVIEW_AGENCY_FILTER = sql.SQL("AND u.tenant_id = %(tenant_id)s")
REVIEW_LEARNER_FILTER = sql.SQL("AND u.id = %(learner_id)s")

# The planner: agencies with at least one learner whose queue for today is unbuilt.
REVIEW_AGENCIES_DUE = sql.SQL("SELECT DISTINCT tenant_id FROM ({unbuilt}) unbuilt ORDER BY tenant_id").format(
    unbuilt=_UNBUILT_REVIEW_DAYS.format(zone=_ZONE, learner_filter=sql.SQL(""))).as_string()

# Build the queues of one batch of those learners: a ReviewDay per learner (the unique
# (learner, day) makes a concurrent or repeated build a no-op) with an entry for each of their
# cards due before the day's end (the next local midnight: 23 or 25 hours on a DST change day)
# whose version is still its lesson's live one. `items` counts the same cards from the same
# snapshot as the entries (a statement cannot update the rows it inserts).
BUILD_REVIEW_QUEUES = sql.SQL("""
WITH unbuilt AS ({unbuilt}),
bounds AS (
    SELECT unbuilt.*, (day::timestamp AT TIME ZONE zone) AS starts_at,
           ((day + 1)::timestamp AT TIME ZONE zone) AS ends_at
    FROM unbuilt
), days AS (
    INSERT INTO learning_reviewday AS d (tenant_id, learner_id, day, zone, starts_at, ends_at, built_at, items)
    SELECT b.tenant_id, b.learner_id, b.day, b.zone, b.starts_at, b.ends_at, %(now)s,
           (SELECT count(*) FROM learning_reviewcard c
            JOIN learning_content ct ON ct.id = c.content_id AND ct.live_version_id = c.version_id
            WHERE c.learner_id = b.learner_id AND c.due_at < b.ends_at)
    FROM bounds b
    ON CONFLICT (learner_id, day) DO NOTHING
    RETURNING d.id, d.tenant_id, d.learner_id, d.day, d.ends_at, d.items
), entries AS (
    INSERT INTO learning_reviewentry (tenant_id, day_id, card_id)
    SELECT days.tenant_id, days.id, c.id
    FROM days
    JOIN learning_reviewcard c ON c.learner_id = days.learner_id AND c.due_at < days.ends_at
    JOIN learning_content ct ON ct.id = c.content_id AND ct.live_version_id = c.version_id
)
SELECT tenant_id, learner_id, day, items FROM days ORDER BY learner_id
""")


def build_review_queues(learner_filter: sql.SQL) -> sql.Composed:
    """BUILD_REVIEW_QUEUES for the learners `learner_filter` selects (an agency or one learner)."""
    return BUILD_REVIEW_QUEUES.format(unbuilt=_UNBUILT_REVIEW_DAYS.format(zone=_ZONE, learner_filter=learner_filter))


# A learner's current queue: their latest built day (today's once built; until then, between
# their midnight and the builder's run, the day before's).
_CURRENT_REVIEW_DAY = """(SELECT id FROM learning_reviewday WHERE learner_id = %(learner_id)s
                          ORDER BY day DESC LIMIT 1)"""

REVIEW_DUE_COUNT = """
SELECT count(*) FROM learning_reviewentry e
WHERE e.answered_at IS NULL AND e.day_id = """ + _CURRENT_REVIEW_DAY

# The next unanswered item of the current queue: the longest overdue first.
REVIEW_NEXT_DUE = """
SELECT c.id, c.content_id, c.version_id, c.item, v.title, v.review_items -> c.item
FROM learning_reviewentry e
JOIN learning_reviewcard c ON c.id = e.card_id
JOIN learning_version v ON v.id = c.version_id
WHERE e.answered_at IS NULL AND e.day_id = """ + _CURRENT_REVIEW_DAY + """
ORDER BY c.due_at, c.id
LIMIT 1
"""

# Take a card's open entry in the current queue for one answer (its row lock and the
# answered_at condition make a double submit answer once). No row: the card is not due.
REVIEW_TAKE_ENTRY = """
UPDATE learning_reviewentry e SET answered_at = %(now)s
WHERE e.card_id = %(card_id)s AND e.answered_at IS NULL AND e.day_id = """ + _CURRENT_REVIEW_DAY + """
RETURNING e.id
"""

# Finishing a lesson version: the completion and a card per item, due at once; nothing if the
# learner finished this version before. Returns the new cards' ids.
FINISH_LESSON = """
WITH done AS (
    INSERT INTO learning_lessoncompletion (tenant_id, learner_id, content_id, version_id, finished_at)
    VALUES (%(tenant_id)s, %(learner_id)s, %(content_id)s, %(version_id)s, %(now)s)
    ON CONFLICT (learner_id, version_id) DO NOTHING
    RETURNING id
), cards AS (
    INSERT INTO learning_reviewcard
        (tenant_id, learner_id, content_id, version_id, item, state, step, due_at, reviews, lapses, created_at)
    SELECT %(tenant_id)s, %(learner_id)s, %(content_id)s, %(version_id)s, n, %(state)s, 0, %(now)s, 0, 0, %(now)s
    FROM done CROSS JOIN generate_series(0, %(items)s - 1) n
    ON CONFLICT (learner_id, version_id, item) DO NOTHING
    RETURNING id
)
SELECT (SELECT count(*) FROM done), coalesce((SELECT array_agg(id ORDER BY id) FROM cards), '{}')
"""

# New cards join the learner's current queue at once (it may have been built before they existed).
# A learner with no queue at all (a zone PostgreSQL does not know) gets no entries, not an error.
REVIEW_ADD_TO_QUEUE = """
INSERT INTO learning_reviewentry (tenant_id, day_id, card_id)
SELECT c.tenant_id, current_day.id, c.id
FROM learning_reviewcard c
CROSS JOIN """ + _CURRENT_REVIEW_DAY + """ current_day
WHERE c.id = ANY(%(card_ids)s) AND c.learner_id = %(learner_id)s
ON CONFLICT (day_id, card_id) DO NOTHING
"""


# --- similarity checks (core/learning/similarity.py, adr/0027) ------------------------------------

# Earlier submissions of other learners to the same problem that share fingerprints with this
# one, most shared first. Each fingerprint's postings are read up to SIMILARITY_COMMON + 1 rows
# (the LATERAL ... LIMIT): one found more often than that is boilerplate (the
# problem's starter code, an idiom everyone writes) and is dropped, so a check reads at most
# fingerprints x (common + 1) index entries however many submissions the problem has.
# `telling` counts this submission's fingerprints that are not boilerplate (found nowhere else,
# or in few enough others): the share a pair has in common is taken of those.
SIMILAR_SUBMISSIONS = """
WITH mine AS (SELECT DISTINCT unnest(%(hashes)s::bigint[]) AS hash),
postings AS (
    SELECT m.hash, p.submission_id, p.learner_id
    FROM mine m
    CROSS JOIN LATERAL (
        SELECT f.submission_id, f.learner_id
        FROM learning_submissionfingerprint f
        WHERE f.problem_id = %(problem_id)s AND f.hash = m.hash AND f.tenant_id = %(tenant_id)s
          AND f.submission_id <> %(submission_id)s
        LIMIT %(common)s + 1
    ) p
),
telling AS (
    SELECT hash FROM postings GROUP BY hash HAVING count(*) <= %(common)s
)
SELECT p.submission_id, array_agg(DISTINCT p.hash) AS shared, c.fingerprints,
       (SELECT count(*) FROM telling) + (SELECT count(*) FROM mine WHERE hash NOT IN (SELECT hash FROM postings))
           AS telling
FROM postings p
JOIN telling t USING (hash)
JOIN learning_similaritycheck c ON c.submission_id = p.submission_id
WHERE p.learner_id <> %(learner_id)s
GROUP BY p.submission_id, c.fingerprints
HAVING count(DISTINCT p.hash) >= %(min_shared)s
ORDER BY count(DISTINCT p.hash) DESC, p.submission_id
LIMIT %(limit)s
"""


# --- export bundles (core/learning/exports.py, adr/0029) ------------------------------------------

EXPORTS = JobTable("learning_exportbundle")

# An item's task finished its item (the item row moved to done in the same transaction): count
# it, and when it is the last one, move the bundle to `queued` for assembly. The row lock
# serialises the items' transactions, so exactly one of them sees the count reach the total.
COUNT_EXPORT_ITEM = """
UPDATE learning_exportbundle
SET items_done = items_done + 1,
    status = CASE WHEN items_done + 1 = items_total THEN 'queued' ELSE status END
WHERE id = %(bundle_id)s AND tenant_id = %(tenant_id)s AND status = 'building'
RETURNING items_done, items_total, status
"""

# Unfinished bundles past their deadline fail (whatever was lost, it is not coming back).
FAIL_OVERDUE_EXPORTS = """
UPDATE learning_exportbundle
SET status = 'failed', finished_at = now(), claimed_event = NULL, error = %(error)s
WHERE status IN ('building', 'queued', 'running') AND deadline_at < now()
RETURNING id, tenant_id, requested_by_id
"""


# --- the nightly search quality score (core/learning/quality.py) --------------------------------

# Agencies with published content: one scoring event each.
AGENCIES_WITH_LIVE_CONTENT = """
SELECT DISTINCT tenant_id FROM learning_content WHERE live_version_id IS NOT NULL ORDER BY tenant_id
"""

# Every published content of one agency, scored from the last %(window_days)s days of its use,
# in one statement (an upsert: a second run the same night writes the same rows again):
#   engagement  learners who finished the lesson / submitted to the problem, n / (n + 10)
#   success     the lesson's review answers right / the problem's graded submissions passed,
#               smoothed ((k + 1) / (n + 2)) so one answer decides nothing
#   review      approvals among the reviewers' decisions on its versions, smoothed alike
#   freshness   halves every %(half_life_days)s days since its live version last changed
# score = 0.35 engagement + 0.25 success + 0.2 review + 0.2 freshness, from 0 to 1.
SCORE_CONTENT_QUALITY = """
WITH live AS (
    SELECT c.id, c.tenant_id, c.kind, c.live_changed_at
    FROM learning_content c
    WHERE c.tenant_id = %(tenant_id)s AND c.live_version_id IS NOT NULL
), since AS (SELECT now() - make_interval(days => %(window_days)s) AS t),
completions AS (
    SELECT content_id, count(DISTINCT learner_id) AS learners
    FROM learning_lessoncompletion, since
    WHERE tenant_id = %(tenant_id)s AND finished_at > since.t GROUP BY content_id
), submissions AS (
    SELECT problem_id AS content_id, count(DISTINCT learner_id) AS learners,
           count(*) FILTER (WHERE status IN ('passed', 'failed')) AS graded,
           count(*) FILTER (WHERE status = 'passed') AS passed
    FROM learning_submission, since
    WHERE tenant_id = %(tenant_id)s AND created_at > since.t GROUP BY problem_id
), answers AS (
    SELECT c.content_id, count(*) AS answered, count(*) FILTER (WHERE a.correct) AS correct
    FROM learning_reviewanswer a JOIN learning_reviewcard c ON c.id = a.card_id, since
    WHERE a.tenant_id = %(tenant_id)s AND a.answered_at > since.t GROUP BY c.content_id
), decisions AS (
    SELECT v.content_id, count(*) AS decided, count(*) FILTER (WHERE r.decision = 'approve') AS approved
    FROM learning_review r JOIN learning_version v ON v.id = r.version_id
    WHERE r.tenant_id = %(tenant_id)s GROUP BY v.content_id
), signals AS (
    SELECT live.id, live.tenant_id,
           CASE WHEN live.kind = 'lesson' THEN coalesce(completions.learners, 0)
                ELSE coalesce(submissions.learners, 0) END AS learners,
           CASE WHEN live.kind = 'lesson'
                THEN (coalesce(answers.correct, 0) + 1.0) / (coalesce(answers.answered, 0) + 2)
                ELSE (coalesce(submissions.passed, 0) + 1.0) / (coalesce(submissions.graded, 0) + 2) END AS success,
           (coalesce(decisions.approved, 0) + 1.0) / (coalesce(decisions.decided, 0) + 2) AS review,
           power(0.5, extract(epoch FROM now() - coalesce(live.live_changed_at, now())) / 86400.0
                      / %(half_life_days)s) AS freshness
    FROM live
    LEFT JOIN completions ON completions.content_id = live.id
    LEFT JOIN submissions ON submissions.content_id = live.id
    LEFT JOIN answers ON answers.content_id = live.id
    LEFT JOIN decisions ON decisions.content_id = live.id
)
INSERT INTO learning_contentquality AS q (content_id, tenant_id, score, signals, computed_at)
SELECT id, tenant_id,
       round((0.35 * learners / (learners + 10.0) + 0.25 * success + 0.2 * review + 0.2 * freshness)::numeric, 4),
       jsonb_build_object('learners', learners, 'engagement', round(learners / (learners + 10.0), 4),
                          'success', round(success, 4), 'review', round(review, 4),
                          'freshness', round(freshness::numeric, 4)),
       now()
FROM signals
ON CONFLICT (content_id) DO UPDATE
SET score = EXCLUDED.score, signals = EXCLUDED.signals, computed_at = EXCLUDED.computed_at
WHERE q.tenant_id = EXCLUDED.tenant_id
RETURNING content_id
"""
