"""Every learning and ops endpoint and page states who may use it (no forgotten door)."""

from __future__ import annotations

import pytest
from django.urls import URLPattern

from core.accounts.access import RoleAuth
from core.learning import urls as learning_urls
from core.learning.api import router as learning_api
from core.ops import urls as ops_urls
from core.ops.api import router as ops_api
from core.platform.roles import Role


@pytest.mark.parametrize("router", [learning_api, ops_api], ids=["learning", "ops"])
def test_every_api_operation_declares_its_roles(router: object) -> None:
    operations = [op for path_ops in router.path_operations.values() for op in path_ops.operations]  # type: ignore[attr-defined]
    assert operations
    for op in operations:
        assert [type(a) for a in op.auth_callbacks] == [RoleAuth], op.view_func.__name__
        assert op.auth_callbacks[0].roles, op.view_func.__name__


# Pages open without signing in, on purpose: the digest's unsubscribe link (its signed token
# is the credential; mail clients post it without a session).
OPEN_PAGES = frozenset({"digest_unsubscribe"})


@pytest.mark.parametrize("module", [learning_urls, ops_urls], ids=["learning", "ops"])
def test_every_page_declares_its_roles(module: object) -> None:
    patterns = [p for p in module.urlpatterns if isinstance(p, URLPattern)]  # type: ignore[attr-defined]
    assert patterns
    for pattern in patterns:
        if pattern.name in OPEN_PAGES:
            assert getattr(pattern.callback, "ferry_roles", None) is None, pattern.name
            continue
        roles = getattr(pattern.callback, "ferry_roles", None)
        assert roles, pattern.name
        assert roles <= set(Role), pattern.name


def test_writes_are_for_reviewers_and_ops_only() -> None:
    writers = {op.view_func.__name__: op.auth_callbacks[0].roles  # type: ignore[attr-defined]
               for api in (learning_api, ops_api) for path_ops in api.path_operations.values()
               for op in path_ops.operations if op.methods != ["GET"]}
    learner_writes = {name for name, roles in writers.items() if Role.LEARNER in roles}
    assert learner_writes == {"submit", "read_notification"}
    assert writers["trigger_heal"] == frozenset({Role.OPS})
