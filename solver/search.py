"""`solve()`: screen the jobs, run one or more OR-Tools searches, return a checked Solution.

The search is OR-Tools' iterated local search (ruin and recreate with SISR, a lean local
search after each perturbation, simulated-annealing acceptance). ADR 0005 records why,
and what else was measured on the Solomon benchmark.
"""

from __future__ import annotations

import heapq
import multiprocessing
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection

from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.constraint_solver import routing_heuristic_parameters_pb2 as heuristic_parameters
from ortools.util import optional_boolean_pb2

from solver import decompose
from solver.decompose import Part, construct_by_parts, improve_by_parts
from solver.feasibility import assert_feasible
from solver.model import Disruption, JobId, Problem
from solver.ortools_model import ObjectiveTerms, PlanCosts, RoutingModel
from solver.schedule import time_route
from solver.screening import Screening, screen_jobs
from solver.solution import (
    Route,
    SearchStats,
    Solution,
    UnassignedJob,
    UnassignedReason,
)
from solver.warm_start import Plan, PreviousRoutes, repair_plan, routes_of

strategies = routing_enums_pb2.FirstSolutionStrategy

# Operators whose neighbourhoods are large (LNS over whole paths, chains, Lin-Kernighan) or
# made for pickup-and-delivery pairs. The iterated local search runs a full descent after
# every perturbation; with these on, one descent took ~200 ms on a 100-customer instance
# and the search managed ~40 perturbations in 10 s; without them, ~700, and the mean
# Solomon gap fell from 1.6 % to 0.9 % (ADR 0005). make_inactive can never improve:
# a drop penalty exceeds any travel it could save.
_SLOW_OR_USELESS_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
    "use_lin_kernighan",
    "use_relocate_expensive_chain",
    "use_make_chain_inactive",
    "use_shortest_path_swap_active",
    "use_swap_active_chain",
    "use_shortest_path_two_opt",
    "use_exchange_subtrip",
    "use_relocate_subtrip",
    "use_light_relocate_pair",
    "use_exchange_pair",
    "use_relocate_pair",
    "use_make_inactive",
)

# Annealing temperatures as multiples of the typical local arc (mean travel from a job to
# its ten nearest jobs), so they scale with the instance; tuned on the Solomon set.
_INITIAL_TEMPERATURE = 3.0
_FINAL_TEMPERATURE = 0.03
_CONSTANT_TEMPERATURE = 0.1  # deterministic mode, see _temperatures

# At most this share of the time limit goes to repairing a warm-start plan in Python.
_REPAIR_SHARE = 0.2
# What is left for reading the answer back, timing the routes and checking them.
_ANSWER_RESERVE = 0.05  # seconds
_MIN_SEARCH_SECONDS = 0.05
# How long past the deadline we wait for a worker process before giving up on it.
_WORKER_GRACE = 0.5


@dataclass(frozen=True)
class SearchTask:
    """One search: its seed, its deadline (time.monotonic()), and where it starts."""

    seed: int
    started: float
    deadline: float
    solution_limit: int | None = None
    start_plan: Plan | None = None
    log: bool = False
    plan_costs: PlanCosts | None = None
    construct_only: bool = False


@dataclass(frozen=True)
class SearchOutcome:
    """What one search found: job-index routes per vehicle (None if nothing was found)."""

    seed: int
    routes: tuple[tuple[int, ...], ...] | None
    objective: int
    first_objective: int | None
    stopped_by: str
    improvements: tuple[tuple[float, int], ...] = field(default=())


def solve(
    problem: Problem,
    time_limit: float = 10.0,
    seed: int = 0,
    *,
    workers: int = 1,
    solution_limit: int | None = None,
    initial: Solution | PreviousRoutes | None = None,
    disruption: Disruption | None = None,
    log_search: bool = False,
) -> Solution:
    """Route the problem's jobs; return within `time_limit` seconds plus a small margin.

    Every job is either in exactly one route or in `unassigned` with its reason. The
    returned solution has passed `feasibility.check_solution` (a failure raises
    InfeasibleSolutionError: that would be a bug, never a property of the input).

    `initial` warm-starts from a previous plan, a Solution or each vehicle's job ids in
    order (ids are matched; vanished jobs and clinicians are ignored, new ones inserted).
    `disruption` prices departures from `initial` (visits given to another clinician,
    later starts) so a re-plan stays close to the plan people already follow.
    `workers` > 1 runs that many differently seeded searches in separate processes and
    keeps the best; in a daemonic process (a Celery prefork worker) it falls back to one
    in-process search. Above decompose.DECOMPOSE_ABOVE routable jobs each search plans by
    parts of neighbouring routes (solver/decompose.py, ADR 0026).

    Determinism: a search cut by the clock is not reproducible. Give `solution_limit`
    (a count of OR-Tools solutions, roughly local-search moves) and the search stops on
    that count instead, with a temperature schedule driven by the count alone; the same
    problem, seed, workers, limit and initial plan then give identical routes, provided
    the time limit is not reached first (`stats.stopped_by` tells which limit ended it).
    """
    started = time.monotonic()
    if time_limit <= 0:
        raise ValueError(f"time_limit must be positive, got {time_limit}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if solution_limit is not None and solution_limit < 1:
        raise ValueError(f"solution_limit must be at least 1, got {solution_limit}")
    screening = screen_jobs(problem)
    if not screening.candidates:
        return _trivial_solution(problem, screening, started, seed)
    deadline = started + time_limit
    start_plan = None
    if initial is not None:
        repair_deadline = started + _REPAIR_SHARE * time_limit
        start_plan = repair_plan(problem, screening, initial, repair_deadline)
    plan_costs = _plan_costs(problem, initial, disruption) if initial is not None else None
    if len(screening.candidates) == 1:
        best = _best_single(problem, screening, plan_costs, seed)
        return _solution_from(problem, screening, best, started, 1, initial is not None)
    tasks = [
        SearchTask(seed + k, started, deadline, solution_limit, start_plan, log_search, plan_costs)
        for k in range(workers)
    ]
    outcomes = run_searches(problem, screening, tasks)
    best = min(outcomes, key=_outcome_rank)
    if best.routes is None and start_plan is not None:
        return _solution_from(problem, screening, _repaired_only(best, start_plan), started, len(outcomes), True,
                              status="repaired_only")
    return _solution_from(problem, screening, best, started, len(outcomes), initial is not None)


def _repaired_only(outcome: SearchOutcome, plan: Plan) -> SearchOutcome:
    """The search found no plan in time (a loaded machine, a re-plan's short limit): the
    repaired previous plan instead. It is feasible by construction and keeps every pinned
    visit where it was, so a re-plan never fails for want of time; its objective is unknown
    (0), as OR-Tools never priced it."""
    return replace(outcome, routes=tuple(tuple(route) for route in plan), objective=0)


def solve_plain(problem: Problem, time_limit: float = 10.0, seed: int = 0) -> Solution:
    """OR-Tools as its guides set it up, for benchmarks: cheapest-arc construction, then
    guided local search over the whole day (no iterated local search, no parts). The same
    model and checks as solve(); the baseline printed beside it."""
    started = time.monotonic()
    screening = screen_jobs(problem)
    if not screening.candidates:
        return _trivial_solution(problem, screening, started, seed)
    model = RoutingModel(problem, screening, seed)
    progress = _Progress(model.routing, started)
    model.routing.AddAtSolutionCallback(progress)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = strategies.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    seconds = max(_MIN_SEARCH_SECONDS, time_limit - (time.monotonic() - started) - _ANSWER_RESERVE)
    params.time_limit.FromNanoseconds(int(seconds * 1e9))
    assignment = model.routing.SolveWithParameters(params)
    routes = model.read_routes(assignment) if assignment is not None else None
    objective = assignment.ObjectiveValue() if assignment is not None else 0
    outcome = SearchOutcome(seed, routes, objective, progress.first, "time", progress.improvements())
    return _solution_from(problem, screening, outcome, started, 1, False)


def _best_single(
    problem: Problem, screening: Screening, plan_costs: PlanCosts | None, seed: int
) -> SearchOutcome:
    """One routable job: try each able vehicle. (OR-Tools' iterated local search can spin
    past its time limit on a single job with clinicians starting from different places.)"""
    [(j, able)] = screening.candidates.items()
    terms = ObjectiveTerms.of(problem, screening, plan_costs)
    plans = [tuple((j,) if k == v else () for k in range(len(problem.vehicles))) for v in able]
    objective, routes = min((terms.of_plan(plan), plan) for plan in plans)
    return SearchOutcome(seed, routes, objective, objective, "none", ((0.0, objective),))


def _plan_costs(
    problem: Problem, initial: Solution | PreviousRoutes, disruption: Disruption | None
) -> PlanCosts | None:
    if disruption is None or not (disruption.move_cost or disruption.delay_cost):
        return None
    job_index = {job.id: j for j, job in enumerate(problem.jobs)}
    vehicle_index = {vehicle.id: v for v, vehicle in enumerate(problem.vehicles)}
    previous_vehicle: dict[int, int] = {}
    starts: dict[JobId, int] = dict(disruption.previous_starts or {})
    if isinstance(initial, Solution):
        for route in initial.routes:
            for stop in route.stops:
                starts.setdefault(stop.job_id, stop.start)
    for vehicle_id, job_ids in routes_of(initial).items():
        if vehicle_id in vehicle_index:
            for job_id in job_ids:
                if job_id in job_index:
                    previous_vehicle[job_index[job_id]] = vehicle_index[vehicle_id]
    return PlanCosts(
        previous_vehicle=previous_vehicle,
        previous_start={job_index[j]: t for j, t in starts.items() if j in job_index},
        move_cost=disruption.move_cost,
        delay_cost=disruption.delay_cost,
    )


def _outcome_rank(outcome: SearchOutcome) -> tuple[bool, int]:
    return outcome.routes is None, outcome.objective


# --- running searches ---------------------------------------------------------------------


def run_searches(
    problem: Problem, screening: Screening, tasks: Sequence[SearchTask]
) -> list[SearchOutcome]:
    """Run the first task here and the others in worker processes; collect what arrives.

    The parent searches too rather than idling, so `workers` processes use `workers`
    cores. A worker that has not answered shortly after the deadline is killed.
    """
    if len(tasks) == 1 or multiprocessing.current_process().daemon:
        return [run_search(problem, screening, tasks[0])]
    context = multiprocessing.get_context("forkserver")
    # Workers fork from a server that has imported OR-Tools once, so a worker starts in
    # milliseconds instead of re-importing it (about half a second) on every solve.
    context.set_forkserver_preload(["solver.search"])
    children = [_start_worker(context, problem, screening, task) for task in tasks[1:]]
    outcomes = [run_search(problem, screening, tasks[0])]
    for process, connection in children:
        outcome = _collect(connection, tasks[0].deadline + _WORKER_GRACE)
        if outcome is not None:
            outcomes.append(outcome)
        process.join(timeout=0.05)
        if process.is_alive():
            process.kill()
    return outcomes


def _start_worker(
    context: multiprocessing.context.ForkServerContext,
    problem: Problem,
    screening: Screening,
    task: SearchTask,
) -> tuple[multiprocessing.process.BaseProcess, Connection]:
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_worker_main, args=(sender, problem, screening, task), daemon=True
    )
    process.start()
    sender.close()
    return process, receiver


def _worker_main(
    sender: Connection, problem: Problem, screening: Screening, task: SearchTask
) -> None:
    try:
        sender.send(run_search(problem, screening, task))
    finally:
        sender.close()


def _collect(connection: Connection, until: float) -> SearchOutcome | None:
    try:
        if connection.poll(max(0.0, until - time.monotonic())):
            outcome = connection.recv()
            return outcome if isinstance(outcome, SearchOutcome) else None
    except (EOFError, OSError):
        pass  # the worker died; the other searches' results stand
    return None


def run_search(problem: Problem, screening: Screening, task: SearchTask) -> SearchOutcome:
    """One search, in this process: over the whole day, or by parts for a large one."""
    if len(screening.candidates) > decompose.DECOMPOSE_ABOVE and task.solution_limit is None:
        return _search_by_parts(problem, screening, task)
    return _search_whole(problem, screening, task)


def _search_by_parts(problem: Problem, screening: Screening, task: SearchTask) -> SearchOutcome:
    """A complete plan first (the warm start's, or a cheapest-insertion construction), then
    improve_by_parts until the deadline (solver/decompose.py)."""
    if task.start_plan is not None:
        plan = [list(route) for route in task.start_plan]
    else:
        plan = [[] for _ in problem.vehicles]

        def construct(part: Part, until: float) -> Sequence[Sequence[int]] | None:
            part_task = SearchTask(task.seed, task.started, until, plan_costs=part.plan_costs,
                                   construct_only=True)
            return _search_whole(part.problem, part.screening, part_task).routes

        construct_by_parts(problem, screening, plan, task.plan_costs, construct, task.deadline)
    first = None
    costs = ObjectiveTerms.of(problem, screening, task.plan_costs)
    curve = [(round(time.monotonic() - task.started, 4), costs.of_plan(plan))]

    def search_part(part: Part, until: float) -> Sequence[Sequence[int]] | None:
        part_task = SearchTask(task.seed, task.started, until, None, part.plan, False, part.plan_costs)
        return _search_whole(part.problem, part.screening, part_task).routes

    def improved() -> None:
        value = costs.of_plan(plan)
        if value < curve[-1][1]:
            curve.append((round(time.monotonic() - task.started, 4), value))

    improve_by_parts(
        problem, screening, plan, task.plan_costs, task.deadline - _ANSWER_RESERVE, task.seed,
        search_part, improved,
    )
    routes = tuple(tuple(route) for route in plan)
    return SearchOutcome(task.seed, routes, curve[-1][1], first or curve[0][1], "time", tuple(curve))


def _search_whole(problem: Problem, screening: Screening, task: SearchTask) -> SearchOutcome:
    """One OR-Tools iterated local search over the whole problem, in this process."""
    model = RoutingModel(problem, screening, task.seed, task.plan_costs)
    progress = _Progress(model.routing, task.started)
    model.routing.AddAtSolutionCallback(progress)
    seconds = max(_MIN_SEARCH_SECONDS, task.deadline - time.monotonic() - _ANSWER_RESERVE)
    temperatures = _temperatures(model, constant=task.solution_limit is not None)
    params = search_parameters(seconds, task.solution_limit, temperatures, task.log)
    # OR-Tools calls these Python callables during the search but does not own them:
    # the local names keep them alive until it is over.
    evaluator = None
    if task.construct_only:
        # A large day's first plan: cheapest insertion places visits far better than
        # extending paths by their cheapest arc, and the search stops at that first plan.
        params.first_solution_strategy = strategies.LOCAL_CHEAPEST_INSERTION
        params.solution_limit = 1
        _insertion_order(params.local_cheapest_insertion_parameters)
    elif task.start_plan is not None:
        params.first_solution_strategy = strategies.EVALUATOR_STRATEGY
        evaluator = model.preference_evaluator(task.start_plan)
        model.routing.SetFirstSolutionEvaluator(evaluator)
    assignment = model.routing.SolveWithIteratedLocalSearch(params)
    del evaluator
    stopped_by = progress.stopped_by(task.solution_limit)
    if assignment is None:
        return SearchOutcome(
            task.seed, None, 0, progress.first, stopped_by, progress.improvements()
        )
    return SearchOutcome(
        task.seed,
        model.read_routes(assignment),
        assignment.ObjectiveValue(),
        progress.first,
        stopped_by,
        progress.improvements(),
    )


class _Progress:
    """An OR-Tools solution callback: first objective, best-so-far curve, solution count."""

    def __init__(self, routing: pywrapcp.RoutingModel, started: float) -> None:
        self.routing = routing
        self.started = started
        self.first: int | None = None
        self.best: int | None = None
        self.count = 0
        self.curve: list[tuple[float, int]] = []

    def __call__(self) -> None:
        # Min, not Value: with soft bounds (overtime, delays) the cost variable of a
        # solution is not always bound when the callback runs; its minimum is the cost.
        value = self.routing.CostVar().Min()
        self.count += 1
        if self.first is None:
            self.first = value
        if self.best is None or value < self.best:
            self.best = value
            self.curve.append((round(time.monotonic() - self.started, 4), value))

    def stopped_by(self, solution_limit: int | None) -> str:
        if solution_limit is not None and self.count >= solution_limit:
            return "solutions"
        return "time"

    def improvements(self) -> tuple[tuple[float, int], ...]:
        return tuple(self.curve)


def _temperatures(model: RoutingModel, constant: bool) -> tuple[float, float]:
    """(initial, final) annealing temperatures scaled to the instance's local arcs.

    In deterministic mode the temperature is constant: OR-Tools cools by the larger of
    time progress and solution-count progress, so any cooling would depend on the clock.
    """
    scale = _local_arc_scale(model.travel_nodes, len(model.layout.depot_locations))
    if constant:
        return _CONSTANT_TEMPERATURE * scale, _CONSTANT_TEMPERATURE * scale
    return _INITIAL_TEMPERATURE * scale, _FINAL_TEMPERATURE * scale


def _local_arc_scale(travel_nodes: list[list[int]], first_job_node: int) -> float:
    """Mean travel from each job to its ten nearest jobs (at least 1)."""
    jobs = range(first_job_node, len(travel_nodes))
    if len(jobs) < 2:
        return 1.0
    near = []
    for i in jobs:
        legs = heapq.nsmallest(10, (travel_nodes[i][j] for j in jobs if j != i))
        near.append(statistics.fmean(legs))
    return max(1.0, statistics.fmean(near))


def search_parameters(
    seconds: float,
    solution_limit: int | None,
    temperatures: tuple[float, float],
    log: bool = False,
) -> pywrapcp.RoutingSearchParameters:
    """OR-Tools parameters for the iterated local search (see ADR 0005)."""
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    for operator in _SLOW_OR_USELESS_OPERATORS:
        setattr(params.local_search_operators, operator, optional_boolean_pb2.BOOL_FALSE)
    params.use_iterated_local_search = True
    _set_ruin_and_recreate(params, temperatures)
    params.time_limit.FromNanoseconds(int(seconds * 1e9))
    if solution_limit is not None:
        params.solution_limit = solution_limit
    params.log_search = log
    return params


def _set_ruin_and_recreate(
    params: pywrapcp.RoutingSearchParameters, temperatures: tuple[float, float]
) -> None:
    ils = params.iterated_local_search_parameters
    recreate = ils.ruin_recreate_parameters
    del recreate.ruin_strategies[:]
    # SISR's suggested values (Christiaens & Vanden Berghe 2020): strings of up to 10
    # visits, 10 removed on average, rarely preserving a gap inside a string.
    sisr = recreate.ruin_strategies.add().sisr
    sisr.max_removed_sequence_size = 10
    sisr.avg_num_removed_visits = 10
    sisr.bypass_factor = 0.01
    recreate.recreate_strategy.heuristic = (
        routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION
    )
    _insertion_order(recreate.recreate_strategy.parameters.local_cheapest_insertion)
    ils.improve_perturbed_solution = True
    annealing = ils.reference_solution_acceptance_strategy.simulated_annealing
    annealing.initial_temperature, annealing.final_temperature = temperatures


def _insertion_order(order: heuristic_parameters.LocalCheapestInsertionParameters) -> None:
    """The order visits are (re)inserted in: higher priorities first, then those the fewest
    clinicians can serve (a rare skill must not find its clinicians' days already full of
    visits anyone could make: 15 left out against 4 on a 1,000-visit day, ADR 0026), then
    the visits farthest from the depots (SISR's "far first": remote visits have the fewest
    good places left; 0.92 % against 1.02 % for OR-Tools' default on Solomon, ADR 0005)."""
    sorting = heuristic_parameters.LocalCheapestInsertionParameters
    order.insertion_sorting_properties.extend(
        [
            sorting.SORTING_PROPERTY_PENALTY,
            sorting.SORTING_PROPERTY_ALLOWED_VEHICLES,
            sorting.SORTING_PROPERTY_HIGHEST_AVG_ARC_COST_TO_VEHICLE_START_ENDS,
        ]
    )


# --- building the answer ------------------------------------------------------------------


def _solution_from(
    problem: Problem,
    screening: Screening,
    outcome: SearchOutcome,
    started: float,
    workers: int,
    warm: bool,
    status: str = "solved",
) -> Solution:
    """Time the outcome's routes, list the unassigned jobs, and check the result."""
    found = outcome.routes is not None
    routes_by_vehicle = outcome.routes or tuple(() for _ in problem.vehicles)
    routes = tuple(_timed_route(problem, v, route) for v, route in enumerate(routes_by_vehicle))
    routed = {j for route in routes_by_vehicle for j in route}
    stats = SearchStats(
        objective=outcome.objective,
        first_solution_objective=outcome.first_objective,
        solve_seconds=round(time.monotonic() - started, 3),
        status=status if found else "no_solution",
        stopped_by=outcome.stopped_by,
        workers=workers,
        seed=outcome.seed,
        warm_start=warm,
        improvements=outcome.improvements,
    )
    solution = Solution(
        routes=routes,
        unassigned=_unassigned(problem, screening, routed, nothing_found=not found),
        total_travel=sum(route.travel for route in routes),
        stats=stats,
    )
    assert_feasible(problem, solution)
    return solution


def _timed_route(problem: Problem, v: int, job_indices: Sequence[int]) -> Route:
    vehicle = problem.vehicles[v]
    route = time_route(problem, vehicle, [problem.jobs[j] for j in job_indices])
    if route is None:
        # OR-Tools accepted a route our scheduler rejects: the two models disagree.
        raise AssertionError(f"route of {vehicle.id!r} from the search cannot be timed")
    return route


def _unassigned(
    problem: Problem, screening: Screening, routed: set[int], nothing_found: bool
) -> tuple[UnassignedJob, ...]:
    rejected = {item.job_id: item for item in screening.rejected}
    result = []
    for j, job in enumerate(problem.jobs):
        if job.id in rejected:
            result.append(rejected[job.id])
        elif j not in routed:
            result.append(
                UnassignedJob(
                    job.id, UnassignedReason.DROPPED, _dropped_message(job.priority, nothing_found)
                )
            )
    return tuple(result)


def _dropped_message(priority: int, nothing_found: bool) -> str:
    if nothing_found:
        return "the search found no plan within its time limit"
    return (
        f"no room was found for this priority-{priority} visit in any able clinician's day "
        "within the time limit"
    )


def _trivial_solution(
    problem: Problem, screening: Screening, started: float, seed: int
) -> Solution:
    """Nothing to search: no clinicians, or no job anyone could serve."""
    idle = SearchOutcome(seed, tuple(() for _ in problem.vehicles), 0, None, "none")
    return _solution_from(problem, screening, idle, started, 0, False, status="trivial")
