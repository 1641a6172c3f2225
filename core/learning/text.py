"""Every piece of text a user sends the learning app passes through clean_text(), and every
id typed into a form through parse_id(), so bad input is a 400 naming the field, never a 500.

PostgreSQL cannot store NUL in text (DataError), a lone surrogate cannot be encoded as
UTF-8 (UnicodeEncodeError, anywhere the text is written or hashed), and other C0 control
characters have no business in titles, Markdown or code (two of them are the search
highlight markers, core/learning/queries.py: SEARCH). So NUL and lone surrogates are refused,
naming the field, and the other control characters are dropped, except tab, newline and
carriage return.
"""

from __future__ import annotations

import re

from core.platform.errors import Invalid

# C0 controls and DEL, except \t \n \r.
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Ids are PostgreSQL bigints: at most 18 digits is always in range (and int() never sees
# thousands of digits, or characters like "²" that isdigit() accepts but int() refuses).
_ID = re.compile(r"[0-9]{1,18}")


def clean_text(value: object, field: str) -> str:
    """`value` as storable text: Invalid naming `field` if it is not a string, or contains NUL
    or a lone surrogate; other control characters (but tab, newline, carriage return) removed.
    Does not strip whitespace or check lengths: the caller's rules do."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be text", field=field)
    if "\x00" in value:
        raise Invalid(f"{field} must not contain NUL characters", field=field)
    if _SURROGATE.search(value):
        raise Invalid(f"{field} is not valid Unicode text (it contains a lone surrogate)", field=field)
    return _CONTROL.sub("", value)


def parse_id(raw: object) -> int | None:
    """A positive database id from form or query text, or None if `raw` is not one."""
    if not isinstance(raw, str) or not _ID.fullmatch(raw):
        return None
    value = int(raw)
    return value if value > 0 else None
