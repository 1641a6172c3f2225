"""The JSON API: one NinjaAPI, errors in one shape, routers added by the domain apps.

Every error answer is `{"error": code, "message": text, "field": name-or-null}` (validation
errors add `"errors": [{"field", "message"}, ...]`), with the status of the domain error
(core/errors.py). Nothing a client sends produces a 500.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from core.access import RoleAuth, tenant_user
from core.errors import DomainError, RateLimited
from core.roles import Role
from core.schemas import answers

api = NinjaAPI(title="Ferry API", version="1", urls_namespace="api")


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, "field": field, **extra}


def _field_name(location: list[Any]) -> str:
    """Pydantic's error location without the request part: ["body", "payload", "date"] -> "date"."""
    parts = [str(p) for p in location if p not in ("body", "query", "path", "payload", "data", "form")]
    return ".".join(parts) or "body"


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [{"field": _field_name(list(e.get("loc", []))), "message": str(e.get("msg", "invalid"))}
              for e in exc.errors]
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    return api.create_response(request, error_body("invalid", f"{first['field']}: {first['message']}",
                                                   first["field"], errors=errors), status=400)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    response = api.create_response(request, error_body(exc.code, exc.message, exc.field), status=exc.status)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after_s)
    return response


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(request, error_body("unauthenticated", "sign in first"), status=401)


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = {403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
    return api.create_response(request, error_body(code, str(exc)), status=exc.status_code)


class Me(Schema):
    username: str
    tenant_id: int
    tenant: str
    roles: list[str]


ALL_ROLES = tuple(Role)


@api.get("/me", response=answers({200: Me}), auth=RoleAuth(*ALL_ROLES), tags=["accounts"])
def me(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user, their agency and roles."""
    user = tenant_user(request)
    assert user.tenant is not None
    return {"username": user.username, "tenant_id": user.tenant_id, "tenant": user.tenant.name,
            "roles": sorted(user.roles)}


def _mount_domain_routers() -> None:
    from core.audit.api import router as audit
    from core.dispatch.api import router as dispatch
    from core.learning.api import router as learning
    from core.ops.api import router as ops

    api.add_router("/dispatch/", dispatch)
    api.add_router("/", learning)  # /api/problems/..., /api/search, /api/lessons/...
    api.add_router("/ops/", ops)
    api.add_router("/audit/", audit)


_mount_domain_routers()
