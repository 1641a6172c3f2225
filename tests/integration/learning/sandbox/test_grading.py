"""Grading ordinary submissions: what a learner sees for right, wrong and broken code."""

from __future__ import annotations

import json

from core.learning.grading import sandbox_limits
from core.learning.sandbox import grade
from tests.helpers.sandbox import FAST, HOST, grade_in_worker, outcome

ADD_TESTS = """
import solution

def test_adds_two_numbers():
    assert solution.add(1, 2) == 3

def test_adds_negative_numbers():
    assert solution.add(-1, -2) == -3, "negative numbers"

def test_is_commutative():
    assert solution.add(2, 5) == solution.add(5, 2)
"""


def test_a_correct_submission_passes_every_test_in_definition_order() -> None:
    result = grade_in_worker("def add(a, b):\n    return a + b\n", ADD_TESTS)

    report = result.report
    assert report.status == "passed"
    assert [t.name for t in report.tests] == ["test_adds_two_numbers", "test_adds_negative_numbers",
                                              "test_is_commutative"]
    assert all(t.status == "passed" and t.duration_ms >= 0 for t in report.tests)
    assert report.output == "All 3 tests passed."
    assert report.isolation == "bubblewrap"
    assert result.exit_status == 0
    assert result.leftovers == []


def test_a_wrong_submission_fails_with_the_assertion_and_its_line() -> None:
    report = grade_in_worker("def add(a, b):\n    return abs(a) + abs(b)\n", ADD_TESTS).report

    assert report.status == "failed"
    failing = outcome(report, "test_adds_negative_numbers")
    assert failing.status == "failed"
    assert failing.reason == "AssertionError: negative numbers"
    assert 'assert solution.add(-1, -2) == -3, "negative numbers"' in failing.output
    assert outcome(report, "test_adds_two_numbers").status == "passed"
    assert "1 failed" in report.output
    assert "test_adds_negative_numbers" in report.output


def test_what_a_test_prints_is_captured_with_its_outcome() -> None:
    source = ("import sys\ndef add(a, b):\n    print('adding', a, b)\n    print('warn', file=sys.stderr)\n"
              "    return a + b\n")
    report = grade_in_worker(source, ADD_TESTS).report

    assert outcome(report, "test_adds_two_numbers").output == "adding 1 2\nwarn\n"


def test_a_syntax_error_is_an_error_showing_the_message_and_runs_no_test() -> None:
    report = grade_in_worker("def add(a, b)\n    return a + b\n", ADD_TESTS).report

    assert report.status == "error"
    assert "SyntaxError" in report.output
    assert "solution.py" in report.output
    assert "could not be imported" in report.output
    assert [t.status for t in report.tests] == ["error", "error", "error"]
    assert all(t.reason.startswith("not run") for t in report.tests[1:])


def test_an_exception_at_import_is_an_error_with_its_traceback() -> None:
    report = grade_in_worker("raise ValueError('no config')\n", ADD_TESTS).report

    assert report.status == "error"
    assert "ValueError: no config" in report.output
    assert 'File "/box/src/solution.py", line 1' in report.output


def test_an_exception_in_a_test_is_an_error_not_a_failure() -> None:
    report = grade_in_worker("def add(a, b):\n    return {}[a]\n", ADD_TESTS).report

    assert report.status == "error"
    assert outcome(report, "test_adds_two_numbers").reason == "KeyError: 1"


def test_tests_without_test_functions_are_an_error() -> None:
    report = grade_in_worker("x = 1\n", "def helper():\n    pass\n").report

    assert report.status == "error"
    assert report.tests == []
    assert "no test_* function" in report.output


def test_tests_that_do_not_parse_are_an_error() -> None:
    report = grade_in_worker("x = 1\n", "def test_x(:\n").report

    assert report.status == "error"
    assert "could not be parsed" in report.output


def test_ten_megabytes_of_output_are_truncated_to_the_output_limit() -> None:
    source = "def shout():\n    print('x' * 10_000_000)\n"
    tests = "import solution\ndef test_shouts():\n    solution.shout()\n"
    report = grade_in_worker(source, tests).report

    assert report.status == "passed"
    output = report.tests[0].output
    assert output.startswith("xxxx")
    assert len(output) < FAST.output_kb * 1024 + 100
    assert output.endswith(f"[output truncated at {FAST.output_kb} KB]")


def test_the_report_is_json_for_the_attempt_row() -> None:
    report = grade("def add(a, b):\n    return a - b\n", ADD_TESTS, FAST, HOST)

    stored = json.loads(json.dumps(report.to_dict()))
    assert stored["status"] == "failed"
    first = stored["tests"][0]
    assert first == {"name": "test_adds_two_numbers", "status": "failed", "output": first["output"],
                     "duration_ms": first["duration_ms"], "reason": "AssertionError"}
    assert stored["limits"] == FAST.to_dict()


def test_limits_default_to_the_sandbox_settings(settings) -> None:
    settings.SANDBOX_CPU_S, settings.SANDBOX_OUTPUT_KB, settings.SANDBOX_TMP_MB = 3, 32, 8

    limits = sandbox_limits()

    assert (limits.cpu_s, limits.output_kb, limits.tmp_mb) == (3, 32, 8)
    assert limits.wall_s == settings.SANDBOX_WALL_S
    assert limits.processes == settings.SANDBOX_PROCESSES


def test_a_huge_assertion_message_is_still_a_failure_with_truncated_output() -> None:
    tests = "def test_big_message():\n    assert False, 'why ' * 1_000_000\n"
    report = grade_in_worker("", tests).report

    assert report.status == "failed"
    assert report.tests[0].reason.startswith("AssertionError: why why")
    assert report.tests[0].output.endswith(f"[output truncated at {FAST.output_kb} KB]")
