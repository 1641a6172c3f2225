"""What grading takes in (the host's facts, the limits) and gives back (reports): plain,
JSON-able dataclasses. The caller builds them from its configuration; the sandbox reads none."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["passed", "failed", "error", "timed_out"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "error", "timed_out")


class SandboxUnavailable(RuntimeError):
    """Nothing of the submission ran, and it must never run unconfined instead.

    `permanent`: this machine offers no isolation at all (the probe failed), so grading
    refuses until the machine changes; otherwise this one run did not start (a fork refused
    on a loaded machine, bwrap failing once), and a later run may well work.
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SandboxHost:
    """Where and as whom submissions run on this machine, as its operator configured it.

    bwrap and python are absolute paths (the system interpreter, never the project's
    virtualenv); user is the unprivileged account a root worker runs submissions as;
    hidden are host paths that must be invisible inside (the project and its virtualenv),
    which the probe's self-test checks along with the system's own configuration.
    """

    bwrap: str = "/usr/bin/bwrap"
    python: str = "/usr/bin/python3"
    user: str = "ferry-sandbox"
    hidden: tuple[Path, ...] = ()


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one grading run.

    cpu_s, memory_mb, processes and file_size_mb apply to every test's process (kernel
    rlimits); wall_s bounds the whole run; output_kb bounds each test's captured output
    and the overall diagnostics; tmp_mb is the size of the sandbox's only writable
    directory (/tmp, a fresh tmpfs).
    """

    cpu_s: int = 5
    wall_s: int = 10
    memory_mb: int = 256
    processes: int = 16
    file_size_mb: int = 4
    output_kb: int = 64
    tmp_mb: int = 16

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SandboxLimits.{f.name} must be a positive integer, not {value!r}")
        if self.memory_mb < 16:
            raise ValueError("SandboxLimits.memory_mb must be at least 16: the interpreter needs it")
        if self.processes < 2:
            raise ValueError("SandboxLimits.processes must be at least 2: the harness and one test")

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TestOutcome:
    """One test function's result.

    output is what the test printed followed by the failure's traceback, truncated;
    reason is a one-line summary for anything but "passed" (for example
    "AssertionError: expected 3" or "memory limit exceeded (256 MB)").
    """

    __test__ = False  # not a pytest test class, despite the name

    name: str
    status: Status
    output: str
    duration_ms: int
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GradeReport:
    """The result of grading one submission.

    status is "passed" when every test passed, "failed" when a test's assertion failed,
    "error" when the submission or the tests could not run (syntax error, exception,
    crash, memory/file/process limit) and "timed_out" when a CPU or wall-clock limit
    was hit; when several apply, timed_out > error > failed. output is the overall
    diagnosis (a summary, or the traceback of an import error), truncated.
    """

    status: Status
    tests: list[TestOutcome]
    duration_ms: int
    output: str
    isolation: str
    limits: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (primitives only), for storing the attempt in Postgres."""
        return {
            "status": self.status,
            "tests": [t.to_dict() for t in self.tests],
            "duration_ms": self.duration_ms,
            "output": self.output,
            "isolation": self.isolation,
            "limits": dict(self.limits),
        }
