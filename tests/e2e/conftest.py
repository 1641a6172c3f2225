from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import RedisServer


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """Where the test's processes write their output (shown on failure by the test)."""
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, for tests that FLUSHALL or stop Redis."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
