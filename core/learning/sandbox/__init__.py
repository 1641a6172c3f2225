"""The grading sandbox: run a learner's Python against a problem's tests, confined (adr/0011).

    report = grade(source, tests)            # GradeReport; never raises for hostile code
    report.to_dict()                         # JSON-able, for the attempt row

grade() raises SandboxUnavailable, and runs nothing, when this machine offers no isolation
(isolation_available() is None): untrusted code never runs unconfined. docs/sandbox.md
says what a machine or container needs.
"""

from __future__ import annotations

from core.learning.sandbox.probe import isolation_available, require_isolation
from core.learning.sandbox.reports import GradeReport, SandboxLimits, SandboxUnavailable, TestOutcome
from core.learning.sandbox.runner import run_harness

__all__ = [
    "GradeReport",
    "SandboxLimits",
    "SandboxUnavailable",
    "TestOutcome",
    "grade",
    "isolation_available",
]


def grade(source: str, tests: str, limits: SandboxLimits | None = None) -> GradeReport:
    """Run the test_* functions of `tests` against `source` (importable as `solution`).

    Blocks for at most about limits.wall_s plus a few seconds, and returns only after the
    sandbox and every process in it are gone. Every outcome of the submission (failure,
    crash, limit, hostility) is a GradeReport; SandboxUnavailable means nothing ran.
    """
    limits = limits or SandboxLimits.from_settings()
    mechanism, environment = require_isolation()
    return run_harness(environment, source, tests, limits, mechanism)
