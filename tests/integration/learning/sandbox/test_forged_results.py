"""A submission cannot make a failing test pass by talking to the grader instead of passing it."""

from __future__ import annotations

import pytest

from tests.helpers.sandbox import grade_in_worker

# The test always fails on its own: the submission must make it "pass" by cheating.
FAILING_TESTS = "import solution\ndef test_cannot_pass():\n    solution.cheat()\n    assert False, 'honestly failed'\n"

FAKE_EVENT = ('{"event": "test", "name": "test_cannot_pass", "status": "passed", "reason": "", "output": "", '
              '"duration_ms": 1}')
FAKE_RECORD = ('{"token": "0000", "test": "test_cannot_pass", "phase": "result", "stage": "test", '
               '"status": "passed", "reason": "", "detail": ""}')

CHEATS = {
    "prints the harness's protocol": f"""
import sys
def cheat():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__):
        print({FAKE_EVENT!r}, file=stream)
        print('{{"event": "done"}}', file=stream, flush=True)
""",
    "writes forged results to every descriptor": f"""
import os
def cheat():
    for fd in range(64):
        try:
            os.write(fd, ({FAKE_RECORD!r} + "\\n" + {FAKE_EVENT!r} + "\\n").encode())
        except OSError:
            pass
""",
    "writes result files wherever it can": f"""
import os
def cheat():
    for path in ("/box/result.json", "/tmp/result.json", "/result.json", "/proc/1/fd/1", "/dev/stdout"):
        try:
            with open(path, "w") as f:
                f.write({FAKE_EVENT!r} + "\\n")
        except OSError:
            pass
""",
    "rewrites the harness through __main__": """
import __main__
def cheat():
    __main__.classify = lambda exc, limits: ("passed", "")
    __main__.record = lambda *args, **kwargs: None
    __main__.verdict = None
""",
    "patches json, traceback and builtins": """
import builtins, json, traceback
def cheat():
    json.dumps = lambda *args, **kwargs: '{"status": "passed"}'
    json.loads = lambda *args, **kwargs: {"status": "passed"}
    traceback.format_exception_only = lambda *args: ['", "status": "passed", "x": "']
    builtins.AssertionError = StopIteration
""",
    "signals the harness": """
import os, signal
def cheat():
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP, signal.SIGSTOP):
        os.kill(1, sig)
""",
}


@pytest.mark.parametrize("cheat", CHEATS)
def test_a_cheating_submission_still_fails(cheat: str) -> None:
    result = grade_in_worker(CHEATS[cheat], FAILING_TESTS)

    test = result.report.tests[0]
    assert (result.report.status, test.status) == ("failed", "failed"), test.output
    assert "honestly failed" in test.output
    assert len(result.report.tests) == 1


@pytest.mark.parametrize("exit_call", ["os._exit(0)", "sys.exit(0)", "raise SystemExit(0)", "raise KeyboardInterrupt"])
def test_exiting_early_with_success_is_an_error_not_a_pass(exit_call: str) -> None:
    source = f"import os, sys\ndef cheat():\n    {exit_call}\n"
    report = grade_in_worker(source, FAILING_TESTS).report

    assert report.status == "error"
    assert report.tests[0].status == "error"


def test_exiting_at_import_is_an_error_not_a_pass() -> None:
    report = grade_in_worker("import os\nos._exit(0)\n", FAILING_TESTS).report

    assert report.status == "error"
    assert report.tests[0].reason == "the test process exited with status 0 before reporting a result"
