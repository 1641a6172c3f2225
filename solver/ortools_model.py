"""The Problem as an OR-Tools routing model, and OR-Tools' answer read back as job indices.

Node layout: first one node per distinct depot location (vehicle starts and ends), then
one node per routable job in a seed-dependent order. The order is the seed: OR-Tools'
own random generator is fixed, so permuting nodes is what makes differently seeded runs
explore differently (ADR 0005).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ortools.constraint_solver import pywrapcp

from solver.model import Job, Problem
from solver.schedule import time_route
from solver.screening import Screening

TIME = "time"
LOAD = "load"
VISITS = "visits"
ASSIGNMENT = "assignment"

# Penalties and costs are int64 in OR-Tools; stay well clear of overflow when summing.
_INT64_SAFE = 2**62


@dataclass(frozen=True)
class NodeLayout:
    """Which location each node stands for, and which job (index) each job node is."""

    depot_locations: tuple[int, ...]
    job_indices: tuple[int, ...]

    @property
    def node_count(self) -> int:
        return len(self.depot_locations) + len(self.job_indices)

    def job_node(self, position: int) -> int:
        return len(self.depot_locations) + position


def layout_nodes(problem: Problem, screening: Screening, seed: int) -> NodeLayout:
    depots = sorted(
        {v.start_location for v in problem.vehicles} | {v.return_location for v in problem.vehicles}
    )
    jobs = sorted(screening.candidates)
    random.Random(seed).shuffle(jobs)  # noqa: S311 - a search seed, not a secret
    return NodeLayout(tuple(depots), tuple(jobs))


def soft_cost_bound(problem: Problem, jobs: Sequence[Job], plan_costs: PlanCosts | None) -> int:
    """An upper bound on every cost but travel: all overtime, preferences, moves and delays."""
    overtime = sum(v.max_overtime * v.overtime_cost for v in problem.vehicles)
    preferences = sum(job.preference_weight for job in jobs)
    disruption = 0
    if plan_costs is not None:
        horizon = max([v.latest_return for v in problem.vehicles] + [job.window_end for job in jobs])
        disruption = len(jobs) * (plan_costs.move_cost + plan_costs.delay_cost * horizon)
    return overtime + preferences + disruption


def drop_penalties(
    jobs: Sequence[Job], max_travel_cost: int, vehicle_count: int, soft_costs: int = 0
) -> list[int]:
    """Per job, the cost of leaving it out.

    The lowest priority pays more than any route set could cost (travel, and `soft_costs`:
    overtime, preferences, disruption), so no saving ever justifies a drop. Each higher
    priority pays more than dropping every job of all lower priorities together, so
    priorities are strictly lexicographic. If that ladder
    would overflow int64 (many priority levels on a big day), the penalty grows linearly
    with the priority rank instead, which still prefers keeping higher priorities.
    """
    base = (len(jobs) + 2 * vehicle_count + 1) * max(1, max_travel_cost) + soft_costs + 1
    levels = sorted({job.priority for job in jobs})
    weights = _lexicographic_weights(jobs, levels, base)
    if weights is None:
        weights = {level: base * (rank + 1) for rank, level in enumerate(levels)}
    return [weights[job.priority] for job in jobs]


def _lexicographic_weights(
    jobs: Sequence[Job], levels: list[int], base: int
) -> dict[int, int] | None:
    weights: dict[int, int] = {}
    below = 0  # the total penalty of every job at lower levels
    for level in levels:
        weights[level] = base + below
        below += weights[level] * sum(1 for job in jobs if job.priority == level)
        if below >= _INT64_SAFE:
            return None
    return weights


@dataclass(frozen=True)
class PlanCosts:
    """The previous plan, for the disruption cost: per job index, its vehicle index and start."""

    previous_vehicle: dict[int, int]
    previous_start: dict[int, int]
    move_cost: int
    delay_cost: int


@dataclass(frozen=True)
class ObjectiveTerms:
    """The model's objective computed in Python for a plan (job indices per vehicle).

    Travel, overtime, preference, move and delay costs, and the drop penalty of every
    routable job left out: what OR-Tools minimises, for plans searched by parts.
    """

    problem: Problem
    penalty: dict[int, int]  # per routable job index
    plan_costs: PlanCosts | None

    @classmethod
    def of(cls, problem: Problem, screening: Screening, plan_costs: PlanCosts | None) -> ObjectiveTerms:
        routable = sorted(screening.candidates)
        max_travel = max(max(row) for row in problem.travel)
        jobs = [problem.jobs[j] for j in routable]
        soft = soft_cost_bound(problem, jobs, plan_costs)
        penalties = drop_penalties(jobs, max_travel, len(problem.vehicles), soft)
        return cls(problem, dict(zip(routable, penalties, strict=True)), plan_costs)

    def of_plan(self, plan: Sequence[Sequence[int]]) -> int:
        total = sum(self.penalty.values())
        costs = self.plan_costs
        for v, route in enumerate(plan):
            vehicle = self.problem.vehicles[v]
            jobs = [self.problem.jobs[j] for j in route]
            timed = time_route(self.problem, vehicle, jobs)
            if timed is None:
                raise ValueError(f"the plan's route of {vehicle.id!r} cannot be timed")
            total += timed.travel + vehicle.overtime_cost * timed.overtime
            for j, job, stop in zip(route, jobs, timed.stops, strict=True):
                total -= self.penalty.get(j, 0)
                if job.preferred and vehicle.id not in job.preferred:
                    total += job.preference_weight
                if costs is not None:
                    if costs.move_cost and costs.previous_vehicle.get(j, v) != v:
                        total += costs.move_cost
                    previous = costs.previous_start.get(j)
                    if previous is not None and stop.start > previous:
                        total += costs.delay_cost * (stop.start - previous)
        return total


class RoutingModel:
    """An OR-Tools routing model for one problem and seed. Build once, solve once."""

    def __init__(
        self, problem: Problem, screening: Screening, seed: int, plan_costs: PlanCosts | None = None
    ) -> None:
        self.problem = problem
        self.layout = layout_nodes(problem, screening, seed)
        self._node_location = self.layout.depot_locations + tuple(
            problem.jobs[j].location for j in self.layout.job_indices
        )
        vehicles = problem.vehicles
        depot_node = {loc: node for node, loc in enumerate(self.layout.depot_locations)}
        self.manager = pywrapcp.RoutingIndexManager(
            self.layout.node_count,
            len(vehicles),
            [depot_node[v.start_location] for v in vehicles],
            [depot_node[v.return_location] for v in vehicles],
        )
        self.routing = pywrapcp.RoutingModel(self.manager)
        self._add_travel_cost()
        self._add_time()
        self._add_limits()
        self._restrict_vehicles(screening)
        self._add_drop_penalties(plan_costs)
        self._add_breaks()
        self._add_assignment_costs(plan_costs)
        self._add_delay_costs(plan_costs)

    # --- building -------------------------------------------------------------------

    def _travel_between_nodes(self) -> list[list[int]]:
        travel = self.problem.travel
        locations = self._node_location
        return [[travel[a][b] for b in locations] for a in locations]

    def _add_travel_cost(self) -> None:
        # A registered matrix is evaluated in C++; a Python callback would cost a
        # Python call per arc evaluation, millions of them per second of search.
        self.travel_nodes = self._travel_between_nodes()
        cost = self.routing.RegisterTransitMatrix(self.travel_nodes)
        self.routing.SetArcCostEvaluatorOfAllVehicles(cost)

    def _add_time(self) -> None:
        durations = self._node_durations()
        transit = [[durations[i] + leg for leg in row] for i, row in enumerate(self.travel_nodes)]
        horizon = self._horizon()
        # Slack up to the horizon lets a clinician wait for a window to open.
        self.routing.AddDimension(
            self.routing.RegisterTransitMatrix(transit), horizon, horizon, False, TIME
        )
        time = self.routing.GetDimensionOrDie(TIME)
        for position, job_index in enumerate(self.layout.job_indices):
            job = self.problem.jobs[job_index]
            index = self.manager.NodeToIndex(self.layout.job_node(position))
            time.CumulVar(index).SetRange(job.window_start, job.window_end)
        for v, vehicle in enumerate(self.problem.vehicles):
            time.CumulVar(self.routing.Start(v)).SetRange(vehicle.shift_start, vehicle.shift_end)
            end = self.routing.End(v)
            time.CumulVar(end).SetRange(vehicle.shift_start, vehicle.latest_return)
            if vehicle.max_overtime:
                time.SetCumulVarSoftUpperBound(end, vehicle.shift_end, vehicle.overtime_cost)

    def _node_durations(self) -> list[int]:
        depots = [0] * len(self.layout.depot_locations)
        return depots + [self.problem.jobs[j].duration for j in self.layout.job_indices]

    def _horizon(self) -> int:
        shifts = [v.latest_return for v in self.problem.vehicles]
        windows = [self.problem.jobs[j].window_end for j in self.layout.job_indices]
        return max(shifts + windows)

    def _add_limits(self) -> None:
        vehicles = self.problem.vehicles
        jobs = [self.problem.jobs[j] for j in self.layout.job_indices]
        depots = [0] * len(self.layout.depot_locations)
        if any(v.capacity is not None for v in vehicles):
            unbounded = sum(job.demand for job in jobs)
            self._add_counter(
                LOAD,
                depots + [job.demand for job in jobs],
                [unbounded if v.capacity is None else v.capacity for v in vehicles],
            )
        if any(v.max_visits is not None for v in vehicles):
            self._add_counter(
                VISITS,
                depots + [1] * len(jobs),
                [len(jobs) if v.max_visits is None else v.max_visits for v in vehicles],
            )

    def _add_counter(self, name: str, per_node: list[int], capacities: list[int]) -> None:
        evaluator = self.routing.RegisterUnaryTransitVector(per_node)
        self.routing.AddDimensionWithVehicleCapacity(evaluator, 0, capacities, True, name)

    def _restrict_vehicles(self, screening: Screening) -> None:
        everyone = len(self.problem.vehicles)
        for position, job_index in enumerate(self.layout.job_indices):
            allowed = screening.candidates[job_index]
            index = self.manager.NodeToIndex(self.layout.job_node(position))
            if self.problem.jobs[job_index].pinned_to is not None:
                # Screening left only the pinned vehicle; no -1: the job must be served.
                self.routing.VehicleVar(index).SetValues(list(allowed))
            elif len(allowed) < everyone:
                # -1 keeps the job droppable. (SetAllowedVehiclesForIndex would say the same,
                # but its Python binding rejects every argument type in OR-Tools 9.15.)
                self.routing.VehicleVar(index).SetValues([-1, *allowed])

    def _add_drop_penalties(self, plan_costs: PlanCosts | None) -> None:
        jobs = [self.problem.jobs[j] for j in self.layout.job_indices]
        max_travel = max(max(row) for row in self.travel_nodes)
        soft = soft_cost_bound(self.problem, jobs, plan_costs)
        penalties = drop_penalties(jobs, max_travel, len(self.problem.vehicles), soft)
        for position, penalty in enumerate(penalties):
            if jobs[position].pinned_to is not None:
                continue  # mandatory: no disjunction
            index = self.manager.NodeToIndex(self.layout.job_node(position))
            self.routing.AddDisjunction([index], penalty)

    def _add_breaks(self) -> None:
        vehicles = self.problem.vehicles
        if not any(v.breaks for v in vehicles):
            return
        time = self.routing.GetDimensionOrDie(TIME)
        durations = self._node_durations()
        # The part of each node's transit that is service: no break may overlap it.
        visits = [durations[self.manager.IndexToNode(i)] for i in range(self.routing.Size())]
        solver = self.routing.solver()
        for v, vehicle in enumerate(vehicles):
            if not vehicle.breaks:
                continue
            intervals = [
                solver.FixedDurationIntervalVar(
                    rest.window_start, rest.window_end, rest.duration, False, f"break {v}.{k}"
                )
                for k, rest in enumerate(vehicle.breaks)
            ]
            time.SetBreakIntervalsOfVehicle(intervals, v, visits)

    def _add_assignment_costs(self, plan_costs: PlanCosts | None) -> None:
        """Preferences and moves away from the previous plan, as per-vehicle costs of a visit.

        A dimension whose transit from a job node is what serving that job costs *this*
        vehicle; its span cost (coefficient 1) adds the sum along each route to the
        objective. The per-vehicle vectors are evaluated in C++.
        """
        vehicles = self.problem.vehicles
        index_of = {vehicle.id: v for v, vehicle in enumerate(vehicles)}
        jobs = [self.problem.jobs[j] for j in self.layout.job_indices]
        preferred = [frozenset(index_of[p] for p in job.preferred) for job in jobs]
        moves = plan_costs.previous_vehicle if plan_costs and plan_costs.move_cost else {}
        if not moves and not any(preferred):
            return
        depots = [0] * len(self.layout.depot_locations)
        registered: dict[tuple[int, ...], int] = {}
        evaluators = []
        for v in range(len(vehicles)):
            costs = tuple(depots) + tuple(
                (job.preference_weight if preferred[p] and v not in preferred[p] else 0)
                + (plan_costs.move_cost if plan_costs and moves.get(j, v) != v else 0)
                for p, (j, job) in enumerate(zip(self.layout.job_indices, jobs, strict=True))
            )
            if costs not in registered:
                registered[costs] = self.routing.RegisterUnaryTransitVector(list(costs))
            evaluators.append(registered[costs])
        bound = max(sum(costs) for costs in registered)
        self.routing.AddDimensionWithVehicleTransits(evaluators, 0, bound, True, ASSIGNMENT)
        self.routing.GetDimensionOrDie(ASSIGNMENT).SetSpanCostCoefficientForAllVehicles(1)

    def _add_delay_costs(self, plan_costs: PlanCosts | None) -> None:
        if plan_costs is None or not plan_costs.delay_cost:
            return
        time = self.routing.GetDimensionOrDie(TIME)
        for position, job_index in enumerate(self.layout.job_indices):
            start = plan_costs.previous_start.get(job_index)
            if start is not None:
                index = self.manager.NodeToIndex(self.layout.job_node(position))
                time.SetCumulVarSoftUpperBound(index, start, plan_costs.delay_cost)

    # --- solving helpers --------------------------------------------------------------

    def routes_as_indices(self, routes: Sequence[Sequence[int]]) -> list[list[int]]:
        """Job-index routes (one per vehicle) as OR-Tools variable indices."""
        position = {job: p for p, job in enumerate(self.layout.job_indices)}
        return [
            [self.manager.NodeToIndex(self.layout.job_node(position[job])) for job in route]
            for route in routes
        ]

    def preference_evaluator(self, routes: Sequence[Sequence[int]]) -> Callable[[int, int], int]:
        """An arc evaluator that is 0 along the given routes and high elsewhere.

        Used with the EVALUATOR_STRATEGY first solution to start the search from (nearly)
        a previous plan; off-plan arcs keep their travel cost as a tie-breaker.
        """
        successor: dict[int, int] = {}
        for v, route in enumerate(self.routes_as_indices(routes)):
            chain = [self.routing.Start(v), *route, self.routing.End(v)]
            successor.update(itertools.pairwise(chain))
        off_plan = 1 + 2 * max(max(row) for row in self.travel_nodes)

        def evaluate(i: int, j: int) -> int:
            if successor.get(i) == j:
                return 0
            return (
                off_plan
                + self.travel_nodes[self.manager.IndexToNode(i)][self.manager.IndexToNode(j)]
            )

        return evaluate

    def read_routes(self, assignment: pywrapcp.Assignment) -> tuple[tuple[int, ...], ...]:
        """Per vehicle, the job indices it visits in order."""
        routes = []
        for v in range(len(self.problem.vehicles)):
            route = []
            index = assignment.Value(self.routing.NextVar(self.routing.Start(v)))
            while not self.routing.IsEnd(index):
                node = self.manager.IndexToNode(index)
                route.append(self.layout.job_indices[node - len(self.layout.depot_locations)])
                index = assignment.Value(self.routing.NextVar(index))
            routes.append(tuple(route))
        return tuple(routes)
