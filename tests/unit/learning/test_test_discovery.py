"""The one rule for which tests a problem has (core.learning.sandbox.discover_tests), shared
by authoring and the grading harness."""

from __future__ import annotations

import pytest

from core.learning.sandbox import UnrunnableTests, discover_tests
from core.learning.sandbox.harness import MAX_TESTS


def test_module_level_test_functions_in_definition_order_once_each() -> None:
    source = ("import solution\n\ndef helper():\n    pass\n\ndef test_b():\n    pass\n\n"
              "class TestNothing:\n    def test_method(self):\n        pass\n\n"
              "def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    assert discover_tests(source) == ["test_b", "test_a"]


def test_no_test_functions_is_an_empty_list_not_an_error() -> None:
    assert discover_tests("x = 1\n") == []


def test_an_async_test_is_refused_by_name() -> None:
    with pytest.raises(UnrunnableTests, match="test_later is async"):
        discover_tests("async def test_later():\n    pass\n")


def test_more_tests_than_the_harness_runs_are_refused() -> None:
    source = "".join(f"def test_{i}():\n    pass\n" for i in range(MAX_TESTS + 1))
    with pytest.raises(UnrunnableTests, match=f"{MAX_TESTS + 1} test functions; at most {MAX_TESTS}"):
        discover_tests(source)


def test_unparsable_tests_raise_the_parsers_error() -> None:
    with pytest.raises(SyntaxError):
        discover_tests("def test_x(:\n")
