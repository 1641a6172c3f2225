"""Input validation, travel matrices and the Solomon reader."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace

import numpy as np
import pytest

from bench.solomon import SCALE, instance_class, read_best_known, read_instance
from solver import Job, Problem, ProblemError, Vehicle, haversine_matrix, truncated_euclidean_matrix
from solver.ortools_model import drop_penalties
from tests.solver.solver_days import solomon_dir


def field_of(error: pytest.ExceptionInfo[ProblemError]) -> str:
    return error.value.field


@pytest.fixture
def omar() -> Vehicle:
    return Vehicle("omar", start_location=0, shift_start=0, shift_end=600)


@pytest.fixture
def checkup() -> Job:
    return Job("checkup", location=1, window_start=100, window_end=200, duration=30)


def test_a_window_that_closes_before_it_opens_is_rejected(omar, checkup):
    with pytest.raises(ProblemError, match=r"closes .* before it opens") as error:
        Problem([omar], [replace(checkup, window_end=50)], [[0, 5], [5, 0]])
    assert field_of(error) == "jobs[0].window_end"


def test_a_negative_duration_is_rejected(omar, checkup):
    with pytest.raises(ProblemError) as error:
        Problem([omar], [replace(checkup, duration=-1)], [[0, 5], [5, 0]])
    assert field_of(error) == "jobs[0].duration"


def test_a_matrix_of_the_wrong_size_is_rejected(omar, checkup):
    with pytest.raises(ProblemError, match="3 columns") as error:
        Problem([omar], [checkup], [[0, 5, 1], [5, 0, 1]])
    assert field_of(error) == "travel[0]"


def test_a_location_outside_the_matrix_is_rejected(omar, checkup):
    with pytest.raises(ProblemError) as error:
        Problem([omar], [replace(checkup, location=2)], [[0, 5], [5, 0]])
    assert field_of(error) == "jobs[0].location"


def test_negative_or_fractional_travel_times_are_rejected(omar, checkup):
    with pytest.raises(ProblemError, match="negative"):
        Problem([omar], [checkup], [[0, -5], [5, 0]])
    with pytest.raises(ProblemError, match="integers"):
        Problem([omar], [checkup], [[0, 5.5], [5, 0]])  # type: ignore[list-item]  # on purpose


def test_a_shift_that_ends_before_it_starts_is_rejected(omar, checkup):
    with pytest.raises(ProblemError) as error:
        Problem([replace(omar, shift_end=-1)], [checkup], [[0, 5], [5, 0]])
    assert field_of(error) == "vehicles[0].shift_end"


def test_a_shift_too_short_to_reach_the_end_location_is_rejected(omar):
    with pytest.raises(ProblemError, match="shorter than"):
        Problem([replace(omar, end_location=1, shift_end=3)], [], [[0, 5], [5, 0]])


def test_duplicate_ids_are_rejected(omar, checkup):
    with pytest.raises(ProblemError) as error:
        Problem([omar], [checkup, checkup], [[0, 5], [5, 0]])
    assert field_of(error) == "jobs[1].id"


def test_a_numpy_matrix_is_accepted_as_plain_integers(omar, checkup):
    problem = Problem([omar], [checkup], np.array([[0, 5], [5, 0]], dtype=np.int64))
    assert problem.travel == ((0, 5), (5, 0))
    assert type(problem.travel[0][1]) is int


def test_haversine_matrix_gives_whole_seconds_rounded_up():
    office, north = (40.0, -75.0), (41.0, -75.0)  # one degree of latitude, about 111.2 km

    matrix = haversine_matrix([office, north], speed_kmh=60)

    assert matrix[0][0] == 0
    assert matrix[0][1] == matrix[1][0] == math.ceil(111.195 * 60)
    assert haversine_matrix([office, north], 60, detour_factor=1.5)[0][1] > matrix[0][1]


def test_truncated_euclidean_matrix_truncates_to_one_decimal():
    matrix = truncated_euclidean_matrix([(0, 0), (3, 4), (1, 1)])
    assert matrix[0][1] == 50  # exactly 5.0
    assert matrix[0][2] == 14  # 1.41421... truncated to 1.4
    assert matrix[2][1] == 36  # sqrt(13) = 3.6055... truncated to 3.6


def test_a_solomon_instance_is_read_and_scaled():
    instance = read_instance(solomon_dir() / "C101.txt")
    problem = instance.problem

    assert (instance.name, instance.vehicle_count, instance.capacity) == ("C101", 25, 200)
    assert len(problem.jobs) == 100
    assert len(problem.vehicles) == 25
    first = problem.jobs[0]  # customer 1: (45, 68), window 912-967, service 90
    assert (first.id, first.window_start, first.window_end, first.duration, first.demand) == (
        1,
        912 * SCALE,
        967 * SCALE,
        90 * SCALE,
        10,
    )
    assert problem.travel[0][1] == math.isqrt((45 - 40) ** 2 * 100 + (68 - 50) ** 2 * 100)
    assert problem.vehicles[0].shift_end == 1236 * SCALE


def test_best_known_file_and_class_names_are_read():
    best = read_best_known(solomon_dir() / "bks.csv")
    assert best["RC208"].distance == pytest.approx(776.1)
    assert [instance_class(n) for n in ("C101", "RC208", "R211", "C1_2_1")] == [
        "C1",
        "RC2",
        "R2",
        "C1",
    ]


def test_an_instance_named_in_lower_case_in_any_directory_reads_the_same(tmp_path):
    copy = tmp_path / "r105"
    shutil.copy(solomon_dir() / "R105.txt", copy)
    assert read_instance(copy).problem == read_instance(solomon_dir() / "R105.txt").problem


def test_drop_penalties_stay_ordered_and_within_int64_with_many_priority_levels():
    jobs = [Job(k, 0, 0, 10, priority=k) for k in range(70)]

    penalties = drop_penalties(jobs, max_travel_cost=10**6, vehicle_count=5)

    assert penalties == sorted(penalties)
    assert len(set(penalties)) == 70
    assert sum(penalties) < 2**62


def test_drop_penalties_make_one_higher_priority_outweigh_all_lower_ones():
    jobs = [
        Job("a", 0, 0, 10, priority=1),
        Job("b", 0, 0, 10, priority=1),
        Job("c", 0, 0, 10, priority=5),
    ]

    low, _, high = drop_penalties(jobs, max_travel_cost=100, vehicle_count=1)

    assert high > 2 * low > low > 100 * (len(jobs) + 2)
