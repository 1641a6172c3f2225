"""The grading harness: runs INSIDE the sandbox, as its PID 1, under the system interpreter.

Standard library only: neither Ferry, Django nor the project's virtualenv is visible in
the sandbox. The host (runner.py) puts these read-only files in /box:

    /box/harness.py            this file
    /box/config.json           the limits (SandboxLimits.to_dict())
    /box/src/solution.py       the learner's submission, importable as `solution`
    /box/src/grading_tests.py  the problem's tests: plain `def test_*():` functions using assert

Trust (adr/0011). This process is trusted: the learner's code never runs in it. Each test
runs in a fresh child forked from it, which lowers its rlimits, imports the submission and
the tests and calls one test function. Nothing in a child can reach this process:

- as PID 1 of the sandbox's PID namespace it receives no signal from inside the namespace
  unless it installed a handler (SIGKILL included), and it installs none;
- it is not dumpable, so no ptrace, /proc/1/mem or /proc/1/fd from its children;
- its stdout, the only channel to the host, is not open in any child.

A child reports to it over a private pipe, each record carrying a random per-test token,
and a test counts as passed only if its child reported "passed" with that token and then
exited normally. Printed text is only ever captured output: no marker on stdout, no file
and no exit status makes a test pass. (Code that digs the token out of its own interpreter
could still forge its own result; see adr/0011 for why that is accepted.)

Protocol to the host, one JSON object per line on stdout:

    {"event": "ready"}                                   harness is up, confinement applied
    {"event": "plan", "tests": [name, ...]}              tests found, in definition order
    {"event": "test", "name", "status", "reason", "output", "duration_ms"}   one per test
    {"event": "abort", "output"}                         the run stopped early (and why)
    {"event": "done"}                                    nothing follows
"""

from __future__ import annotations

import ast
import builtins
import ctypes
import errno
import importlib
import json
import os
import resource
import secrets
import selectors
import signal
import sys
import time
import traceback
import types
from dataclasses import dataclass, field
from typing import Any, NoReturn

CONFIG_FILE = "/box/config.json"
SRC_DIR = "/box/src"
TESTS_FILE = "/box/src/grading_tests.py"
SOLUTION_MODULE = "solution"
TESTS_MODULE = "grading_tests"
MAX_TESTS = 100
REPORT_FD = 3  # the child's end of its report pipe
NOFILE = 64  # open files per test process: plenty for exercises, few for mischief
MB = 1024 * 1024
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
# Frames of these files are harness machinery, not the learner's or the tests' code.
MACHINERY = (__file__, "<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")

# Bound before any untrusted code runs, so a submission that rebinds os._exit cannot make
# a test child fall back into the harness's loop.
_exit = os._exit


@dataclass(frozen=True)
class Limits:
    cpu_s: int
    wall_s: int
    memory_mb: int
    processes: int
    file_size_mb: int
    output_kb: int
    tmp_mb: int

    @property
    def output_chars(self) -> int:
        return self.output_kb * 1024


# --- talking to the host -----------------------------------------------------------------


def clean(text: str) -> str:
    """Text safe to embed in the host protocol: no lone surrogates, no control characters."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text.translate(_CONTROL)


_CONTROL = {c: "\ufffd" for c in [*range(0x20), 0x7F] if chr(c) not in "\n\t"}
# str.translate table that makes any text a JSON string body (lone surrogates are replaced
# when the record is encoded).
JSON_ESCAPES = {**{c: f"\\u{c:04x}" for c in range(0x20)}, ord('"'): '\\"', ord("\\"): "\\\\"}


def emit(event: dict[str, Any]) -> None:
    """Write one protocol line to the host (fd 1, which no test process holds)."""
    data = memoryview((json.dumps(event, ensure_ascii=False) + "\n").encode("utf-8"))
    while data:
        data = data[os.write(1, data):]


# --- PID 1: discovering and supervising tests ----------------------------------------------


def protect_harness() -> None:
    """Make this process unreachable from the test processes it will fork.

    Python handles SIGINT by default; a handled signal is the one kind a child could still
    deliver to PID 1, so it is ignored. Not dumpable: children of the same uid cannot
    ptrace it or open /proc/1/{mem,fd,environ}.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    libc = ctypes.CDLL(None, use_errno=True)
    for option, value in ((PR_SET_NO_NEW_PRIVS, 1), (PR_SET_DUMPABLE, 0)):
        if libc.prctl(option, value, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"prctl({option}) failed")
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def load_limits() -> Limits:
    with open(CONFIG_FILE, encoding="utf-8") as f:
        return Limits(**json.load(f))


class UnrunnableTests(ValueError):
    """The tests parse, but define functions the harness cannot run (async, or too many)."""


def discover_tests(source: str | bytes) -> list[str]:
    """Names of the module-level `def test_*` functions, in definition order.

    The one rule for which tests a problem has: authoring checks a problem's tests with it
    (core/learning/services.py) and the harness runs what it finds. Found by parsing, not
    importing: importing the tests would run the submission. Raises SyntaxError (or
    ValueError) for source that does not parse, UnrunnableTests for an async test function
    or more than MAX_TESTS of them.
    """
    tree = ast.parse(source, filename="grading_tests.py")
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("test_"):
            raise UnrunnableTests(f"{node.name} is async; the harness runs plain functions only")
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and node.name not in names:
            names.append(node.name)
    if len(names) > MAX_TESTS:
        raise UnrunnableTests(f"the tests define {len(names)} test functions; at most {MAX_TESTS} are allowed")
    return names


@dataclass
class Capture:
    """The first `limit` bytes read from a pipe; the rest is counted and dropped."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def feed(self, chunk: bytes) -> None:
        room = max(self.limit - len(self.data), 0)
        self.data += chunk[:room]
        self.dropped += max(len(chunk) - room, 0)


@dataclass
class Watch:
    """What PID 1 saw of one test process."""

    output: Capture
    report: Capture
    wait_status: int = 0
    cpu_s: float = 0.0
    killed_at_deadline: bool = False


def run_all(names: list[str], limits: Limits, deadline: float) -> None:
    """Run each test in its own process and emit its outcome; stop early if nothing can pass."""
    for index, name in enumerate(names):
        event, abort = run_test(name, limits, deadline)
        emit(event)
        if abort is not None:
            status = "timed_out" if event["status"] == "timed_out" else "error"
            for rest in names[index + 1:]:
                emit(not_run(rest, status, "not run: " + abort.splitlines()[0]))
            emit({"event": "abort", "output": truncate(abort, limits, 0)})
            return


def run_test(name: str, limits: Limits, deadline: float) -> tuple[dict[str, Any], str | None]:
    """The test event for `name`, and the reason to abort the run (or None to go on)."""
    if time.monotonic() >= deadline:
        return not_run(name, "timed_out", f"not run: wall-clock limit exceeded ({limits.wall_s} s)"), None
    token = secrets.token_hex(16)
    out_r, out_w = os.pipe()
    rep_r, rep_w = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        child_main(name, token, out_w, rep_w, limits)
    os.close(out_w)
    os.close(rep_w)
    watch = supervise(pid, out_r, rep_r, deadline, limits)
    duration_ms = int((time.monotonic() - started) * 1000)
    return verdict(name, token, watch, limits, duration_ms)


def supervise(pid: int, out_r: int, rep_r: int, deadline: float, limits: Limits) -> Watch:
    """Collect the child's output and report until it exits or the deadline passes.

    Afterwards every other process in the sandbox is killed and reaped, so a test's
    leftovers (a fork bomb's survivors, a daemonised sleeper) never overlap the next test.
    """
    # A record's text fields are at most output_chars long, and escaping makes a character
    # at most 6 bytes ("\u001b").
    watch = Watch(output=Capture(limits.output_chars), report=Capture(limits.output_chars * 6 * 2 + 65536))
    pidfd = os.pidfd_open(pid)
    with selectors.DefaultSelector() as selector:
        selector.register(out_r, selectors.EVENT_READ, watch.output)
        selector.register(rep_r, selectors.EVENT_READ, watch.report)
        selector.register(pidfd, selectors.EVENT_READ, None)
        watch.killed_at_deadline = pump_until_exit(selector, pid, deadline)
    _, watch.wait_status, usage = os.wait4(pid, 0)
    watch.cpu_s = usage.ru_utime + usage.ru_stime
    kill_stragglers()
    # Every writer is dead now, so these reads end at EOF.
    drain(out_r, watch.output)
    drain(rep_r, watch.report)
    for fd in (pidfd, out_r, rep_r):
        os.close(fd)
    return watch


def pump_until_exit(selector: selectors.BaseSelector, pid: int, deadline: float) -> bool:
    """Read the child's pipes until it exits; returns True if it was killed at the deadline."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            os.kill(pid, signal.SIGKILL)
            return True
        for key, _ in selector.select(remaining):
            if key.data is None:
                return False
            chunk = os.read(key.fd, 65536)
            if chunk:
                key.data.feed(chunk)
            else:
                selector.unregister(key.fd)


def drain(fd: int, capture: Capture) -> None:
    while chunk := os.read(fd, 65536):
        capture.feed(chunk)


def kill_stragglers() -> None:
    """SIGKILL and reap every process in the sandbox but this one.

    kill(-1) from a namespace's init reaches every other process in the namespace, and the
    kernel makes it atomic with respect to fork, so a fork bomb cannot outrun it. Orphans
    are re-parented to PID 1, so reaping until ECHILD means nothing is left.
    """
    for _ in range(100):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break


def verdict(name: str, token: str, watch: Watch, limits: Limits, duration_ms: int) -> tuple[dict[str, Any], str | None]:
    """Decide the test's outcome from what PID 1 observed; the child's word counts only when
    it carries the token and the child then exited normally."""
    records = authentic_records(watch.report.data, token, name)
    results = [r for r in records if r.get("phase") == "result"]
    imported = any(r.get("phase") == "imported" for r in records)
    status, reason, detail, abort = "error", "", "", None
    if watch.killed_at_deadline:
        status, reason = "timed_out", f"wall-clock limit exceeded ({limits.wall_s} s)"
    elif cpu_limit_hit(watch, limits):
        status, reason = "timed_out", f"CPU time limit exceeded ({limits.cpu_s} s)"
    elif os.WIFEXITED(watch.wait_status) and os.WEXITSTATUS(watch.wait_status) == 0 and len(results) == 1:
        status, reason, detail = result_fields(results[0])
        if results[0].get("stage") in ("import", "tests"):
            abort = reason + ("\n\n" + detail if detail else "")
    else:
        reason = abnormal_exit(watch.wait_status)
    if status == "timed_out" and not imported:
        abort = f"{reason}: the submission and tests did not finish importing"
    output = compose_output(watch.output, detail)
    event = {"event": "test", "name": name, "status": status, "reason": clean(reason)[:500],
             "output": truncate(output, limits, watch.output.dropped), "duration_ms": duration_ms}
    return event, abort


def authentic_records(data: bytes | bytearray, token: str, name: str) -> list[dict[str, Any]]:
    """The report lines that carry this test's token; anything else in the pipe is ignored."""
    records = []
    for line in bytes(data).splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and record.get("token") == token and record.get("test") == name:
            records.append(record)
    return records


def result_fields(record: dict[str, Any]) -> tuple[str, str, str]:
    status = record.get("status")
    if status not in ("passed", "failed", "error"):
        return "error", "the test process sent a malformed result", ""
    reason, detail = record.get("reason"), record.get("detail")
    return status, reason if isinstance(reason, str) else "", detail if isinstance(detail, str) else ""


def cpu_limit_hit(watch: Watch, limits: Limits) -> bool:
    """SIGXCPU at the soft limit; SIGKILL at the hard one if SIGXCPU was caught."""
    if not os.WIFSIGNALED(watch.wait_status):
        return False
    sig = os.WTERMSIG(watch.wait_status)
    return sig == signal.SIGXCPU or (sig == signal.SIGKILL and watch.cpu_s >= limits.cpu_s)


def abnormal_exit(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        try:
            sig_name = signal.Signals(sig).name
        except ValueError:
            sig_name = f"signal {sig}"
        return f"the test process was killed by {sig_name}"
    return f"the test process exited with status {os.WEXITSTATUS(wait_status)} before reporting a result"


def compose_output(output: Capture, detail: str) -> str:
    text = bytes(output.data).decode("utf-8", "replace")
    if text and detail and not text.endswith("\n"):
        text += "\n"
    return text + detail


def truncate(text: str, limits: Limits, dropped: int) -> str:
    text = clean(text)
    if len(text) <= limits.output_chars and not dropped:
        return text
    return text[: limits.output_chars] + f"\n[output truncated at {limits.output_kb} KB]"


def not_run(name: str, status: str, reason: str) -> dict[str, Any]:
    return {"event": "test", "name": name, "status": status, "reason": reason, "output": "", "duration_ms": 0}


# --- the test process: everything below runs in a forked child --------------------------------
#
# The submission runs in this process, so it can reach anything here that is looked up at
# run time: module globals (the harness's, json's, traceback's), builtins, sys.modules. The
# verdict therefore depends only on what is bound before the submission is imported:
# locals of run_one_test holding the real exception classes, os.write and the escaping
# table, the tests compiled from their source, and a private copy of the builtins for the
# tests' module. Text (reason, traceback) may come from tamperable helpers, but it is
# escaped with str.translate and cannot change the record's fields.


def child_main(name: str, token: str, out_w: int, rep_w: int, limits: Limits) -> NoReturn:
    """Confine this fresh child, run one test, report, and exit without returning."""
    try:
        confine_child(out_w, rep_w, limits)
        run_one_test(name, token, limits, compile_tests())
    except BaseException:  # noqa: S110 - the missing report already says "error"
        pass
    _exit(0)
    os.kill(os.getpid(), signal.SIGKILL)  # if even the bound _exit was tampered with
    raise SystemExit(0)


def confine_child(out_w: int, rep_w: int, limits: Limits) -> None:
    """stdio to the capture pipe, the report pipe on fd 3, nothing else open, rlimits down."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    devnull = os.open("/dev/null", os.O_RDONLY)
    # Order matters: out_w or rep_w may themselves be fd 3.
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.dup2(rep_w, REPORT_FD)
    os.closerange(REPORT_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - lives as long as the process
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)  # noqa: SIM115
    # `import __main__` in the submission gets an empty module, not the harness.
    sys.modules["__main__"] = types.ModuleType("__main__")
    sys.path.insert(0, SRC_DIR)
    set_rlimits(limits)


def set_rlimits(limits: Limits) -> None:
    """Soft and hard limits alike, so the test cannot raise them again.

    RLIMIT_NPROC counts the processes of this uid in the sandbox's own user namespace
    (the kernel keeps per-namespace counts), so it bounds this sandbox alone.
    """
    for rlimit, soft, hard in (
        (resource.RLIMIT_CPU, limits.cpu_s, limits.cpu_s + 1),  # SIGXCPU, then SIGKILL a second later
        (resource.RLIMIT_AS, limits.memory_mb * MB, limits.memory_mb * MB),
        (resource.RLIMIT_NPROC, limits.processes, limits.processes),
        (resource.RLIMIT_FSIZE, limits.file_size_mb * MB, limits.file_size_mb * MB),
        (resource.RLIMIT_NOFILE, NOFILE, NOFILE),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_MEMLOCK, 0, 0),
        (resource.RLIMIT_MSGQUEUE, 0, 0),
    ):
        resource.setrlimit(rlimit, (soft, hard))


def compile_tests() -> types.CodeType:
    """The tests' code, compiled before the submission can install import hooks."""
    with open(TESTS_FILE, "rb") as f:
        return compile(f.read(), TESTS_FILE, "exec", dont_inherit=True)


def run_one_test(name: str, token: str, limits: Limits, tests_code: types.CodeType) -> None:
    """Import the submission, run the tests' module and test `name`, report on fd 3."""
    # Bound before any untrusted code runs; see the comment at the top of this section.
    # One character over the limit, so that PID 1 sees the text was cut and says so.
    write, report_fd, escapes, longest = os.write, REPORT_FD, JSON_ESCAPES, limits.output_chars + 1
    translate, exact_str, type_of = str.translate, str, type
    assertion_error, base_exception = AssertionError, BaseException
    private_builtins, run_code, new_module, modules = dict(builtins.__dict__), exec, types.ModuleType, sys.modules

    def record(phase: str, status: str = "", stage: str = "", reason: str = "", detail: str = "") -> None:
        """One JSON line on fd 3, built from exact strings only (no json module, no globals)."""
        fields = (("token", token), ("test", name), ("phase", phase), ("stage", stage), ("status", status),
                  ("reason", reason), ("detail", detail))
        body = ", ".join(f'"{k}": "{translate(v[:longest], escapes) if type_of(v) is exact_str else ""}"'
                         for k, v in fields)
        data = ("{" + body + "}\n").encode("utf-8", "replace")
        while data:
            data = data[write(report_fd, data):]

    try:
        importlib.import_module(SOLUTION_MODULE)
    except base_exception as exc:
        record("result", "error", "import", safely(import_reason, exc, limits, "submission"), safely(describe, exc))
        return
    module = new_module(TESTS_MODULE)
    module.__dict__.update(__file__=TESTS_FILE, __builtins__=private_builtins)
    modules[TESTS_MODULE] = module
    try:
        run_code(tests_code, module.__dict__)
    except base_exception as exc:
        record("result", "error", "tests", safely(import_reason, exc, limits, "tests"), safely(describe, exc))
        return
    record("imported")
    test = module.__dict__.get(name)
    status = "error"
    failure: BaseException | None = None
    try:
        test()  # type: ignore[misc]  # not callable: TypeError, reported as an error
        status = "passed"
    except assertion_error as exc:
        status, failure = "failed", exc
    except base_exception as exc:
        failure = exc
    safely(flush_stdio)
    if failure is None:
        record("result", status, "test")
    else:
        record("result", status, "test", safely(test_reason, failure, limits), safely(describe, failure))


def safely(function: Any, *args: Any) -> Any:
    """function(*args), or "" if it raises: tampered helpers can only lose text."""
    try:
        return function(*args)
    except BaseException:
        return ""


def import_reason(exc: BaseException, limits: Limits, what: str) -> str:
    return f"the {what} could not be imported: {classify(exc, limits)[1]}"


def test_reason(exc: BaseException, limits: Limits) -> str:
    return classify(exc, limits)[1]


def classify(exc: BaseException, limits: Limits) -> tuple[str, str]:
    """(status, one-line reason) for an exception escaping a test or an import."""
    if isinstance(exc, AssertionError):
        return "failed", one_line(exc)
    if isinstance(exc, MemoryError):
        return "error", f"memory limit exceeded ({limits.memory_mb} MB)"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "error", f"file size limit exceeded ({limits.file_size_mb} MB)"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "error", f"the temporary directory is full ({limits.tmp_mb} MB)"
    if isinstance(exc, BlockingIOError) and exc.errno == errno.EAGAIN:
        return "error", f"{one_line(exc)} (process limit: {limits.processes})"
    if isinstance(exc, SystemExit):
        return "error", f"the code called exit({exc.code!r:.50})"
    return "error", one_line(exc)


def one_line(exc: BaseException) -> str:
    try:
        return traceback.format_exception_only(type(exc), exc)[-1].strip()[:300]
    except BaseException:
        return type(exc).__name__


def describe(exc: BaseException) -> str:
    """The traceback of `exc` without the harness's own frames."""
    try:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename not in MACHINERY]
        lines = traceback.format_list(frames)
        head = ["Traceback (most recent call last):\n"] if lines else []
        return "".join(head + lines + traceback.format_exception_only(type(exc), exc))
    except BaseException:
        return one_line(exc) + "\n"


def flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        stream.flush()


# --- entry point ------------------------------------------------------------------------------


def main() -> int:
    protect_harness()
    limits = load_limits()
    emit({"event": "ready"})
    deadline = time.monotonic() + limits.wall_s
    try:
        with open(TESTS_FILE, "rb") as f:
            names = discover_tests(f.read())
    except UnrunnableTests as exc:
        return finish(f"The tests cannot be run: {exc}.")
    except Exception as exc:  # a SyntaxError, or a parser limit, in the problem's tests
        return finish(f"The tests could not be parsed: {one_line(exc)}")
    if not names:
        return finish("The tests define no test_* function.")
    emit({"event": "plan", "tests": names})
    run_all(names, limits, deadline)
    emit({"event": "done"})
    return 0


def finish(abort: str) -> int:
    emit({"event": "abort", "output": clean(abort)})
    emit({"event": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
