from __future__ import annotations

from tests.integration.learning.fixtures import (  # noqa: F401
    alice,
    audrey,
    bob,
    carol,
    empty_cache,
    lena,
    oscar,
    rita,
    roles,
)
