"""emit()'s payload rule: JSON of primitives and ids, refused with the offending key named."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from outbox.emit import InvalidPayload, validate_payload


@pytest.mark.parametrize("payload", [
    {}, {"visit_id": 42, "dates": ["2026-03-10"], "ok": True, "ratio": 0.5, "note": None},
    {"nested": {"ids": [1, 2, {"deep": "yes"}]}},
])
def test_json_of_primitives_and_ids_is_accepted_and_round_trips(payload: dict[str, object]) -> None:
    validate_payload(payload)
    assert json.loads(json.dumps(payload)) == payload


def test_a_datetime_is_refused_with_its_key_and_a_hint() -> None:
    with pytest.raises(InvalidPayload, match=r"payload\['when'\] is a datetime.*isoformat"):
        validate_payload({"when": datetime(2026, 3, 10, tzinfo=UTC)})


def test_a_model_instance_is_refused_with_the_advice_to_pass_its_id() -> None:
    visit = SimpleNamespace(_meta=object(), pk=7)
    with pytest.raises(InvalidPayload, match=r"payload\['visits'\]\[1\] .*pass its id"):
        validate_payload({"visits": [1, visit]})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_numbers_json_cannot_carry_are_refused(value: float) -> None:
    with pytest.raises(InvalidPayload, match="JSON cannot represent"):
        validate_payload({"x": value})


def test_a_non_string_key_and_a_set_are_refused() -> None:
    with pytest.raises(InvalidPayload, match="non-string key 3"):
        validate_payload({"ok": {3: "three"}})
    with pytest.raises(InvalidPayload, match=r"payload\['tags'\] is a set"):
        validate_payload({"tags": {"a"}})
