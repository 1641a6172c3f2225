"""Hand-written SQL of the ops app: the reaper of abandoned heal runs.

The heals' own statements live with the domain they heal (core/learning/queries.py).
"""

from __future__ import annotations

# Runs left `running` by a process that died (a worker killed at the task's hard time limit,
# a command interrupted) would stay running forever: past their limit they are failed, with
# the reason. A task's limit is its hard time limit plus a grace; a command has no time limit,
# so its runs get a longer one. Conditional on the status, so a run that finishes meanwhile
# keeps its outcome.
REAP_ABANDONED_RUNS = """
UPDATE ops_healrun
SET status = 'failed', finished_at = now(), errors = errors + 1, claimed_event = NULL,
    error = format('no outcome within %%s s of starting: the process running it was lost',
                   CASE WHEN trigger = 'command' THEN %(command_limit_s)s ELSE %(task_limit_s)s END)
WHERE status = 'running'
  AND started_at < now() - make_interval(
      secs => CASE WHEN trigger = 'command' THEN %(command_limit_s)s ELSE %(task_limit_s)s END)
RETURNING id
"""
