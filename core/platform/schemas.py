"""Schema pieces every domain API shares: the error body, the answers an operation documents,
and input types that refuse what the domain cannot compare.

The OpenAPI schema is generated from these declarations and the API fuzz test
(tests/integration/test_api_fuzz.py) holds every answer to it, so what is declared here is
what a client can rely on.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Self

from django.utils import timezone
from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, WithJsonSchema, model_validator


class FieldError(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    """Every refusal: a code, a message for people, the field at fault (or null). Invalid
    input (400) from schema validation also lists every field error in `errors`."""

    error: str
    message: str
    field: str | None
    errors: list[FieldError] | None = None


# What any operation guarded by RoleAuth may answer: not signed in (401); signed in without
# one of its roles, or an unsafe method without the CSRF token (403).
AUTH_REFUSALS = (401, 403)


def answers(success: dict[int, Any], *refusals: int) -> dict[int, Any]:
    """An operation's documented responses: `success`, the auth refusals, and `refusals`
    (400 bad input, 404 absent or another agency's, 409 state conflict, 422, 429) in the
    error shape."""
    return {**success, **dict.fromkeys(sorted({*AUTH_REFUSALS, *refusals}), ErrorOut)}


def file_answers(*content_types: str) -> dict[str, Any]:
    """openapi_extra for an operation whose 200 is a file of one of `content_types`, not JSON."""
    return {"responses": {200: {"description": "OK", "content": {
        content_type: {"schema": {"type": "string"}} for content_type in content_types}}}}


# Text PostgreSQL can store and compare: no NUL (a DataError) and no lone surrogate (which
# cannot be encoded as UTF-8), refused as bad input naming the field, as core/learning/text.py
# does for the learning app's text.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def _storable(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise ValueError("must be text without NUL characters or lone surrogates")
    return value


Text = Annotated[str, AfterValidator(_storable)]


# A wall-clock time of day as the agency's clock shows it. A UTC offset is refused: the
# domain compares times of one day (a shift's start and end, a visit's window), and Python
# cannot compare an offset time with a wall-clock one.
WALL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"
_WALL_TIME = re.compile(WALL_TIME_PATTERN)


def _wall_time(value: Any) -> Any:
    if isinstance(value, dt.time) and value.tzinfo is None:
        return value
    if isinstance(value, str) and _WALL_TIME.fullmatch(value):
        return value
    raise ValueError('must be a time of day "HH:MM" or "HH:MM:SS", without a UTC offset')


WallTime = Annotated[
    dt.time,
    BeforeValidator(_wall_time),
    WithJsonSchema({"type": "string", "pattern": WALL_TIME_PATTERN,
                    "description": 'a time of day, "HH:MM" or "HH:MM:SS", without a UTC offset'}),
]


# Dates and instants are ISO 8601 text. Pydantic alone would also read a number (or its
# text) as seconds since 1970: ?date=86400 silently meant 1970-01-02.
DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DAY = re.compile(DAY_PATTERN)
_INSTANT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")


def _iso_day(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _DAY.fullmatch(value):
        return value
    raise ValueError('must be a date "YYYY-MM-DD"')


Day = Annotated[dt.date, BeforeValidator(_iso_day), WithJsonSchema({"type": "string", "format": "date"})]


def _iso_instant(value: Any) -> Any:
    if isinstance(value, dt.datetime) or (isinstance(value, str) and _INSTANT.match(value)):
        return value
    raise ValueError('must be a date and time in ISO 8601, like "2026-03-10T09:00:00Z"')


def _in_utc(value: dt.datetime) -> dt.datetime:
    """The instant in UTC (a time without an offset is in settings.TIME_ZONE): PostgreSQL
    refuses offsets beyond 15:59 hours, which ISO 8601 text may carry."""
    aware = value if value.tzinfo is not None else timezone.make_aware(value)
    try:
        return aware.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


Instant = Annotated[dt.datetime, BeforeValidator(_iso_instant), AfterValidator(_in_utc),
                    WithJsonSchema({"type": "string", "format": "date-time"})]


def _not_a_boolean(value: Any) -> Any:
    # JSON's true and false are not numbers; pydantic would read them as 1 and 0.
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true or false")
    return value


Whole = Annotated[int, BeforeValidator(_not_a_boolean)]
"""An integer that refuses JSON true/false (a query string's "3" still reads as 3)."""


class TimeWindowQuery(Schema):
    """A time window of a filter (since, until); until must come after since."""

    since: Instant | None = None
    until: Instant | None = None

    @model_validator(mode="after")
    def window_is_ordered(self) -> Self:
        if self.since and self.until and self.until <= self.since:
            raise ValueError("until must be after since")
        return self
