"""A validation error names the field the client sent, whatever the view calls its parameter."""

from __future__ import annotations

import pytest

from core.platform.api import field_name


@pytest.mark.parametrize(("location", "field"), [
    (["body", "payload", "date"], "date"),
    (["body", "body", "payload"], "payload"),  # a field named payload, in a parameter named body
    (["body", "payload", "stops", 2, "visit_id"], "stops.2.visit_id"),
    (["query", "since"], "since"),
    (["query", "query"], "query"),  # the query string as a whole (since after until)
    (["path", "visit_id"], "visit_id"),
    (["form", "data", "email"], "email"),
    (["body", "payload"], "body"),  # the body as a whole
    ([], "body"),
])
def test_the_field_is_the_path_after_the_request_part_and_the_parameter(location: list[object], field: str) -> None:
    assert field_name(location) == field
