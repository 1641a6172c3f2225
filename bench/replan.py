"""A sick call at 11:00: re-plan the rest of a large day, warm and disruption-priced vs cold.

`python -m bench.replan [--visits 500] [--clinicians 50] [--base-time 60] [--limit 5] [--at 11:00]`

Plans a synthetic home-health day (bench/homehealth.py) for `--base-time` seconds; at `--at`
the clinician with the most visits still ahead calls in sick. The rest of the day
(solver.replan.as_of: started visits pinned, nothing earlier than `--at`) is solved with
`--limit` seconds twice: warm (from the plan being followed, with the disruption cost) and
cold (from nothing). Prints for each: when the first complete plan existed, visits served,
visits given to another clinician, and the mean shift of start times. Exits 1 if the warm
plan misses a target (feasible within the limit; served as many as the cold; moves at most
twice the sick clinician's visits).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from bench.homehealth import DayShape, home_health_day
from solver import Disruption, Problem, Solution, check_solution, solve
from solver.replan import as_of

# A visit handed to another clinician costs as much as 30 minutes of driving; each second a
# visit starts later than planned costs a second of driving.
MOVE_COST = 30 * 60
DELAY_COST = 1


@dataclass(frozen=True)
class Figures:
    label: str
    first_plan_s: float
    served: int
    moved: int
    mean_shift_min: float
    feasible: bool


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    at = _seconds(args.at)
    problem = home_health_day(DayShape(args.visits, args.clinicians), seed=args.seed)
    base = solve(problem, time_limit=args.base_time, workers=args.workers, seed=args.seed)
    followed = {route.vehicle_id: [(s.job_id, s.start) for s in route.stops] for route in base.routes}
    sick = max(base.routes, key=lambda route: sum(1 for stop in route.stops if stop.start >= at))
    orphans = [stop.job_id for stop in sick.stops if stop.start >= at]
    rest = as_of(problem, followed, at, out_from={sick.vehicle_id: at})
    print(f"day: {args.visits} visits, {args.clinicians} clinicians; plan of {args.base_time:g} s serves "
          f"{len(problem.jobs) - len(base.unassigned)}")
    print(f"at {args.at}: {sick.vehicle_id} calls in sick with {len(orphans)} visits ahead; "
          f"{len(rest.pinned)} visits under way or done stay pinned")
    warm = solve(rest.problem, time_limit=args.limit, seed=args.seed, initial=base,
                 disruption=Disruption(move_cost=MOVE_COST, delay_cost=DELAY_COST))
    cold = solve(rest.problem, time_limit=args.limit, seed=args.seed)
    rows = [_figures("warm", rest.problem, base, warm), _figures("cold", rest.problem, base, cold)]
    print(f"\n{'re-plan':<8}{'first plan s':>13}{'served':>8}{'moved':>7}{'mean shift min':>16}  feasible")
    for row in rows:
        print(f"{row.label:<8}{row.first_plan_s:>13.2f}{row.served:>8}{row.moved:>7}{row.mean_shift_min:>16.1f}  "
              f"{'yes' if row.feasible else 'NO'}")
    hot = rows[0]
    met = hot.feasible and hot.served >= rows[1].served and hot.moved <= 2 * len(orphans)
    print(f"\ntarget: feasible in <= {args.limit:g} s, moving <= {2 * len(orphans)} visits "
          f"(2 x the sick clinician's {len(orphans)}): {'met' if met else 'NOT met'}")
    return 0 if met else 1


def _figures(label: str, problem: Problem, base: Solution, plan: Solution) -> Figures:
    before = {stop.job_id: (route.vehicle_id, stop.start) for route in base.routes for stop in route.stops}
    after = {stop.job_id: (route.vehicle_id, stop.start) for route in plan.routes for stop in route.stops}
    both = before.keys() & after.keys()
    moved = sum(1 for job in both if before[job][0] != after[job][0])
    shifts = [abs(after[job][1] - before[job][1]) / 60 for job in both]
    first = plan.stats.improvements[0][0] if plan.stats.improvements else plan.stats.solve_seconds
    return Figures(label, first, len(after), moved, statistics.fmean(shifts) if shifts else 0.0,
                   not check_solution(problem, plan))


def _seconds(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replan", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visits", type=int, default=500)
    parser.add_argument("--clinicians", type=int, default=50)
    parser.add_argument("--base-time", type=float, default=60.0, help="seconds for the morning's plan (60)")
    parser.add_argument("--limit", type=float, default=5.0, help="seconds for each re-plan (5)")
    parser.add_argument("--at", default="11:00", help="when the sick call comes (11:00)")
    parser.add_argument("--workers", type=int, default=2, help="searches for the morning's plan (2)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
