"""The auditors' payload filter as written: `payload.visit_id = 42` read into a path and a JSON
value, refused with what is wrong (naming `payload`), and written back the same way."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.platform.errors import Invalid
from outbox.selectors import PAYLOAD_PATH_CHARS, PAYLOAD_PATH_KEYS, JsonScalar, PayloadMatch


@pytest.mark.parametrize(("written", "path", "value"), [
    ("payload.visit_id = 42", ("visit_id",), 42),
    ("payload.visit_id=42", ("visit_id",), 42),
    ("  payload.address.city = \"Salem\"  ", ("address", "city"), "Salem"),
    ("payload.rate = -4.50", ("rate",), Decimal("-4.50")),
    ("payload.big = 1e3", ("big",), Decimal("1E+3")),
    ("payload.ok = true", ("ok",), True),
    ("payload.ok = false", ("ok",), False),
    ("payload.note = null", ("note",), None),
    ("payload.state = done", ("state",), "done"),
    ("payload.kind = audit.export_requested", ("kind",), "audit.export_requested"),
    ("payload.token = a=b", ("token",), "a=b"),
    ("payload.name = \"Alice Smith\"", ("name",), "Alice Smith"),
    ("payload.note = \"a \\\"quoted\\\" = word\"", ("note",), 'a "quoted" = word'),
    ("payload.count = \"42\"", ("count",), "42"),
    ("payload._private.x1 = 0", ("_private", "x1"), 0),
])
def test_a_filter_is_read_into_its_path_and_json_value(written: str, path: tuple[str, ...], value: JsonScalar) -> None:
    match = PayloadMatch.parse(written)
    assert match.path == path
    assert match.value == value
    assert type(match.value) is type(value)  # 1 == True and 42 == Decimal(42): the type matters too


def test_a_number_and_the_same_digits_in_quotes_are_different_filters() -> None:
    assert PayloadMatch.parse("payload.visit_id = 42").containment() == '{"visit_id": 42}'
    assert PayloadMatch.parse('payload.visit_id = "42"').containment() == '{"visit_id": "42"}'


def test_a_dotted_path_nests_the_containment_document() -> None:
    match = PayloadMatch.parse("payload.visit.address.city = Salem")
    assert json.loads(match.containment()) == {"visit": {"address": {"city": "Salem"}}}


def test_a_decimal_is_contained_exactly_as_written_not_as_a_float() -> None:
    match = PayloadMatch.parse("payload.amount = 12345678901234567890.10")
    assert match.containment() == '{"amount": 12345678901234567890.10}'


@pytest.mark.parametrize(("written", "complaint"), [
    ("visit_id 42", "there is no '='"),
    ("= 42", "the path before '=' is empty"),
    ("visit_id = 42", "does not start with 'payload.'"),
    ("Payload.visit_id = 42", "does not start with 'payload.'"),
    ("payload = 42", "names no key after 'payload.'"),
    ("payload. = 42", "names no key after 'payload.'"),
    ("payload.visit..id = 42", "an empty key"),
    ("payload.visit_id. = 42", "an empty key"),
    ("payload.visit-id = 42", "'visit-id' is not a key"),
    ("payload.1st = 42", "'1st' is not a key"),
    ("payload.visit id = 42", "'visit id' is not a key"),
    ("payload.a.b.c.d.e.f.g.h.i = 1", f"9 keys, more than {PAYLOAD_PATH_KEYS}"),
    ("payload." + "k" * (PAYLOAD_PATH_CHARS + 1) + " = 1", f"longer than {PAYLOAD_PATH_CHARS} characters"),
    ("payload.visit_id =", "no value after '='"),
    ("payload.name = Alice Smith", "'Alice Smith' is not a value"),
    ("payload.ids = [1, 2]", "is not a value"),
    ("payload.visit = {\"id\": 1}", "is not a value"),
    ("payload.name = 'Alice'", "is not a value"),
    ("payload.name = \"Alice", "is not a string in double quotes"),
    ("payload.name = \"a\" \"b\"", "is not a string in double quotes"),
    ("payload.code = 007", "'007' starts like a number but is not a JSON number; to match text, quote it: \"007\""),
    ("payload.rate = 1,5", "starts like a number"),
    ("payload.rate = .5", "starts like a number"),
    ("payload.rate = +3", "starts like a number"),
    ("payload.rate = 1e999999", "beyond the numbers a payload holds"),
    ("payload.name = \"\\u0000\"", "NUL"),
    ("payload.name = a\x00b", "NUL"),
    ("payload.name = \"\\ud800\"", "lone surrogate"),
    ("payload.note = " + "x" * 1000, "longer than 1000 characters"),
])
def test_a_filter_that_cannot_be_read_is_refused_naming_payload_and_what_is_wrong(written: str,
                                                                                   complaint: str) -> None:
    with pytest.raises(Invalid) as refused:
        PayloadMatch.parse(written)
    assert refused.value.field == "payload"
    assert complaint in refused.value.message


# --- written back: str() is the canonical form parse() reads ------------------------------------

keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
paths = st.lists(keys, min_size=1, max_size=PAYLOAD_PATH_KEYS).map(tuple).filter(
    lambda path: len(".".join(path)) <= PAYLOAD_PATH_CHARS)
storable_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=60)
values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30), storable_text,
    st.decimals(allow_nan=False, allow_infinity=False).filter(lambda number: abs(number.adjusted()) <= 300),
)


@given(paths, values)
def test_what_str_writes_parse_reads_back_as_the_same_filter(path: tuple[str, ...], value: JsonScalar) -> None:
    match = PayloadMatch(path, value)
    again = PayloadMatch.parse(str(match))
    assert again.path == path
    assert again.value == value
    assert isinstance(again.value, bool) == isinstance(value, bool)
    assert isinstance(again.value, str) == isinstance(value, str)
    assert str(again) == str(match)


@given(paths, values)
def test_the_containment_document_is_json_of_the_value_at_the_path(path: tuple[str, ...],
                                                                   value: JsonScalar) -> None:
    document = json.loads(PayloadMatch(path, value).containment(), parse_float=Decimal, parse_int=Decimal)
    for key in path:
        assert list(document) == [key]
        document = document[key]
    assert document == value


def _read(text: str) -> PayloadMatch | Invalid:
    try:
        return PayloadMatch.parse(text)
    except Invalid as refused:
        return refused


@given(st.text(max_size=300))
def test_any_text_is_read_or_refused_naming_payload_never_anything_else(text: str) -> None:
    read = _read(text)
    if isinstance(read, Invalid):
        assert read.field == "payload"
    else:
        assert PayloadMatch.parse(str(read)) == read
