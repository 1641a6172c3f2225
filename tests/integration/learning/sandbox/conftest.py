"""The sandbox's tests run against this machine's real isolation (bubblewrap)."""

from __future__ import annotations

import pytest

from core.learning.sandbox import isolation_available
from tests.helpers.sandbox import HOST


@pytest.fixture(scope="session", autouse=True)
def sandbox_is_available() -> None:
    """Probe in this process, so forked workers inherit the result instead of probing again."""
    assert isolation_available(HOST) == "bubblewrap", "bubblewrap must work here: run scripts/bootstrap.sh"
