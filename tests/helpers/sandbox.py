"""Grading in a stand-in worker: a forked process that calls grade() like a Celery prefork
child would, and tells the test what it got and what it left behind.

The stand-in is a child subreaper, so anything the sandbox might leave running (however it
double-forked or daemonised) is re-parented to it and shows up as its descendant.
"""

from __future__ import annotations

import ctypes
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.learning.grading import sandbox_host
from core.learning.sandbox import GradeReport, SandboxLimits, TestOutcome, grade

PR_SET_CHILD_SUBREAPER = 36

# Small limits keep the suite fast and gentle on a shared two-core machine.
# The wall-clock limit is generous: it only bounds a run when something else went wrong.
FAST = SandboxLimits(cpu_s=1, wall_s=15, memory_mb=128, processes=8, file_size_mb=1, output_kb=8, tmp_mb=4)
# This machine's sandbox, as the settings describe it (the project and its virtualenv hidden).
HOST = sandbox_host()


@dataclass(frozen=True)
class WorkerResult:
    """What the stand-in worker saw: its report, and whether it and its machine came out clean."""

    report: GradeReport
    exit_status: int
    leftovers: list[str]  # "pid state command" of descendants still present after grade()


def descendants(root: int) -> list[str]:
    """Processes below `root` (from /proc), as "pid state command"."""
    parents: dict[int, int] = {}
    lines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        command, rest = stat[stat.index("(") + 1: stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        parents[int(entry.name)] = int(rest[1])
        lines[int(entry.name)] = f"{entry.name} {rest[0]} {command}"
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += [lines[pid] for pid in children]
        frontier += children
    return found


def worker_main(source: str, tests: str, limits: SandboxLimits, write_fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    report = grade(source, tests, limits, HOST)
    result = {"report": report.to_dict(), "leftovers": descendants(os.getpid())}
    data = json.dumps(result).encode()
    while data:
        data = data[os.write(write_fd, data):]


def report_from_dict(data: dict[str, Any]) -> GradeReport:
    tests = [TestOutcome(**t) for t in data.pop("tests")]
    return GradeReport(tests=tests, **data)


def grade_in_worker(source: str, tests: str, limits: SandboxLimits = FAST) -> WorkerResult:
    """grade() in a forked stand-in worker; the payload round-trips through JSON on the way back."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the stand-in worker
        status = 1
        try:
            os.close(read_fd)
            worker_main(source, tests, limits, write_fd)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        payload = pipe.read()
    _, wait_status = os.waitpid(pid, 0)
    result = json.loads(payload) if payload else {"report": None, "leftovers": []}
    assert result["report"] is not None, f"the worker died (wait status {wait_status})"
    return WorkerResult(report_from_dict(result["report"]), os.waitstatus_to_exitcode(wait_status),
                        result["leftovers"])


def outcome(report: GradeReport, name: str) -> TestOutcome:
    return next(t for t in report.tests if t.name == name)
