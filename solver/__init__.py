"""Vehicle routing for Ferry's Optimize Day: clinicians, visits, time windows, skills, shifts.

Pure Python over OR-Tools; imports nothing of the project and nothing of Django.
See docs/solver.md for usage and benchmark figures, ADR 0005 for the search strategy.
"""

from __future__ import annotations

from solver.feasibility import (
    InfeasibleSolutionError,
    Violation,
    ViolationKind,
    assert_feasible,
    check_solution,
)
from solver.matrix import haversine_matrix, truncated_euclidean_matrix
from solver.model import Break, Disruption, Job, JobId, Problem, ProblemError, Vehicle, VehicleId
from solver.search import solve
from solver.solution import (
    Route,
    SearchStats,
    Solution,
    Stop,
    TakenBreak,
    UnassignedJob,
    UnassignedReason,
)

__all__ = [
    "Break",
    "Disruption",
    "InfeasibleSolutionError",
    "Job",
    "JobId",
    "Problem",
    "ProblemError",
    "Route",
    "SearchStats",
    "Solution",
    "Stop",
    "TakenBreak",
    "UnassignedJob",
    "UnassignedReason",
    "Vehicle",
    "VehicleId",
    "Violation",
    "ViolationKind",
    "assert_feasible",
    "check_solution",
    "haversine_matrix",
    "solve",
    "truncated_euclidean_matrix",
]
