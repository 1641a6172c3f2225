"""Domain errors: raised by write functions and selectors, mapped to HTTP by core/platform/api.py.

They carry what a user needs to fix the request (the field and why), never internals.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(DomainError):
    """Bad input: 400, naming the field."""


class NotFound(DomainError):
    """Absent, or another tenant's (indistinguishable on purpose): 404."""

    status = 404
    code = "not_found"


class Forbidden(DomainError):
    """The user's role does not allow this: 403."""

    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The request contradicts the current state (e.g. publishing an unapproved version): 409."""

    status = 409
    code = "conflict"


class Unprocessable(DomainError):
    """Well-formed, but cannot be carried out as asked: 422."""

    status = 422
    code = "unprocessable"


class Unavailable(DomainError):
    """This server cannot do it now (a facility it needs is missing or down): 503."""

    status = 503
    code = "unavailable"


class RateLimited(DomainError):
    """Too many requests: 429 with Retry-After."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
