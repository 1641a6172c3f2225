"""Optimize Day's pure parts: times of day, why a visit was left out, what changed between plans."""

from __future__ import annotations

from datetime import time

import pytest

from core.dispatch.optimize import VisitInput, explain, seconds_of, time_of
from core.dispatch.services import changed_visit_ids

VISIT = VisitInput(id=1, lat=42.35, lon=-71.08, window_start=9 * 3600, window_end=12 * 3600, duration=1800,
                   required_skill="wound_care", priority=1)


def test_times_of_day_round_trip_through_seconds() -> None:
    assert seconds_of(time(9, 30, 15)) == 34215
    assert time_of(34215) == time(9, 30, 15)
    with pytest.raises(ValueError, match="not a time of day"):
        time_of(24 * 3600)


@pytest.mark.parametrize(("reason", "expected"), [
    ("no_skill", "no active clinician has wound care"),
    ("window_unreachable", "no clinician with wound care can start it in 09:00-12:00"),
    ("dropped", "the day is full: no clinician with wound care had room for it in 09:00-12:00"),
    ("other", "the solver's own words"),
])
def test_a_left_out_visit_is_explained_in_the_dispatchers_terms(reason: str, expected: str) -> None:
    assert explain(reason, VISIT, "the solver's own words").startswith(expected)


def test_with_nobody_active_the_reason_says_so() -> None:
    assert explain("no_skill", VISIT, "", anyone_active=False) == "no clinician is active"


def test_changed_visits_are_those_moved_retimed_added_dropped_or_left_out() -> None:
    before = {1: (10, time(9)), 2: (10, time(10)), 3: (11, time(9)), 4: None, 5: (11, time(13))}
    after = {1: (10, time(9)), 2: (11, time(10)), 3: (11, time(9, 30)), 4: None, 6: (10, time(15)), 5: None}
    assert changed_visit_ids(before, after) == [2, 3, 5, 6]
