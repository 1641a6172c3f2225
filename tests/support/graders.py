"""A stand-in grader for tests of the grading plumbing (core.learning.grading.Grader).

Tests select it with `settings.LEARNING_GRADER = "tests.support.graders.fake_grader"` and set
what it answers on the instance the `grader` fixture returns.
"""

from __future__ import annotations

from core.learning.sandbox import GradeReport, TestOutcome


def report(status: str, *tests: tuple[str, str, str]) -> GradeReport:
    """A sandbox report with `tests` as (name, status, output)."""
    return GradeReport(status=status,  # type: ignore[arg-type]
                       tests=[TestOutcome(name, test_status, output, 3) for name, test_status, output in tests],  # type: ignore[arg-type]
                       duration_ms=12, output="", isolation="fake")


class FakeGrader:
    """Answers with `report`, or raises `raises`; remembers every (source, tests) it was given."""

    def __init__(self) -> None:
        self.report = report("passed", ("test_adds", "passed", ""))
        self.raises: BaseException | None = None
        self.calls: list[tuple[str, str]] = []

    def grade(self, source: str, tests: str) -> GradeReport:
        self.calls.append((source, tests))
        if self.raises is not None:
            raise self.raises
        return self.report


current = FakeGrader()


def fake_grader() -> FakeGrader:
    """LEARNING_GRADER's factory in tests: the instance the test set up."""
    return current
