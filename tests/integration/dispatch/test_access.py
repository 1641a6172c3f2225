"""Every dispatch endpoint and page states who may use them."""

from __future__ import annotations

from django.urls import URLPattern

from core.accounts.access import RoleAuth
from core.dispatch import urls as dispatch_urls
from core.dispatch.api import router
from core.platform.roles import Role


def operations() -> list[object]:
    return [op for path_ops in router.path_operations.values() for op in path_ops.operations]


def test_every_api_operation_declares_its_roles() -> None:
    assert operations()
    for op in operations():
        assert [type(a) for a in op.auth_callbacks] == [RoleAuth], op.view_func.__name__  # type: ignore[attr-defined]
        assert op.auth_callbacks[0].roles, op.view_func.__name__  # type: ignore[attr-defined]


def test_only_dispatchers_write_and_auditors_only_read() -> None:
    for op in operations():
        roles = op.auth_callbacks[0].roles  # type: ignore[attr-defined]
        if op.methods == ["GET"]:  # type: ignore[attr-defined]
            assert roles == {Role.DISPATCHER, Role.AUDITOR}, op.view_func.__name__  # type: ignore[attr-defined]
        else:
            assert roles == {Role.DISPATCHER}, op.view_func.__name__  # type: ignore[attr-defined]


def test_every_page_declares_its_roles() -> None:
    patterns = [p for p in dispatch_urls.urlpatterns if isinstance(p, URLPattern)]
    assert len(patterns) == len(dispatch_urls.urlpatterns)
    for pattern in patterns:
        roles = getattr(pattern.callback, "ferry_roles", None)
        assert roles, pattern.name
        assert roles <= set(Role), pattern.name
