"""Hand-written SQL of the benchmarks: bulk data sets built with INSERT ... SELECT.

Composed only of constants; each statement takes its values as parameters.
"""

from __future__ import annotations

# A tenant's worth of published content, indexed, built in bulk (one statement per table).
# Bodies vary over a few care topics so the documents are not all alike.
BENCH_CONTENT = """
INSERT INTO learning_content (tenant_id, kind, created_by_id, created_at, live_seq, live_changed_at)
SELECT %(tenant_id)s, CASE WHEN g %% 5 = 0 THEN 'problem' ELSE 'lesson' END, %(author_id)s, now(), 1, now()
FROM generate_series(1, %(documents)s) g
"""

BENCH_VERSIONS = """
INSERT INTO learning_version (tenant_id, content_id, number, title, body, body_html, body_text, render_revision,
                              tests, author_id, created_at, status, submitted_at, decided_at, first_published_at)
SELECT c.tenant_id, c.id, 1, 'Bench ' || c.kind || ' ' || c.id, note, '<p>' || note || '</p>', note,
       %(render_revision)s, '', %(author_id)s, now(), 'approved', now(), now(), now()
FROM learning_content c
CROSS JOIN LATERAL (
    SELECT 'Visit note ' || c.id || ': ' || (ARRAY['wound dressing', 'hand hygiene', 'falls at home', 'early sepsis',
                                                   'insulin storage', 'oxygen safety'])[1 + c.id %% 6]
           || ' reviewed with the client; care plan updated and documented.' AS note
) body
WHERE c.tenant_id = %(tenant_id)s
"""

BENCH_PUBLISH = """
UPDATE learning_content c SET live_version_id = v.id
FROM learning_version v WHERE v.content_id = c.id AND c.tenant_id = %(tenant_id)s
"""

BENCH_INDEX = """
INSERT INTO learning_searchdocument (content_id, tenant_id, kind, version_id, version_number, live_seq, title,
                                     body_text, render_revision, indexed_at)
SELECT c.id, c.tenant_id, c.kind, v.id, v.number, c.live_seq, v.title, v.body_text, v.render_revision, now()
FROM learning_content c JOIN learning_version v ON v.id = c.live_version_id
WHERE c.tenant_id = %(tenant_id)s
"""

# Remove `missing` documents spread evenly over the tenant's content (every k-th), as if their
# index events had been lost.
BENCH_LOSE_DOCUMENTS = """
DELETE FROM learning_searchdocument d
USING (
    SELECT id FROM (
        SELECT id, row_number() OVER (ORDER BY id) AS n FROM learning_content WHERE tenant_id = %(tenant_id)s
    ) numbered
    WHERE n %% %(step)s = 0
    ORDER BY id
    LIMIT %(missing)s
) lost
WHERE d.content_id = lost.id
"""

BENCH_REPAIRS_EMITTED = """
SELECT count(*) FROM outbox_event WHERE event_type = 'search.repair_requested' AND payload->>'heal_run_id' = %(run)s
"""
