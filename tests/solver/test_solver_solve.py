"""solve() on small days whose best plans are known by hand."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from bench.solomon import read_instance
from solver import (
    Job,
    Problem,
    Solution,
    Stop,
    UnassignedReason,
    Vehicle,
    check_solution,
    haversine_matrix,
    solve,
)
from solver.screening import screen_jobs
from solver.warm_start import repair_plan
from tests.solver.solver_days import clinician, road, solomon_dir, three_stops_in_a_row, visit

QUICK = 0.3  # seconds: plenty for these tiny days, whose optimum is found in milliseconds


def routes_by_vehicle(solution: Solution) -> dict[object, tuple[object, ...]]:
    return {route.vehicle_id: route.job_ids for route in solution.routes}


def reasons(solution: Solution) -> dict[object, UnassignedReason]:
    return {item.job_id: item.reason for item in solution.unassigned}


def test_windows_force_the_only_optimal_order_with_exact_times():
    solution = solve(three_stops_in_a_row(), time_limit=QUICK)

    (route,) = solution.routes
    assert route.job_ids == ("ann", "ben", "cy")
    assert route.stops == (
        Stop("ann", arrival=10, wait=0, start=10, departure=15),
        Stop("ben", arrival=25, wait=0, start=25, departure=30),
        Stop("cy", arrival=40, wait=60, start=100, departure=105),
    )
    assert (route.departure, route.arrival, route.travel) == (0, 135, 60)
    assert solution.total_travel == 60
    assert solution.unassigned == ()


def test_clinician_leaves_just_in_time_for_a_late_first_visit():
    problem = Problem([clinician("omar")], [visit("dee", 1, (300, 400))], road(0, 10))

    (route,) = solve(problem, time_limit=QUICK).routes

    assert route.departure == 290
    assert route.stops == (Stop("dee", arrival=300, wait=0, start=300, departure=305),)
    assert route.arrival == 315


def test_two_clusters_go_to_two_clinicians_when_each_can_make_two_visits():
    # Office at mile 0; two patients west (-10, -12) and two east (10, 12).
    problem = Problem(
        [clinician("nora", max_visits=2), clinician("omar", max_visits=2)],
        [visit("w1", 1), visit("w2", 2), visit("e1", 3), visit("e2", 4)],
        road(0, -10, -12, 10, 12),
    )

    solution = solve(problem, time_limit=QUICK)

    assert solution.total_travel == 48
    assert {frozenset(r.job_ids) for r in solution.routes} == {
        frozenset({"w1", "w2"}),
        frozenset({"e1", "e2"}),
    }


def test_skilled_visit_goes_to_the_clinician_with_the_skill():
    problem = Problem(
        [clinician("omar"), clinician("nora", "wound")],
        [visit("dressing", 1, (0, 1000), 30, "wound"), visit("checkup", 1)],
        road(0, 10),
    )

    solution = solve(problem, time_limit=QUICK)

    assert "dressing" in routes_by_vehicle(solution)["nora"]
    assert check_solution(problem, solution) == []


def test_visit_no_clinician_is_skilled_for_is_unassigned_for_lack_of_skill():
    problem = Problem(
        [clinician("omar"), clinician("nora", "wound")],
        [visit("infusion", 1, (0, 1000), 30, "iv", "wound"), visit("checkup", 1)],
        road(0, 10),
    )

    solution = solve(problem, time_limit=QUICK)

    (item,) = solution.unassigned
    assert (item.job_id, item.reason) == ("infusion", UnassignedReason.NO_SKILL)
    assert "iv" in item.message
    assert solution.assigned_job_ids == {"checkup"}


def test_window_no_shift_can_reach_is_unassigned_as_unreachable():
    problem = Problem(
        [clinician("omar", shift=(0, 100))],
        [visit("too-early", 1, (0, 3)), visit("after-hours", 1, (200, 300))],
        road(0, 5),
    )

    solution = solve(problem, time_limit=QUICK)

    assert reasons(solution) == {
        "too-early": UnassignedReason.WINDOW_UNREACHABLE,
        "after-hours": UnassignedReason.WINDOW_UNREACHABLE,
    }


def test_demand_above_every_capacity_is_unassigned_as_over_capacity():
    problem = Problem(
        [clinician("omar", capacity=10)],
        [visit("oxygen", 1, demand=20), visit("checkup", 1, demand=5)],
        road(0, 5),
    )

    solution = solve(problem, time_limit=QUICK)

    assert reasons(solution) == {"oxygen": UnassignedReason.OVER_CAPACITY}


def test_over_full_day_drops_the_lowest_priority_visit():
    # Two 40-minute visits fit in Omar's 100-minute shift (5 + 40 + 40 + 5); three do not.
    problem = Problem(
        [clinician("omar", shift=(0, 100))],
        [
            visit("low", 1, duration=40, priority=1),
            visit("high", 1, duration=40, priority=3),
            visit("mid", 1, duration=40, priority=2),
        ],
        road(0, 5),
    )

    solution = solve(problem, time_limit=QUICK)

    assert reasons(solution) == {"low": UnassignedReason.DROPPED}
    assert solution.assigned_job_ids == {"high", "mid"}


def test_one_higher_priority_visit_outweighs_any_number_of_lower_ones():
    # Either the 80-minute visit or the three 25-minute visits fit, not both.
    problem = Problem(
        [clinician("omar", shift=(0, 100))],
        [
            visit("long", 1, duration=80, priority=2),
            *(visit(f"short{k}", 1, duration=25, priority=1) for k in range(3)),
        ],
        road(0, 5),
    )

    solution = solve(problem, time_limit=QUICK)

    assert solution.assigned_job_ids == {"long"}
    assert set(reasons(solution).values()) == {UnassignedReason.DROPPED}


def test_a_day_without_clinicians_returns_every_visit_unassigned():
    problem = Problem([], [visit("checkup", 1)], road(0, 5))

    solution = solve(problem, time_limit=QUICK)

    assert solution.routes == ()
    assert reasons(solution) == {"checkup": UnassignedReason.NO_SKILL}
    assert solution.stats.status == "trivial"


def test_solution_survives_a_json_round_trip():
    solution = solve(three_stops_in_a_row(), time_limit=QUICK)

    data = json.loads(json.dumps(solution.to_dict()))

    assert Solution.from_dict(data) == solution
    assert data["unassigned"] == []
    assert data["routes"][0]["stops"][2] == {
        "job_id": "cy",
        "arrival": 40,
        "wait": 60,
        "start": 100,
        "departure": 105,
    }


def small_solomon(name: str, customers: int) -> Problem:
    problem = read_instance(solomon_dir() / f"{name}.txt").problem
    return Problem(problem.vehicles, problem.jobs[:customers], problem.travel)


def test_fixed_seed_and_solution_limit_give_identical_routes():
    problem = small_solomon("R101", 30)

    first = solve(problem, time_limit=30, seed=7, solution_limit=800)
    second = solve(problem, time_limit=30, seed=7, solution_limit=800)

    assert first.stats.stopped_by == "solutions"
    assert routes_by_vehicle(first) == routes_by_vehicle(second)
    assert first.stats.objective == second.stats.objective


def test_search_returns_within_its_time_limit_plus_a_small_margin():
    problem = read_instance(solomon_dir() / "R101.txt").problem

    started = time.monotonic()
    solution = solve(problem, time_limit=1.0)
    elapsed = time.monotonic() - started

    assert elapsed < 1.25
    assert solution.stats.stopped_by == "time"
    assert check_solution(problem, solution) == []


def test_two_workers_search_in_parallel_and_return_a_checked_plan():
    problem = small_solomon("RC105", 50)

    started = time.monotonic()
    solution = solve(problem, time_limit=2.0, workers=2)

    # The worker process's start-up (a fork server importing OR-Tools, the first time)
    # comes out of the same 2 s; a late worker gets 0.5 s of grace, then is dropped.
    assert time.monotonic() - started < 2.0 + 0.5 + 0.2
    assert solution.stats.workers == 2
    assert solution.unassigned == ()


def test_warm_start_keeps_the_previous_plan_and_inserts_a_new_visit():
    day = three_stops_in_a_row()
    previous = solve(day, time_limit=QUICK)
    extra = visit("dot", 2, (0, 1000))
    problem = Problem(day.vehicles, [*day.jobs, extra], day.travel)

    plan = repair_plan(problem, screen_jobs(problem), previous)
    solution = solve(problem, time_limit=QUICK, initial=previous)

    (route,) = [[problem.jobs[j].id for j in route] for route in plan]
    assert [name for name in route if name != "dot"] == ["ann", "ben", "cy"]  # old order kept
    assert "dot" in route
    assert solution.stats.warm_start
    assert solution.total_travel == 60  # Dot lives at Ben's mile marker: no extra travel


def test_warm_start_drops_vanished_visits_and_those_a_moved_window_breaks():
    day = three_stops_in_a_row()
    previous = solve(day, time_limit=QUICK)
    ann, ben, _cy = day.jobs
    problem = Problem(
        day.vehicles,
        # Cy cancelled; Ben now must be seen by 22, which no order with Ann allows.
        [ann, replace(ben, window_start=0, window_end=22)],
        day.travel,
    )

    plan = repair_plan(problem, screen_jobs(problem), previous)
    solution = solve(problem, time_limit=QUICK, initial=previous)

    assert [[problem.jobs[j].id for j in route] for route in plan] == [["ann"]]
    assert reasons(solution) == {"ben": UnassignedReason.DROPPED}


def test_clinicians_starting_from_home_take_the_visits_near_their_homes():
    # Nora lives at mile 100 and Omar at mile -100; both finish at the office (mile 0).
    problem = Problem(
        [
            Vehicle("nora", start_location=1, end_location=0, shift_start=0, shift_end=500),
            Vehicle("omar", start_location=2, end_location=0, shift_start=0, shift_end=500),
        ],
        [visit("east", 3), visit("west", 4)],
        road(0, 100, -100, 90, -90),
    )

    solution = solve(problem, time_limit=QUICK)

    assert routes_by_vehicle(solution) == {"nora": ("east",), "omar": ("west",)}
    assert solution.total_travel == 200


def test_a_dispatch_day_in_seconds_since_midnight_from_coordinates():
    office, homes = (39.9526, -75.1652), [(39.9610, -75.1500), (39.9400, -75.1800)]
    points = [office, *homes, (39.9700, -75.1400)]
    travel = haversine_matrix(points, speed_kmh=30, detour_factor=1.3)
    eight, noon, five = 8 * 3600, 12 * 3600, 17 * 3600
    problem = Problem(
        [
            Vehicle("nora", 0, eight, five, skills=frozenset({"wound"})),
            Vehicle("omar", 0, eight, five),
        ],
        [
            Job(101, 1, eight, noon, 45 * 60, frozenset({"wound"}), priority=2),
            Job(102, 2, noon, five - 3600, 30 * 60),
            Job(103, 3, eight, noon, 60 * 60),
        ],
        travel,
    )

    solution = solve(problem, time_limit=QUICK)

    assert check_solution(problem, solution) == []
    assert solution.assigned_job_ids == {101, 102, 103}
    assert 101 in routes_by_vehicle(solution)["nora"]
    assert Solution.from_dict(json.loads(json.dumps(solution.to_dict()))) == solution
