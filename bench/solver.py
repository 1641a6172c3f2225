"""Benchmark on Solomon VRPTW instances: `python -m bench.solver INSTANCE_DIR [options]`.

Solves every instance in the directory with the given time limit, checks each solution
with the independent feasibility checker, and prints one line per instance and the mean
gap to the best-known distances per class and overall. Exits 1 if any instance is not
solved feasibly with every customer served (such an instance gets no gap).

`--baseline` also solves each instance with plain OR-Tools (solver.search.solve_plain:
cheapest arc, then guided local search, same limit) and prints its line below ours.
`--home-health VISITS,CLINICIANS` benchmarks a synthetic home-health day instead
(bench/homehealth.py: skills, windows, shifts, lunch breaks, overtime, preferred
clinicians) and prints served %, travel, the share of visits by a preferred clinician and
overtime, for ours and (with --baseline) plain OR-Tools.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.homehealth import DayShape, home_health_day
from bench.solomon import (
    SCALE,
    BestKnown,
    InstanceFormatError,
    SolomonInstance,
    instance_class,
    read_best_known,
    read_instance,
)
from solver.feasibility import InfeasibleSolutionError, check_solution
from solver.model import Problem
from solver.search import solve, solve_plain
from solver.solution import Solution


@dataclass(frozen=True)
class BenchResult:
    instance: str
    feasible: bool
    vehicles: int
    distance: float
    gap_pct: float | None
    seconds: float
    note: str


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.home_health:
        return home_health(args)
    if args.instance_dir is None:
        print("give an instance directory or --home-health VISITS,CLINICIANS", file=sys.stderr)
        return 2
    instances = find_instances(args.instance_dir, args.only)
    if not instances:
        print(f"no Solomon instances in {args.instance_dir}", file=sys.stderr)
        return 2
    best_known = read_best_known(args.bks) if args.bks else {}
    print(_header())
    results = []
    for instance in instances:
        result = run_instance(instance, best_known, args.time_limit, args.workers, args.seed)
        print(_line(result), flush=True)
        results.append(result)
        if args.baseline:
            plain = run_instance(instance, best_known, args.time_limit, args.workers, args.seed, plain=True)
            print(_line(replace(plain, instance="  plain")), flush=True)
    print(summary(results))
    if args.csv:
        write_csv(args.csv, results)
    return 0 if all(r.feasible for r in results) else 1


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.solver", description=__doc__)
    parser.add_argument("instance_dir", type=Path, nargs="?", help="directory of Solomon instance files")
    parser.add_argument(
        "--bks", type=Path, help="CSV of best-known solutions: instance,vehicles,distance"
    )
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per instance (10)")
    parser.add_argument("--workers", type=int, default=2, help="parallel searches per instance (2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first search (0)")
    parser.add_argument(
        "--csv", type=Path, help="write instance,feasible,vehicles,distance,gap_pct,seconds"
    )
    parser.add_argument("--only", help="comma-separated instance names to run (default: all)")
    parser.add_argument("--baseline", action="store_true", help="also run plain OR-Tools with the same limit")
    parser.add_argument("--home-health", help="VISITS,CLINICIANS: a synthetic home-health day instead")
    return parser.parse_args(argv)


def find_instances(directory: Path, only: str | None = None) -> list[SolomonInstance]:
    """Every file in `directory` that parses as a Solomon instance, sorted by name.

    Other files (except .csv and .md) are reported on stderr and skipped.
    """
    wanted = {name.strip().upper() for name in only.split(",")} if only else None
    instances = []
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        if path.suffix.lower() in {".csv", ".md"}:
            continue
        try:
            instance = read_instance(path)
        except (InstanceFormatError, UnicodeDecodeError, ValueError) as error:
            print(f"skipped {path.name}: {error}", file=sys.stderr)
            continue
        if wanted is None or instance.name.upper() in wanted:
            instances.append(instance)
    return sorted(instances, key=lambda i: i.name)


def run_instance(
    instance: SolomonInstance,
    best_known: dict[str, BestKnown],
    time_limit: float,
    workers: int,
    seed: int,
    plain: bool = False,
) -> BenchResult:
    """Solve, check and score one instance. A gap is given only for a complete, feasible plan."""
    try:
        if plain:
            solution = solve_plain(instance.problem, time_limit=time_limit, seed=seed)
        else:
            solution = solve(instance.problem, time_limit=time_limit, seed=seed, workers=workers)
    except InfeasibleSolutionError as error:
        return BenchResult(instance.name, False, 0, 0.0, None, time_limit, f"infeasible: {error}")
    except Exception as error:  # a crash on one instance must not hide the others' results
        return BenchResult(instance.name, False, 0, 0.0, None, time_limit, f"error: {error!r}")
    violations = check_solution(instance.problem, solution)
    distance = solution.total_travel / SCALE
    complete = not violations and not solution.unassigned
    reference = best_known.get(instance.name.upper())
    gap = 100 * (distance - reference.distance) / reference.distance if reference else None
    note = "" if complete else f"{len(violations)} violations, {len(solution.unassigned)} unserved"
    return BenchResult(
        instance=instance.name,
        feasible=complete,
        vehicles=solution.used_vehicle_count,
        distance=distance,
        gap_pct=gap if complete else None,
        seconds=solution.stats.solve_seconds,
        note=note,
    )


def _header() -> str:
    return f"{'instance':<10}{'vehicles':>9}{'distance':>11}{'gap %':>8}{'seconds':>9}  feasible"


def _line(result: BenchResult) -> str:
    gap = "-" if result.gap_pct is None else f"{result.gap_pct:.2f}"
    feasible = "yes" if result.feasible else f"NO ({result.note})"
    return (
        f"{result.instance:<10}{result.vehicles:>9}{result.distance:>11.1f}{gap:>8}"
        f"{result.seconds:>9.2f}  {feasible}"
    )


def summary(results: list[BenchResult]) -> str:
    """Mean gap per Solomon class and overall, and the feasibility count."""
    by_class: dict[str, list[float]] = {}
    for result in results:
        if result.gap_pct is not None:
            by_class.setdefault(instance_class(result.instance), []).append(result.gap_pct)
    lines = ["", f"{'class':<10}{'instances':>10}{'mean gap %':>12}"]
    for name in sorted(by_class):
        gaps = by_class[name]
        lines.append(f"{name:<10}{len(gaps):>10}{statistics.fmean(gaps):>12.2f}")
    every_gap = [gap for gaps in by_class.values() for gap in gaps]
    if every_gap:
        lines.append(f"{'overall':<10}{len(every_gap):>10}{statistics.fmean(every_gap):>12.2f}")
    feasible = sum(r.feasible for r in results)
    lines.append(
        f"\n{feasible}/{len(results)} instances solved feasibly with every customer served"
    )
    return "\n".join(lines)


def write_csv(path: Path, results: list[BenchResult]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["instance", "feasible", "vehicles", "distance", "gap_pct", "seconds"])
        for r in results:
            gap = "" if r.gap_pct is None else f"{r.gap_pct:.3f}"
            writer.writerow(
                [r.instance, r.feasible, r.vehicles, f"{r.distance:.1f}", gap, f"{r.seconds:.2f}"]
            )


def home_health(args: argparse.Namespace) -> int:
    """Solve one synthetic home-health day (and plain OR-Tools on it with --baseline)."""
    try:
        visits, clinicians = (int(n) for n in args.home_health.split(","))
    except ValueError:
        print("--home-health takes VISITS,CLINICIANS, e.g. 1000,100", file=sys.stderr)
        return 2
    problem = home_health_day(DayShape(visits, clinicians), seed=args.seed)
    print(f"home-health day: {visits} visits, {clinicians} clinicians (seed {args.seed}), "
          f"{args.time_limit:g} s, {args.workers} worker(s)")
    print(f"{'solver':<10}{'served':>8}{'served %':>10}{'travel h':>10}{'preferred %':>13}"
          f"{'overtime min':>14}{'seconds':>9}  feasible")
    runs = [("ferry", solve(problem, time_limit=args.time_limit, seed=args.seed, workers=args.workers))]
    if args.baseline:
        runs.append(("plain", solve_plain(problem, time_limit=args.time_limit, seed=args.seed)))
    for label, solution in runs:
        print(_home_health_line(label, problem, solution), flush=True)
    return 0 if not runs[0][1].unassigned and not check_solution(problem, runs[0][1]) else 1


def _home_health_line(label: str, problem: Problem, solution: Solution) -> str:
    jobs = {job.id: job for job in problem.jobs}
    served = [(stop.job_id, route.vehicle_id) for route in solution.routes for stop in route.stops]
    wanting = [(j, v) for j, v in served if jobs[j].preferred]
    preferred = 100 * sum(1 for j, v in wanting if v in jobs[j].preferred) / max(1, len(wanting))
    overtime = sum(route.overtime for route in solution.routes) / 60
    feasible = "yes" if not check_solution(problem, solution) else "NO"
    return (f"{label:<10}{len(served):>8}{100 * len(served) / len(problem.jobs):>10.1f}"
            f"{solution.total_travel / 3600:>10.1f}{preferred:>13.1f}{overtime:>14.0f}"
            f"{solution.stats.solve_seconds:>9.1f}  {feasible}")


if __name__ == "__main__":
    sys.exit(main())
