"""Optimize Day as a long-running consumer (outbox/jobs.py): claim the job, solve the day
outside any transaction (it takes seconds), record the plan with the event's completion."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from core.dispatch import optimize, selectors, services
from core.dispatch.optimize import DayPlan
from core.dispatch.services import StartedJob
from outbox.consumers import PermanentFailure
from solver import ProblemError


def readable(exc: BaseException) -> str:
    """A failure as the dispatcher reads it on the job."""
    text = str(exc).strip()
    if isinstance(exc, PermanentFailure) or not text:
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def time_limit(visits: int, *, replan: bool) -> float:
    """Seconds the solver searches a day of `visits`.

    OPTIMIZE_TIME_LIMIT_S for an ordinary day; a large one (over OPTIMIZE_LARGE_DAY_VISITS)
    gets OPTIMIZE_SECONDS_PER_VISIT per visit, up to OPTIMIZE_MAX_TIME_LIMIT_S (a 1,000-visit
    day: 300 s, what routed every visit of bench/homehealth.py's day on one core). A re-plan
    of the rest of the day starts from the plan being followed, so it needs far less: at most
    OPTIMIZE_REPLAN_TIME_LIMIT_S.
    """
    limit = settings.OPTIMIZE_TIME_LIMIT_S
    if visits > settings.OPTIMIZE_LARGE_DAY_VISITS:
        limit = max(limit, min(settings.OPTIMIZE_MAX_TIME_LIMIT_S, visits * settings.OPTIMIZE_SECONDS_PER_VISIT))
    return min(limit, settings.OPTIMIZE_REPLAN_TIME_LIMIT_S) if replan else limit


@dataclass(frozen=True)
class OptimizeDay:
    tenant_id: int
    job_id: int

    def claim(self, event_id: str | None) -> StartedJob | None:
        return services.start_optimize_job(self.tenant_id, self.job_id, event_id)

    def work(self, job: StartedJob) -> DayPlan:
        day = selectors.optimize_inputs(job.tenant_id, job.date)
        as_of = optimize.seconds_of(job.as_of) if job.as_of is not None else None
        try:
            return optimize.solve_day(day, time_limit=time_limit(len(day.visits), replan=as_of is not None),
                                      speed_kmh=settings.TRAVEL_SPEED_KMH, detour_factor=settings.TRAVEL_DETOUR_FACTOR,
                                      previous=selectors.previous_routes(job.tenant_id, job.date), as_of=as_of)
        except ProblemError as exc:
            # Malformed data does not heal by retrying: fail now, dead-letter the event.
            raise PermanentFailure(f"the day cannot be routed: {exc}") from exc

    def record(self, job: StartedJob, plan: DayPlan) -> str:
        services.record_route_plan(job.id, plan)
        return "done"

    def failed(self, job: StartedJob, error: BaseException, final: bool) -> None:
        services.record_optimize_failure(job.id, readable(error), final=final)
