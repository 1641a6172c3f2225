"""The current tenant: set per request by middleware, per task by the task base class.

A ContextVar (not a thread-local) so that async views, threads started by asgiref and
Celery tasks each see their own value. The setters always restore the previous value,
also on error, so a tenant can never leak into the next request or task on a worker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from celery import Task
from django.http import HttpRequest, HttpResponseBase

_current_tenant: ContextVar[int | None] = ContextVar("ferry_current_tenant", default=None)


class TenantRequired(RuntimeError):
    """Raised when tenant-scoped code runs without a tenant in context."""


def current_tenant_id() -> int | None:
    return _current_tenant.get()


def require_tenant_id() -> int:
    tenant_id = _current_tenant.get()
    if tenant_id is None:
        raise TenantRequired("no tenant in context: this code must run inside a request or task of a tenant")
    return tenant_id


@contextmanager
def tenant_context(tenant_id: int | None) -> Iterator[None]:
    """Run the block as `tenant_id` (None: no tenant); the previous value is always restored."""
    token = _current_tenant.set(tenant_id)
    try:
        with structlog.contextvars.bound_contextvars(tenant_id=tenant_id):
            yield
    finally:
        _current_tenant.reset(token)


class TenantMiddleware:
    """Sets the current tenant from the logged-in user for the duration of the request."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        user = request.user
        with tenant_context(getattr(user, "tenant_id", None) if user.is_authenticated else None):
            response: HttpResponseBase = self.get_response(request)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        user = await request.auser()
        with tenant_context(getattr(user, "tenant_id", None) if user.is_authenticated else None):
            response: HttpResponseBase = await self.get_response(request)
        return response


class TenantTask(Task):
    """Base class of every Ferry task: runs the task as the tenant named by its tenant_id argument.

    Tasks receive ids, never model instances; `tenant_id` is the keyword argument that says
    whose data the task touches (None for platform-wide work such as heals over all tenants).
    """

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with (
            tenant_context(kwargs.get("tenant_id")),
            structlog.contextvars.bound_contextvars(task=self.name, task_id=self.request.id),
        ):
            return super().__call__(*args, **kwargs)
