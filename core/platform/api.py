"""The JSON API: one NinjaAPI, errors in one shape. Each domain app has a router of its own;
core/config/api.py mounts them.

Every error answer is `{"error": code, "message": text, "field": name-or-null}` (validation
errors add `"errors": [{"field", "message"}, ...]`), with the status of the domain error
(core/platform/errors.py). Nothing a client sends produces a 500.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from core.platform.errors import DomainError, RateLimited

api = NinjaAPI(title="Ferry API", version="1", urls_namespace="api")


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, "field": field, **extra}


# Where ninja says an error is: the request part, then for a body or form the view's parameter
# name, then the field's path ("body", "payload", "date"; "query", "since").
_PARTS_NAMED = ("body", "form")


def field_name(location: list[Any]) -> str:
    """Pydantic's error location without the request part and the view's parameter name:
    ["body", "payload", "date"] -> "date"; ["body", "body", "payload"] -> "payload" (a field
    of that name); ["query", "since"] -> "since". An error of the query string as a whole (a
    rule over several of its fields) is located at the view's parameter, named `query` across
    the API: it names "query". "body" when nothing is left."""
    rest = location[2:] if location and location[0] in _PARTS_NAMED else location[1:]
    return ".".join(str(part) for part in rest) or "body"


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [{"field": field_name(list(e.get("loc", []))), "message": str(e.get("msg", "invalid"))}
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
