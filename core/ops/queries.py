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
