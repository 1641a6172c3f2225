"""A heal run as a long-running consumer (outbox/jobs.py): claim the run, heal outside any
long transaction (the heal commits its repairs in chunks as it goes), record the outcome
with the event's completion."""

from __future__ import annotations

from dataclasses import dataclass

from core.ops.models import BulkAction, HealRun
from core.ops.services import (
    claim_bulk_action,
    claim_heal_run,
    execute_bulk_action,
    execute_heal,
    finish_bulk_action,
    finish_heal_run,
)
from core.platform.heals import HealResult

Outcome = tuple[HealResult | None, str]


@dataclass(frozen=True)
class RunHeal:
    run_id: int
    tenant_id: int | None

    def claim(self, event_id: str | None) -> HealRun | None:
        return claim_heal_run(self.run_id, self.tenant_id, event_id)

    def work(self, run: HealRun) -> Outcome:
        return execute_heal(run)  # a failed heal is an outcome to record, not an exception

    def record(self, run: HealRun, outcome: Outcome) -> str:
        result, error = outcome
        return str(finish_heal_run(run.id, result, error).status)

    def failed(self, run: HealRun, error: BaseException, final: bool) -> None:
        """Nothing to note: the run stays running under its claim; the retry resumes it, and
        the reaper fails it if no delivery ever does."""


@dataclass(frozen=True)
class RunBulkAction:
    """A bulk redrive or discard (core/ops/services.py): its chunks commit as they go, so a
    retry or a redelivery resumes after the last one."""

    job_id: int
    tenant_id: int | None

    def claim(self, event_id: str | None) -> BulkAction | None:
        return claim_bulk_action(self.job_id, self.tenant_id, event_id)

    def work(self, job: BulkAction) -> str:
        return execute_bulk_action(job)

    def record(self, job: BulkAction, error: str) -> str:
        return str(finish_bulk_action(job.id, error).status)

    def failed(self, job: BulkAction, error: BaseException, final: bool) -> None:
        """Nothing to note: the retry resumes it; the reaper fails it if none does."""
