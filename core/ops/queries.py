"""Hand-written SQL of the ops app: the lifecycle of heal runs.

The heals' own statements live with the domain they heal (core/learning/queries.py).
"""

from __future__ import annotations

from outbox.jobs import JobTable

# Heal runs are long-running jobs (outbox/jobs.py). A run left `running` past its deadline by
# a process that died (a worker killed at the task's hard time limit, a command interrupted)
# would stay running forever: it is failed, with the reason, and counted as an error.
HEAL_RUNS = JobTable("ops_healrun", on_abandon="errors = errors + 1")

REAP_ABANDONED_RUNS = HEAL_RUNS.abandon_statement()

# The latest finished platform-wide run (every tenant: beat's, a command's, platform staff's)
# of each heal, and not a dry run: the repairs it emitted and when it finished. Read by the
# relay every few seconds for the metrics (core/ops/apps.py); a few thousand rows at most
# (retention), so a scan is cheap. A tenant's own runs are left out: each covers one tenant,
# and a clean one would hide what the last run over all tenants found.
LAST_PLATFORM_RUNS = """
SELECT DISTINCT ON (name) name, {column}
FROM ops_healrun
WHERE finished_at IS NOT NULL AND NOT dry_run AND tenant_id IS NULL
ORDER BY name, finished_at DESC, id DESC
"""
HEAL_LAST_RUN_REPAIRS = LAST_PLATFORM_RUNS.format(column="repaired")
HEAL_LAST_RUN_FINISHED = LAST_PLATFORM_RUNS.format(column="extract(epoch FROM finished_at)")

# Bulk actions on dead letters (core/ops/services.py) are long-running jobs too. One lost with
# its worker keeps what its chunks committed; the reaper fails it with the reason, and the
# operator may request the rest again (a new count, of the letters still open).
BULK_ACTIONS = JobTable("ops_bulkaction")

REAP_ABANDONED_BULK_ACTIONS = BULK_ACTIONS.abandon_statement()
