"""One grading run: put the harness and the files in a sandbox, read its events, build the report.

The harness (harness.py) is the only thing in the sandbox that writes to its stdout, and
the learner's code cannot reach it (see the harness's docstring), so its events are taken
as they come; they are still validated, because a crash of the harness must read as an
error, not as a pass.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.learning.sandbox import bubblewrap
from core.learning.sandbox.harness import MAX_TESTS
from core.learning.sandbox.reports import STATUSES, GradeReport, SandboxLimits, SandboxUnavailable, Status, TestOutcome

HARNESS_SOURCE = Path(__file__).with_name("harness.py")
MAX_SOURCE_BYTES = 1024 * 1024  # per file; far above any exercise, far below a memory problem
# How much one escaped character of output can weigh in the harness's JSON lines.
JSON_EXPANSION = 6
SEVERITY: dict[str, int] = {"passed": 0, "failed": 1, "error": 2, "timed_out": 3}


@dataclass
class Events:
    """The harness's events, gathered from its stdout."""

    ready: bool = False
    done: bool = False
    plan: list[str] = field(default_factory=list)
    tests: list[TestOutcome] = field(default_factory=list)
    abort: str | None = None
    malformed: str | None = None


def run_harness(env: bubblewrap.Environment, source: str, tests: str, limits: SandboxLimits,
                isolation: str) -> GradeReport:
    """Grade `source` against `tests` in a fresh sandbox built from `env`.

    Returns a report for anything the submission does; raises SandboxUnavailable only if the
    sandbox itself did not come up (nothing of the submission ran).
    """
    started = time.monotonic()
    files = sandbox_files(source, tests, limits)
    if isinstance(files, str):
        return error_report(files, limits, isolation, started)
    try:
        run = bubblewrap.run(env, files, [env.interpreter.executable, "-I", "-S", "-B", "/box/harness.py"],
                             tmp_bytes=limits.tmp_mb * 1024 * 1024, wall_s=limits.wall_s,
                             stdout_cap=stdout_cap(limits))
    except OSError as exc:
        raise SandboxUnavailable(f"bubblewrap could not be started: {exc}", permanent=False) from exc
    events = parse_events(run.stdout)
    if not events.ready:
        raise SandboxUnavailable("the sandbox did not start: " + diagnostics(run), permanent=False)
    return build_report(events, run, limits, isolation, elapsed_ms(started))


def sandbox_files(source: str, tests: str, limits: SandboxLimits) -> dict[str, bytes] | str:
    """The files for /box, or why they cannot be made."""
    # surrogatepass keeps a broken submission broken: Python then reports it as invalid UTF-8.
    solution, test_source = source.encode("utf-8", "surrogatepass"), tests.encode("utf-8", "surrogatepass")
    for what, data in (("submission", solution), ("tests", test_source)):
        if len(data) > MAX_SOURCE_BYTES:
            return f"The {what} is too large ({len(data)} bytes; the limit is {MAX_SOURCE_BYTES})."
    return {
        "/box/harness.py": HARNESS_SOURCE.read_bytes(),
        "/box/config.json": json.dumps(limits.to_dict()).encode(),
        "/box/src/solution.py": solution,
        "/box/src/grading_tests.py": test_source,
    }


def stdout_cap(limits: SandboxLimits) -> int:
    """A bound on everything the harness can legitimately say (it truncates each output)."""
    per_test = limits.output_kb * 1024 * JSON_EXPANSION + 4096
    return (MAX_TESTS + 2) * per_test + 65536


def parse_events(stdout: bytes) -> Events:
    events = Events()
    for line in stdout.splitlines():
        try:
            apply_event(events, json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            events.malformed = f"malformed harness output ({exc!r:.200})"
            break
    return events


def apply_event(events: Events, event: dict[str, Any]) -> None:
    kind = event["event"]
    if kind == "ready":
        events.ready = True
    elif kind == "plan":
        events.plan = [str(name) for name in event["tests"]]
    elif kind == "test":
        events.tests.append(test_outcome(event))
    elif kind == "abort":
        events.abort = str(event["output"])
    elif kind == "done":
        events.done = True
    else:
        raise ValueError(f"unknown event {kind!r}")


def test_outcome(event: dict[str, Any]) -> TestOutcome:
    status = event["status"]
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    return TestOutcome(name=str(event["name"]), status=status, output=str(event["output"]),
                       duration_ms=int(event["duration_ms"]), reason=str(event["reason"]))


def build_report(events: Events, run: bubblewrap.SandboxRun, limits: SandboxLimits, isolation: str,
                 duration_ms: int) -> GradeReport:
    tests = complete_tests(events, run, limits)
    if run.killed_at_deadline:
        status: Status = "timed_out"
        output = f"Wall-clock limit exceeded ({limits.wall_s} s); the sandbox was stopped."
    elif events.malformed or not events.done:
        status = "error"
        output = "The grading harness stopped unexpectedly: " + (events.malformed or diagnostics(run))
    elif events.abort is not None:
        status = worst(tests, default="error")
        output = events.abort
    elif not tests:
        status, output = "error", "No tests were run."
    else:
        status, output = worst(tests, default="passed"), summary(tests)
    return GradeReport(status=status, tests=tests, duration_ms=duration_ms,
                       output=truncate(output, limits), isolation=isolation, limits=limits.to_dict())


def complete_tests(events: Events, run: bubblewrap.SandboxRun, limits: SandboxLimits) -> list[TestOutcome]:
    """The reported tests, plus planned ones the harness never got to (it was stopped)."""
    reported = {t.name for t in events.tests}
    status: Status = "timed_out" if run.killed_at_deadline else "error"
    reason = f"not run: wall-clock limit exceeded ({limits.wall_s} s)" if run.killed_at_deadline else "not run"
    missing = [TestOutcome(name, status, "", 0, reason) for name in events.plan if name not in reported]
    return [*events.tests, *missing]


def worst(tests: list[TestOutcome], default: Status) -> Status:
    """The most severe status among the tests: timed_out > error > failed > passed."""
    statuses = [t.status for t in tests]
    return max(statuses, key=SEVERITY.__getitem__) if statuses else default


def summary(tests: list[TestOutcome]) -> str:
    counts = {s: sum(t.status == s for t in tests) for s in STATUSES}
    if counts["passed"] == len(tests):
        return f"All {len(tests)} tests passed." if len(tests) > 1 else "The test passed."
    plural = "s" if len(tests) > 1 else ""
    head = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n) + f" (of {len(tests)} test{plural})."
    return "\n".join([head, *(f"{t.name}: {t.reason or t.status}" for t in tests if t.status != "passed")])


def diagnostics(run: bubblewrap.SandboxRun) -> str:
    stderr = run.stderr.decode("utf-8", "replace").strip()
    return f"exit status {run.returncode}" + (f": {stderr[-2000:]}" if stderr else "")


def truncate(text: str, limits: SandboxLimits) -> str:
    limit = limits.output_kb * 1024
    return text if len(text) <= limit else text[:limit] + f"\n[output truncated at {limits.output_kb} KB]"


def error_report(output: str, limits: SandboxLimits, isolation: str, started: float) -> GradeReport:
    return GradeReport(status="error", tests=[], duration_ms=elapsed_ms(started), output=output,
                       isolation=isolation, limits=limits.to_dict())


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
