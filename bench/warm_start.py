"""Warm start versus cold start after a dispatcher's small edits.

`python -m bench.warm_start INSTANCE_FILE... [--base-time 10] [--limits 0.25,0.5,1,2,5]`

For each Solomon instance: solve it (the plan the dispatcher has), apply a few edits
(move three time windows, add two visits), then re-solve the edited day cold and warm
(`initial=` the old plan) at each time limit. Prints the distance and the gap to the best
plan seen for both side by side, and the time each needed to come within --target % of
that best plan. Runs one search worker so the comparison is not blurred by parallelism.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.solomon import SCALE, SolomonInstance, read_instance
from solver.matrix import truncated_euclidean_matrix
from solver.model import Job, Problem
from solver.search import solve
from solver.solution import Solution


@dataclass(frozen=True)
class Edits:
    problem: Problem
    description: str


@dataclass(frozen=True)
class Run:
    limit: float
    cold: Solution
    warm: Solution


@dataclass(frozen=True)
class Comparison:
    """One instance's figures: per limit (cold, warm) gap %, and (cold, warm) seconds to target.

    None means not comparable (the plan serves fewer visits than the best) or not reached.
    """

    gaps: list[tuple[float | None, float | None]]
    seconds_to_target: tuple[float | None, float | None]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    limits = [float(x) for x in args.limits.split(",")]
    comparisons = [
        compare(read_instance(path), limits, args.base_time, args.seed, args.target)
        for path in args.instances
    ]
    print(summary(comparisons, limits, args.target))
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.warm_start", description=__doc__)
    parser.add_argument("instances", type=Path, nargs="+", help="Solomon instance files")
    parser.add_argument(
        "--base-time", type=float, default=10.0, help="seconds for the original plan"
    )
    parser.add_argument("--limits", default="0.25,0.5,1,2,5", help="re-solve time limits (seconds)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the edits and the searches")
    parser.add_argument("--target", type=float, default=1.0, help="within this %% of the best plan")
    return parser.parse_args(argv)


def compare(
    instance: SolomonInstance, limits: list[float], base_time: float, seed: int, target: float
) -> Comparison:
    """Solve, edit, re-solve cold and warm at each limit; print and return the figures."""
    base = solve(instance.problem, time_limit=base_time, seed=seed)
    edits = edit_day(instance, base, random.Random(seed))
    runs = [
        Run(
            limit,
            solve(edits.problem, time_limit=limit, seed=seed),
            solve(edits.problem, time_limit=limit, seed=seed, initial=base),
        )
        for limit in limits
    ]
    best = min((s for run in runs for s in (run.cold, run.warm)), key=_rank)
    gaps = [(_gap(run.cold, best), _gap(run.warm, best)) for run in runs]
    longest = runs[-1]
    seconds = (_seconds_to(longest.cold, best, target), _seconds_to(longest.warm, best, target))
    print(
        f"\n{instance.name}: original plan {base.total_travel / SCALE:.1f} in {base_time:g} s; "
        f"edits: {edits.description}"
    )
    print(f"{'limit s':>8}{'cold dist':>16}{'cold gap %':>12}{'warm dist':>16}{'warm gap %':>12}")
    for run, (cold_gap, warm_gap) in zip(runs, gaps, strict=True):
        print(
            f"{run.limit:>8g}{_distance(run.cold):>16}{_percent(cold_gap):>12}"
            f"{_distance(run.warm):>16}{_percent(warm_gap):>12}"
        )
    print(
        f"time to within {target:g} % of the best plan seen ({_distance(best)}): "
        f"cold {_seconds(seconds[0])}, warm {_seconds(seconds[1])}"
    )
    return Comparison(gaps, seconds)


def summary(comparisons: list[Comparison], limits: list[float], target: float) -> str:
    """Mean gaps per limit and how often and how fast each start came within target."""
    lines = [
        f"\nsummary over {len(comparisons)} instance(s): mean gap % to each one's best plan seen",
        f"{'limit s':>8}{'cold gap %':>12}{'warm gap %':>12}",
    ]
    for k, limit in enumerate(limits):
        cold = [c.gaps[k][0] for c in comparisons]
        warm = [c.gaps[k][1] for c in comparisons]
        lines.append(f"{limit:>8g}{_percent(_mean(cold)):>12}{_percent(_mean(warm)):>12}")
    for label, side in (("cold", 0), ("warm", 1)):
        reached = [s for c in comparisons if (s := c.seconds_to_target[side]) is not None]
        median = f", median {statistics.median(reached):.2f} s" if reached else ""
        lines.append(
            f"{label}: within {target:g} % in {len(reached)}/{len(comparisons)} "
            f"instance(s) within {limits[-1]:g} s{median}"
        )
    return "\n".join(lines)


def _mean(values: list[float | None]) -> float | None:
    """The mean, or None if any value is missing (a plan that served fewer visits)."""
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present and len(present) == len(values) else None


def edit_day(instance: SolomonInstance, plan: Solution, rng: random.Random) -> Edits:
    """Move three served visits' windows by up to their width; add two visits near others."""
    problem = instance.problem
    jobs = list(problem.jobs)
    served = sorted(plan.assigned_job_ids, key=str)
    moved = rng.sample(served, 3)
    horizon = max(v.shift_end for v in problem.vehicles)
    for i, job in enumerate(jobs):
        if job.id in moved:
            jobs[i] = _shift_window(job, rng, horizon)
    coordinates = list(instance.coordinates)
    added = []
    for k in range(2):
        twin = rng.choice(problem.jobs)
        x, y = coordinates[twin.location]
        coordinates.append((x + rng.randint(-5, 5), y + rng.randint(-5, 5)))
        new_id = max(int(j.id) for j in problem.jobs) + 1 + k
        added.append(new_id)
        jobs.append(replace(twin, id=new_id, location=len(coordinates) - 1))
    edited = Problem(problem.vehicles, jobs, truncated_euclidean_matrix(coordinates))
    return Edits(edited, f"windows moved for jobs {moved}, jobs {added} added")


def _shift_window(job: Job, rng: random.Random, horizon: int) -> Job:
    width = job.window_end - job.window_start
    shift = rng.randint(-max(width, SCALE * 30), max(width, SCALE * 30))
    start = min(max(0, job.window_start + shift), horizon)
    return replace(job, window_start=start, window_end=min(horizon, start + width))


def _rank(solution: Solution) -> tuple[int, int]:
    """Fewer unserved visits first (an edit may make one unreachable), then less travel."""
    return len(solution.unassigned), solution.total_travel


def _distance(solution: Solution) -> str:
    suffix = f" ({len(solution.unassigned)} out)" if solution.unassigned else ""
    return f"{solution.total_travel / SCALE:.1f}{suffix}"


def _gap(solution: Solution, best: Solution) -> float | None:
    if len(solution.unassigned) > len(best.unassigned):
        return None
    return 100 * (solution.total_travel - best.total_travel) / best.total_travel


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.2f} s"


def _seconds_to(solution: Solution, best: Solution, target: float) -> float | None:
    """When the search first held a plan within target % of best (from stats.improvements).

    Objectives include drop penalties, so "within" means the best objective plus target %
    of its travel: a plan that serves fewer visits never qualifies.
    """
    goal = best.stats.objective + best.total_travel * target / 100
    for seconds, objective in solution.stats.improvements:
        if objective <= goal:
            return seconds
    return None


if __name__ == "__main__":
    sys.exit(main())
