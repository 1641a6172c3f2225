"""The grading sandbox: run a learner's Python against a problem's tests, confined (adr/0011).

A port: it knows nothing of Django, settings or the rest of Ferry (an import-linter
contract keeps it so). The caller says where and as whom submissions run (SandboxHost) and
within which limits (SandboxLimits):

    sandbox = Sandbox(SandboxHost(hidden=(project_dir,)), SandboxLimits(wall_s=10))
    report = sandbox.grade(source, tests)    # GradeReport; never raises for hostile code
    report.to_dict()                         # JSON-able, for the attempt row

grade() raises SandboxUnavailable, and runs nothing, when the host offers no isolation
(isolation_available(host) is None; `permanent`) or when one run could not start (not
`permanent`): untrusted code never runs unconfined. docs/sandbox.md says what a machine or
container needs. discover_tests() is the one rule for which tests a problem has.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.learning.sandbox.harness import UnrunnableTests, discover_tests
from core.learning.sandbox.probe import isolation_available, require_isolation
from core.learning.sandbox.reports import GradeReport, SandboxHost, SandboxLimits, SandboxUnavailable, TestOutcome
from core.learning.sandbox.runner import run_harness

__all__ = [
    "GradeReport",
    "Sandbox",
    "SandboxHost",
    "SandboxLimits",
    "SandboxUnavailable",
    "TestOutcome",
    "UnrunnableTests",
    "discover_tests",
    "grade",
    "isolation_available",
]


def grade(source: str, tests: str, limits: SandboxLimits, host: SandboxHost) -> GradeReport:
    """Run the test_* functions of `tests` against `source` (importable as `solution`).

    Blocks for at most about limits.wall_s plus a few seconds, and returns only after the
    sandbox and every process in it are gone. Every outcome of the submission (failure,
    crash, limit, hostility) is a GradeReport; SandboxUnavailable means nothing ran.
    """
    mechanism, environment = require_isolation(host)
    return run_harness(environment, source, tests, limits, mechanism)


@dataclass(frozen=True)
class Sandbox:
    """A grader bound to one host and one set of limits (core.learning.grading.Grader)."""

    host: SandboxHost
    limits: SandboxLimits

    def grade(self, source: str, tests: str) -> GradeReport:
        return grade(source, tests, self.limits, self.host)

    def isolation(self) -> str | None:
        return isolation_available(self.host)
