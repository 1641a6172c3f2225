"""Pins, breaks, overtime, preferences and the disruption cost, and large days by parts.

Story: Harbor Home Health again (solver_days.py): clinicians on one straight road where
travel time is the distance between mile markers, so every expected time can be worked out.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.homehealth import DayShape, home_health_day
from solver import (
    Break,
    Disruption,
    Problem,
    ProblemError,
    Solution,
    Vehicle,
    ViolationKind,
    check_solution,
    decompose,
    solve,
)
from solver.replan import as_of
from solver.schedule import time_route
from solver.solution import Route, SearchStats, Stop, TakenBreak
from tests.solver.solver_days import clinician, road, visit

NO_SEARCH = SearchStats(0, None, 0.0, "trivial", "none", 0, 0, False)


def kinds(problem: Problem, solution: Solution) -> set[ViolationKind]:
    return {violation.kind for violation in check_solution(problem, solution)}


def replace_route(solution: Solution, route: Route) -> Solution:
    routes = tuple(route if r.vehicle_id == route.vehicle_id else r for r in solution.routes)
    return dataclasses.replace(solution, routes=routes, total_travel=sum(r.travel for r in routes))


def lunch_day() -> Problem:
    """Nora works 0-120 with a 10-long lunch starting in [40, 50]; four visits, 40 of travel."""
    nora = Vehicle("nora", start_location=0, shift_start=0, shift_end=120,
                   breaks=(Break(40, 50, 10),))
    jobs = [visit(f"v{k}", k + 1, (0, 120), duration=15) for k in range(4)]
    return Problem([nora], jobs, road(0, 5, 10, 15, 20))


# --- breaks -------------------------------------------------------------------------------


def test_lunch_is_taken_inside_its_window_and_never_during_a_visit():
    problem = lunch_day()
    solution = solve(problem, time_limit=1)
    route = solution.routes[0]
    assert not solution.unassigned
    assert len(route.breaks) == 1
    lunch = route.breaks[0]
    assert 40 <= lunch.start <= 50
    assert lunch.end - lunch.start == 10
    for stop in route.stops:
        assert lunch.end <= stop.start or lunch.start >= stop.departure
    assert check_solution(problem, solution) == []


def test_a_lunch_that_does_not_fit_drops_a_visit_rather_than_skip_the_break():
    # 4 visits of 15 plus 40 travel and back is 100: the whole shift. With a 10 lunch, one
    # visit must go; without the break, all four fit.
    problem = lunch_day()
    tight = Problem(
        [dataclasses.replace(problem.vehicles[0], shift_end=100)],
        [dataclasses.replace(job, window_start=0) for job in problem.jobs],
        problem.travel,
    )
    no_break = Problem([dataclasses.replace(tight.vehicles[0], breaks=())], tight.jobs, tight.travel)
    assert time_route(no_break, no_break.vehicles[0], list(no_break.jobs)) is not None
    assert time_route(tight, tight.vehicles[0], list(tight.jobs)) is None
    solution = solve(tight, time_limit=1)
    assert len(solution.unassigned) == 1
    assert check_solution(tight, solution) == []


def test_the_checker_rejects_a_missing_break_a_break_outside_its_window_or_during_a_visit():
    problem = lunch_day()
    solution = solve(problem, time_limit=1)
    route = solution.routes[0]
    missing = dataclasses.replace(route, breaks=())
    assert ViolationKind.BREAK in kinds(problem, replace_route(solution, missing))
    late = dataclasses.replace(route, breaks=(TakenBreak(60, 70),))
    assert ViolationKind.BREAK in kinds(problem, replace_route(solution, late))
    first = route.stops[0]
    during = dataclasses.replace(route, breaks=(TakenBreak(first.start, first.start + 10),))
    # Inside the window only if the first visit starts in [40, 50]; during a visit either way.
    assert ViolationKind.BREAK in kinds(problem, replace_route(solution, during))


def test_a_break_squeezed_into_a_gap_too_short_for_the_leg_is_rejected():
    nora = Vehicle("nora", start_location=0, shift_start=0, shift_end=200, breaks=(Break(10, 30, 10),))
    jobs = [visit("a", 1, (0, 200), duration=5), visit("b", 2, (30, 200), duration=5)]
    problem = Problem([nora], jobs, road(0, 10, 30))
    # Leave at 0, a at 10-15, 20 of travel to b: a lunch in [15, 35) leaves no room for it.
    stops = (Stop("a", 10, 0, 10, 15), Stop("b", 35, 0, 35, 40))
    route = Route("nora", 0, stops, 70, 70, breaks=(TakenBreak(15, 25),), overtime=0)
    solution = Solution((route,), (), 70, NO_SEARCH)
    assert ViolationKind.BREAK in kinds(problem, solution)


@settings(max_examples=60, deadline=None)
@given(
    windows=st.lists(st.tuples(st.integers(0, 150), st.integers(0, 60)), min_size=1, max_size=5),
    lunch=st.tuples(st.integers(0, 120), st.integers(0, 40), st.integers(1, 20)),
)
def test_every_timed_route_with_a_break_passes_the_independent_checker(windows, lunch):
    """Whatever order and windows, time_route's answer (when it has one) is feasible."""
    start, width, duration = lunch
    nora = Vehicle("nora", start_location=0, shift_start=0, shift_end=300,
                   breaks=(Break(start, start + width, duration),))
    jobs = [visit(f"v{k}", k + 1, (opens, opens + slack), duration=7)
            for k, (opens, slack) in enumerate(windows)]
    problem = Problem([nora], jobs, road(0, *(3 * (k + 1) for k in range(len(jobs)))))
    route = time_route(problem, nora, jobs)
    if route is None:
        return
    solution = Solution((route,), (), route.travel, NO_SEARCH)
    assert check_solution(problem, solution) == []


# --- overtime -----------------------------------------------------------------------------


def test_overtime_within_its_limit_serves_a_visit_the_shift_alone_cannot():
    shift_only = clinician("nora", shift=(0, 50))
    job = visit("far", 1, (0, 100), duration=15)  # 20 there, 15 on site, 20 back: 55
    without = solve(Problem([shift_only], [job], road(0, 20)), time_limit=1)
    assert [u.job_id for u in without.unassigned] == ["far"]
    with_overtime = Problem([dataclasses.replace(shift_only, max_overtime=10)], [job], road(0, 20))
    solution = solve(with_overtime, time_limit=1)
    assert not solution.unassigned
    assert solution.routes[0].overtime == 5
    too_late = dataclasses.replace(solution.routes[0], arrival=61, overtime=11)
    assert ViolationKind.SHIFT in kinds(with_overtime, replace_route(solution, too_late))


def test_overtime_costs_more_than_the_travel_it_saves():
    # Either clinician can serve: Omar within his shift with 4 more travel, Nora only by
    # working 5 over at cost 2 per unit (10). The plan gives it to Omar.
    nora = Vehicle("nora", 0, 0, 50, max_overtime=10, overtime_cost=2)
    omar = Vehicle("omar", 1, 0, 100)
    job = visit("far", 2, (0, 100), duration=15)
    problem = Problem([nora, omar], [job], [[0, 50, 20], [50, 0, 22], [20, 22, 0]])
    solution = solve(problem, time_limit=1)
    assert solution.routes[1].job_ids == ("far",)


def test_a_single_visit_with_clinicians_starting_apart_returns_at_once():
    # OR-Tools' iterated local search span past its time limit on this shape; the solver
    # now prices each able clinician instead.
    nora, omar = Vehicle("nora", 0, 0, 100), Vehicle("omar", 1, 0, 100)
    problem = Problem([nora, omar], [visit("p", 2, duration=15)], [[0, 50, 20], [50, 0, 22], [20, 22, 0]])
    solution = solve(problem, time_limit=5)
    assert solution.routes[0].job_ids == ("p",)
    assert solution.stats.solve_seconds < 1


# --- preferences --------------------------------------------------------------------------


def test_preferred_clinicians_serve_their_patients_when_they_are_free():
    nora, omar = clinician("nora"), clinician("omar")
    jobs = [dataclasses.replace(visit(f"v{k}", k + 1), preferred=frozenset({"omar" if k % 2 else "nora"}),
                                preference_weight=50) for k in range(6)]
    problem = Problem([nora, omar], jobs, road(0, *range(1, 7)))
    solution = solve(problem, time_limit=1)
    for route in solution.routes:
        for stop in route.stops:
            assert route.vehicle_id in next(j for j in jobs if j.id == stop.job_id).preferred


def test_a_preference_yields_to_a_saving_larger_than_its_weight():
    # Nora's home is at 0, Omar's at 100; the patient at 95 prefers Nora: worth 10, but Nora
    # would travel 190 more than Omar. Omar goes.
    nora, omar = Vehicle("nora", 0, 0, 1000), Vehicle("omar", 1, 0, 1000)
    job = dataclasses.replace(visit("p", 2), preferred=frozenset({"nora"}), preference_weight=10)
    problem = Problem([nora, omar], [job], [[0, 100, 95], [100, 0, 5], [95, 5, 0]])
    assert solve(problem, time_limit=1).routes[1].job_ids == ("p",)


# --- pins and the disruption cost ---------------------------------------------------------


def busy_day() -> Problem:
    """Three clinicians, eighteen visits of 10 along the road, each to start by 150: nobody
    can make more than about thirteen, so at least two clinicians work."""
    vehicles = [clinician(name, shift=(0, 200)) for name in ("nora", "omar", "pia")]
    jobs = [visit(f"v{k}", k + 1, (0, 150), duration=10) for k in range(18)]
    return Problem(vehicles, jobs, road(0, *(k + 1 for k in range(18))))


def test_pinned_visits_stay_with_their_clinician_at_their_time():
    problem = busy_day()
    before = solve(problem, time_limit=1)
    busiest = max(before.routes, key=lambda r: len(r.stops))
    other = next(v.id for v in problem.vehicles if v.id != busiest.vehicle_id)
    pinned = {stop.job_id: stop.start for stop in busiest.stops[:2]}
    # The pinned visits also prefer another clinician strongly: the pin must still win.
    jobs = [
        dataclasses.replace(job, pinned_to=busiest.vehicle_id, window_start=pinned[job.id],
                            window_end=pinned[job.id], preferred=frozenset({other}),
                            preference_weight=10_000)
        if job.id in pinned else job
        for job in problem.jobs
    ]
    again = Problem(problem.vehicles, jobs, problem.travel)
    after = solve(again, time_limit=1, initial=before)
    starts = {stop.job_id: (route.vehicle_id, stop.start) for route in after.routes for stop in route.stops}
    for job_id, start in pinned.items():
        assert starts[job_id] == (busiest.vehicle_id, start)
    assert check_solution(again, after) == []


def test_a_re_plan_whose_search_finds_nothing_in_time_keeps_the_repaired_plan_and_its_pins(
        monkeypatch: pytest.MonkeyPatch):
    """As on a loaded machine within a re-plan's few seconds: the search returns no plan. The
    answer is the repaired previous plan, pins kept, never a plan that drops them."""
    from solver import search

    problem = busy_day()
    before = solve(problem, time_limit=1)
    busiest = max(before.routes, key=lambda r: len(r.stops))
    pinned = {stop.job_id: stop.start for stop in busiest.stops[:2]}
    jobs = [dataclasses.replace(job, pinned_to=busiest.vehicle_id, window_start=pinned[job.id],
                                window_end=pinned[job.id]) if job.id in pinned else job for job in problem.jobs]
    again = Problem(problem.vehicles, jobs, problem.travel)
    nothing = [search.SearchOutcome(seed=0, routes=None, objective=0, first_objective=None, stopped_by="time")]
    monkeypatch.setattr(search, "run_searches", lambda *_args: nothing)
    after = solve(again, time_limit=1, initial=before)
    assert after.stats.status == "repaired_only"
    starts = {stop.job_id: (route.vehicle_id, stop.start) for route in after.routes for stop in route.stops}
    for job_id, start in pinned.items():
        assert starts[job_id] == (busiest.vehicle_id, start)
    assert not after.unassigned
    assert check_solution(again, after) == []


def test_the_checker_rejects_a_pinned_visit_served_by_another_or_left_out():
    problem = busy_day()
    plan = solve(problem, time_limit=1)
    job_id = max(plan.routes, key=lambda r: len(r.stops)).stops[0].job_id
    elsewhere = next(r.vehicle_id for r in plan.routes if job_id not in r.job_ids)
    jobs = [dataclasses.replace(j, pinned_to=elsewhere) if j.id == job_id else j for j in problem.jobs]
    pinned = Problem(problem.vehicles, jobs, problem.travel)
    assert ViolationKind.PINNED in kinds(pinned, plan)


def test_a_pin_nobody_can_keep_is_refused_naming_the_field():
    problem = busy_day()
    late = [dataclasses.replace(problem.jobs[0], pinned_to="nora", window_start=599, window_end=599),
            *problem.jobs[1:]]
    with pytest.raises(ProblemError) as refused:
        solve(Problem(problem.vehicles, late, problem.travel), time_limit=1)
    assert refused.value.field == "jobs[0].pinned_to"


def test_a_sick_call_moves_only_the_sick_clinicians_visits_when_disruption_costs():
    problem = busy_day()
    before = solve(problem, time_limit=2)
    sick = max(before.routes, key=lambda r: len(r.stops))
    healthy = Problem([v for v in problem.vehicles if v.id != sick.vehicle_id], problem.jobs, problem.travel)
    after = solve(healthy, time_limit=2, initial=before, disruption=Disruption(move_cost=500))
    was = {stop.job_id: route.vehicle_id for route in before.routes for stop in route.stops}
    now = {stop.job_id: route.vehicle_id for route in after.routes for stop in route.stops}
    moved = [job for job, vehicle in now.items() if was.get(job) != vehicle]
    assert not after.unassigned
    assert set(moved) == set(sick.job_ids)  # nobody else's visits changed hands
    assert check_solution(healthy, after) == []


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vehicle", "job", "field"),
    [
        ({"breaks": (Break(-1, 10, 5),)}, {}, "vehicles[0].breaks[0].window_start"),
        ({"shift_start": 10, "breaks": (Break(5, 20, 5),)}, {}, "vehicles[0].breaks[0].window_start"),
        ({"breaks": (Break(990, 999, 5),)}, {}, "vehicles[0].breaks[0].window_end"),
        ({"breaks": (Break(20, 10, 5),)}, {}, "vehicles[0].breaks[0].window_end"),
        ({"max_overtime": -1}, {}, "vehicles[0].max_overtime"),
        ({}, {"pinned_to": "ghost"}, "jobs[0].pinned_to"),
        ({}, {"required_skills": frozenset({"iv"}), "pinned_to": "nora"}, "jobs[0].pinned_to"),
        ({}, {"preferred": frozenset({"ghost"}), "preference_weight": 5}, "jobs[0].preferred"),
        ({}, {"preferred": frozenset({"nora"})}, "jobs[0].preference_weight"),
    ],
)
def test_malformed_breaks_pins_and_preferences_are_refused_naming_the_field(vehicle, job, field):
    nora = dataclasses.replace(clinician("nora", shift=(0, 1000)), **vehicle)
    with pytest.raises(ProblemError) as refused:
        Problem([nora], [dataclasses.replace(visit("a", 1), **job)], road(0, 5))
    assert refused.value.field == field


def test_a_negative_disruption_cost_is_refused():
    with pytest.raises(ProblemError) as refused:
        Disruption(move_cost=-1)
    assert refused.value.field == "disruption.move_cost"


# --- large days by parts ------------------------------------------------------------------


@pytest.fixture
def parts_above_150(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plan by parts from 150 visits, so a day the tests can afford takes that path."""
    monkeypatch.setattr(decompose, "DECOMPOSE_ABOVE", 150)


@pytest.mark.usefixtures("parts_above_150")
def test_a_large_day_is_planned_by_parts_feasibly_with_every_constraint_checked():
    problem = home_health_day(DayShape(visits=200, clinicians=20), seed=3)
    solution = solve(problem, time_limit=20)
    assert check_solution(problem, solution) == []
    served = len(problem.jobs) - len(solution.unassigned)
    assert served >= 0.97 * len(problem.jobs), f"{served} of {len(problem.jobs)} served"
    assert all(len(route.breaks) == 1 for route in solution.routes if route.stops)
    # Every improvement recorded came from the parts' searches, and the plan got better.
    curve = solution.stats.improvements
    assert len(curve) >= 2
    assert curve[-1][1] < curve[0][1]


@pytest.mark.usefixtures("parts_above_150")
def test_a_large_re_plan_by_parts_keeps_pins_and_starts_from_the_previous_plan():
    problem = home_health_day(DayShape(visits=180, clinicians=18), seed=4)
    before = solve(problem, time_limit=15)
    first = next(route for route in before.routes if len(route.stops) >= 2)
    pinned = {stop.job_id: stop.start for stop in first.stops[:2]}
    jobs = [dataclasses.replace(j, pinned_to=first.vehicle_id, window_start=pinned[j.id],
                                window_end=pinned[j.id]) if j.id in pinned else j for j in problem.jobs]
    again = Problem(problem.vehicles, jobs, problem.travel)
    after = solve(again, time_limit=8, initial=before, disruption=Disruption(move_cost=600))
    assert after.stats.warm_start
    assert check_solution(again, after) == []
    route = next(r for r in after.routes if r.vehicle_id == first.vehicle_id)
    assert route.job_ids[:2] == tuple(pinned)
    assert len(after.unassigned) <= len(before.unassigned)


def test_the_rest_of_the_day_pins_started_visits_and_plans_the_rest_from_then():
    problem = busy_day()
    before = solve(problem, time_limit=1)
    followed = {r.vehicle_id: [(s.job_id, s.start) for s in r.stops] for r in before.routes}
    followed["gone"] = [("v0", 1)]  # a clinician no longer in the day: ignored
    at = 40
    rest = as_of(problem, followed, at)
    started = {s.job_id for r in before.routes for s in r.stops if s.start < at}
    assert rest.pinned == started
    after = solve(rest.problem, time_limit=1, initial=before)
    assert check_solution(rest.problem, after) == []
    for route in after.routes:
        for stop in route.stops:
            assert stop.job_id in started or stop.start >= at
