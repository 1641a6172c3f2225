from __future__ import annotations

from typing import Any

import pytest

from tests.support import graders
from tests.support.graders import FakeGrader


@pytest.fixture
def grader(settings: Any) -> FakeGrader:
    """The grading plumbing's grader, replaced by a fake through its setting (the sandbox's own
    tests and the end-to-end ones grade for real)."""
    graders.current = FakeGrader()
    settings.LEARNING_GRADER = "tests.support.graders.fake_grader"
    return graders.current
