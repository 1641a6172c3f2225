"""The feasibility checker flags each kind of broken solution, and nothing in a good one."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from solver import (
    InfeasibleSolutionError,
    Problem,
    Route,
    SearchStats,
    Solution,
    Stop,
    UnassignedJob,
    UnassignedReason,
    ViolationKind,
    assert_feasible,
    check_solution,
)
from tests.solver.solver_days import clinician, road, visit

STATS = SearchStats(0, None, 0.0, "solved", "time", 1, 0, False)


@pytest.fixture
def day() -> Problem:
    """Nora (wound care, capacity 10, three visits at most) and Omar, on one road."""
    return Problem(
        [
            clinician("nora", "wound", shift=(0, 200), capacity=10, max_visits=3),
            clinician("omar", shift=(0, 200)),
        ],
        [
            visit("ann", 1, (0, 50), 5, "wound", demand=4),
            visit("ben", 2, (20, 60), 10, demand=4),
            visit("cy", 1, (0, 100), 5),
        ],
        road(0, 10, 20),
    )


@pytest.fixture
def good(day) -> Solution:
    """Nora sees Ann then Ben; Omar sees Cy."""
    nora = Route(
        "nora",
        departure=0,
        stops=(
            Stop("ann", arrival=10, wait=0, start=10, departure=15),
            Stop("ben", arrival=25, wait=0, start=25, departure=35),
        ),
        arrival=55,
        travel=40,
    )
    omar = Route("omar", 0, (Stop("cy", 10, 0, 10, 15),), 25, 20)
    return Solution((nora, omar), (), 60, STATS)


def with_route(solution: Solution, index: int, **changes: Any) -> Solution:
    routes = list(solution.routes)
    routes[index] = replace(routes[index], **changes)
    return replace(solution, routes=tuple(routes))


def with_stop(solution: Solution, route: int, stop: int, **changes: Any) -> Solution:
    stops = list(solution.routes[route].stops)
    stops[stop] = replace(stops[stop], **changes)
    return with_route(solution, route, stops=tuple(stops))


def kinds(problem: Problem, solution: Solution) -> set[ViolationKind]:
    return {violation.kind for violation in check_solution(problem, solution)}


def test_a_correct_solution_has_no_violations(day, good):
    assert check_solution(day, good) == []
    assert_feasible(day, good)


def test_service_starting_after_the_window_closes_is_flagged(day, good):
    late = with_stop(good, 0, 1, arrival=61, start=61, departure=71)
    assert ViolationKind.TIME_WINDOW in kinds(day, late)


def test_service_starting_before_the_window_opens_is_flagged(day, good):
    early = with_stop(good, 0, 1, arrival=15, start=15, departure=25)
    assert ViolationKind.TIME_WINDOW in kinds(day, early)


def test_arriving_sooner_than_the_travel_time_allows_is_flagged(day, good):
    teleport = with_stop(good, 0, 0, arrival=5, wait=5)
    assert kinds(day, teleport) == {ViolationKind.TRAVEL_TIME}


def test_leaving_before_the_service_is_done_is_flagged(day, good):
    rushed = with_stop(good, 0, 1, departure=30)
    assert ViolationKind.SERVICE_TIME in kinds(day, rushed)


def test_wait_that_does_not_add_up_is_flagged(day, good):
    assert kinds(day, with_stop(good, 0, 0, wait=3)) == {ViolationKind.SERVICE_TIME}


def test_returning_after_the_shift_ends_is_flagged(day, good):
    assert kinds(day, with_route(good, 1, arrival=201)) == {ViolationKind.SHIFT}


def test_leaving_before_the_shift_starts_is_flagged(day, good):
    later_shift = Problem(
        [day.vehicles[0], replace(day.vehicles[1], shift_start=1)], day.jobs, day.travel
    )
    assert kinds(later_shift, good) == {ViolationKind.SHIFT}


def test_a_visit_needing_a_skill_the_clinician_lacks_is_flagged(day, good):
    # Swap the clinicians: Omar would do Ann's wound care.
    swapped = replace(
        good,
        routes=(
            replace(good.routes[0], vehicle_id="omar"),
            replace(good.routes[1], vehicle_id="nora"),
        ),
    )
    assert ViolationKind.SKILL in kinds(day, swapped)


def test_a_visit_made_twice_is_flagged(day, good):
    twice = with_route(good, 1, stops=(*good.routes[1].stops, Stop("cy", 25, 0, 25, 30)))
    assert ViolationKind.JOB_REPEATED in kinds(day, twice)


def test_a_visit_both_routed_and_unassigned_is_flagged(day, good):
    both = replace(good, unassigned=(UnassignedJob("cy", UnassignedReason.DROPPED, "full"),))
    assert kinds(day, both) == {ViolationKind.JOB_REPEATED}


def test_a_visit_neither_routed_nor_unassigned_is_flagged(day, good):
    forgotten = replace(with_route(good, 1, stops=(), arrival=0, travel=0), total_travel=40)
    assert kinds(day, forgotten) == {ViolationKind.JOB_MISSING}


def test_unknown_visits_and_clinicians_are_flagged(day, good):
    ghost_visit = with_stop(good, 1, 0, job_id="zed")
    ghost_clinician = with_route(good, 1, vehicle_id="zoe")
    assert ViolationKind.UNKNOWN_JOB in kinds(day, ghost_visit)
    assert ViolationKind.UNKNOWN_VEHICLE in kinds(day, ghost_clinician)


def test_exceeding_capacity_or_the_visit_limit_is_flagged(day, good):
    small = Problem(
        [replace(day.vehicles[0], capacity=7, max_visits=1), day.vehicles[1]], day.jobs, day.travel
    )
    assert {ViolationKind.CAPACITY, ViolationKind.MAX_VISITS} <= kinds(small, good)


def test_travel_totals_that_do_not_add_up_are_flagged(day, good):
    assert kinds(day, replace(good, total_travel=59)) == {ViolationKind.TOTALS}
    assert ViolationKind.TOTALS in kinds(day, with_route(good, 0, travel=39))


def test_a_lack_of_skill_reason_contradicted_by_a_skilled_clinician_is_flagged(day, good):
    wrong = replace(
        with_route(good, 0, stops=good.routes[0].stops[1:], travel=40),
        unassigned=(UnassignedJob("ann", UnassignedReason.NO_SKILL, "nobody"),),
    )
    assert ViolationKind.REASON in kinds(day, wrong)


def test_assert_feasible_raises_with_every_violation_listed(day, good):
    broken = replace(good, total_travel=1)
    with pytest.raises(InfeasibleSolutionError) as caught:
        assert_feasible(day, broken)
    assert [v.kind for v in caught.value.violations] == [ViolationKind.TOTALS]
