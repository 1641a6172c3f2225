"""Who may do what: role checks for API endpoints and pages, tenant-scoped lookups.

Every endpoint declares the roles it admits with `RoleAuth(...)`; the authorization matrix
test reads those declarations from the URL configuration, so a new endpoint cannot be
forgotten. Lookups of a tenant's objects go through `get_for_tenant`, which answers 404 for
another tenant's ids exactly as for ids that do not exist.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import APIKeyCookie

from core.accounts.models import User
from core.platform.errors import NotFound
from core.platform.roles import Role

M = TypeVar("M", bound=models.Model)


def user_has_role(user: Any, roles: frozenset[Role]) -> bool:
    return bool(user.is_authenticated and getattr(user, "tenant_id", None) and roles & user.roles)


class RoleAuth(APIKeyCookie):
    """Session authentication (with CSRF on unsafe methods) admitting users of a tenant
    with one of `roles`: anonymous -> 401, signed in without the role -> 403."""

    param_name = "sessionid"

    def __init__(self, *roles: Role) -> None:
        super().__init__(csrf=True)
        self.roles = frozenset(roles)

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = request.user
        if not user.is_authenticated:
            return None
        if not user_has_role(user, self.roles):
            raise HttpError(403, f"requires the role {' or '.join(sorted(self.roles))}")
        assert isinstance(user, User)
        return user


def tenant_user(request: HttpRequest) -> User:
    """The signed-in user of an endpoint guarded by RoleAuth."""
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    assert user.tenant_id is not None
    return user


def get_for_tenant(queryset: models.QuerySet[M], tenant_id: int, pk: Any, what: str) -> M:
    """The object `pk` of `tenant_id`; NotFound (404) if absent or another tenant's."""
    try:
        return queryset.get(pk=pk, tenant_id=tenant_id)
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise NotFound(f"{what} {pk} not found") from None


def role_required(*roles: Role) -> Any:
    """Page view decorator: sign-in page for strangers, 403 for users without one of `roles`.

    Works for sync and async views; records the roles on the view for the access-matrix test.
    """
    allowed = frozenset(roles)

    def decorate(view: Any) -> Any:
        import functools

        from asgiref.sync import iscoroutinefunction
        from django.contrib.auth.views import redirect_to_login
        from django.core.exceptions import PermissionDenied

        def check(request: HttpRequest, user: Any) -> Any:
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user_has_role(user, allowed):
                raise PermissionDenied(f"requires the role {' or '.join(sorted(allowed))}")
            return None

        if iscoroutinefunction(view):
            @functools.wraps(view)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                refused = check(request, await request.auser())
                return refused if refused is not None else await view(request, *args, **kwargs)

            async_wrapper.ferry_roles = allowed  # type: ignore[attr-defined]
            return async_wrapper

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            refused = check(request, request.user)
            return refused if refused is not None else view(request, *args, **kwargs)

        wrapper.ferry_roles = allowed  # type: ignore[attr-defined]
        return wrapper

    return decorate


def tenant_id_of(request: HttpRequest) -> int:
    """The tenant of the signed-in user of an endpoint guarded by RoleAuth."""
    tenant_id = tenant_user(request).tenant_id
    assert tenant_id is not None
    return tenant_id


def page_user(request: HttpRequest) -> User:
    """The signed-in user of a page guarded by role_required (tenant_user and tenant_id_of
    read request.auth, which only API endpoints have)."""
    user = request.user
    assert isinstance(user, User)
    return user


def page_tenant_id(request: HttpRequest) -> int:
    """The tenant of the signed-in user of a page guarded by role_required."""
    tenant_id = page_user(request).tenant_id
    assert tenant_id is not None
    return tenant_id
