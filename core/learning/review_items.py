"""A lesson version's review items: what authors write, how it is checked, how answers are marked.

Items are stored on the version (`Version.review_items`, immutable with it: adr/0020) as a JSON
list of

- multiple choice: `{"kind": "choice", "prompt": str, "options": [str, ...], "correct": [int, ...]}`
  (`correct` are positions in `options`; a learner must pick exactly those), or
- short answer: `{"kind": "short", "prompt": str, "answers": [str, ...]}` (an answer is right
  when it equals one of `answers` after `normalise`).

Authors write them as that JSON list (the API) or in the line format of the authoring page
(`parse_lines`): items separated by a blank line, each a `? prompt` line followed by `- wrong
option` / `+ right option` lines (multiple choice) or `= accepted answer` lines (short answer).
Every refusal is Invalid naming `review_items`, with the item (and line) at fault.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from core.learning.text import clean_text
from core.platform.errors import Invalid

FIELD = "review_items"
MAX_ITEMS = 20
PROMPT_MAX = 500
OPTION_MAX = 200
MAX_OPTIONS = 8
MAX_ANSWERS = 10


def _refuse(message: str) -> Invalid:
    return Invalid(f"{FIELD}: {message}", field=FIELD)


def _text(value: object, where: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise _refuse(f"{where} must be text")
    text = clean_text(value, FIELD).strip()
    if not text:
        raise _refuse(f"{where} must not be empty")
    if len(text) > max_length:
        raise _refuse(f"{where} is {len(text)} characters; at most {max_length} are allowed")
    return text


def _texts(values: object, where: str, most: int) -> list[str]:
    if not isinstance(values, list) or not values:
        raise _refuse(f"{where} must be a non-empty list")
    if len(values) > most:
        raise _refuse(f"{where}: at most {most} are allowed")
    return [_text(value, f"{where}[{n}]", OPTION_MAX) for n, value in enumerate(values)]


def _positions(values: object, where: str, count: int) -> list[int]:
    if not isinstance(values, list) or not values:
        raise _refuse(f"{where} must list at least one correct option")
    if any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < count for v in values):
        raise _refuse(f"{where} must hold positions of options, 0 to {count - 1}")
    if len(set(values)) != len(values):
        raise _refuse(f"{where} names an option twice")
    return sorted(values)


def _item(raw: object, n: int) -> dict[str, Any]:
    where = f"item {n + 1}"
    if not isinstance(raw, dict):
        raise _refuse(f"{where} must be an object with prompt and options/correct or answers")
    prompt = _text(raw.get("prompt"), f"{where} prompt", PROMPT_MAX)
    kind = raw.get("kind") or ("short" if "answers" in raw else "choice")
    if kind == "short":
        return {"kind": "short", "prompt": prompt, "answers": _texts(raw.get("answers"), f"{where} answers",
                                                                      MAX_ANSWERS)}
    if kind != "choice":
        raise _refuse(f"{where} kind must be choice or short")
    options = _texts(raw.get("options"), f"{where} options", MAX_OPTIONS)
    if len(options) < 2:
        raise _refuse(f"{where} needs at least two options")
    return {"kind": "choice", "prompt": prompt, "options": options,
            "correct": _positions(raw.get("correct"), f"{where} correct", len(options))}


def validate_items(kind: str, raw: object) -> list[dict[str, Any]]:
    """The items as stored, from a JSON list or the line format; lessons only (a problem's
    items are refused). None or empty means no items."""
    if raw is None or raw == "" or raw == []:
        return []
    if kind != "lesson":
        raise _refuse("only lessons have review items")
    items = parse_lines(raw) if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise _refuse("must be a list of items")
    if len(items) > MAX_ITEMS:
        raise _refuse(f"{len(items)} items; at most {MAX_ITEMS} are allowed")
    return [_item(item, n) for n, item in enumerate(items)]


# --- the authoring page's line format ------------------------------------------------------------

_MARKS = {"-": "wrong", "+": "right", "=": "answer"}


def _block_item(lines: list[tuple[int, str]]) -> dict[str, Any]:
    first_no, first = lines[0]
    if not first.startswith("?"):
        raise _refuse(f"line {first_no}: an item starts with a '? prompt' line")
    item: dict[str, Any] = {"prompt": first[1:].strip()}
    options: list[str] = []
    correct: list[int] = []
    answers: list[str] = []
    for no, line in lines[1:]:
        mark = _MARKS.get(line[:1])
        if mark is None:
            raise _refuse(f"line {no}: start it with -, + or = (a wrong option, a right one, an accepted answer)")
        if mark == "answer":
            answers.append(line[1:].strip())
            continue
        if mark == "right":
            correct.append(len(options))
        options.append(line[1:].strip())
    if answers and options:
        raise _refuse(f"line {first_no}: an item has options (-, +) or accepted answers (=), not both")
    if answers:
        return {**item, "kind": "short", "answers": answers}
    return {**item, "kind": "choice", "options": options, "correct": correct}


def parse_lines(text: str) -> list[dict[str, Any]]:
    """Items from the line format (see the module's docstring), not yet validated."""
    blocks: list[list[tuple[int, str]]] = [[]]
    for no, raw_line in enumerate(clean_text(text, FIELD).splitlines(), start=1):
        line = raw_line.strip()
        if line:
            blocks[-1].append((no, line))
        elif blocks[-1]:
            blocks.append([])
    return [_block_item(block) for block in blocks if block]


def as_lines(items: list[dict[str, Any]]) -> str:
    """The line format of stored items (the authoring form starts from the latest version's)."""
    blocks = []
    for item in items:
        lines = [f"? {item['prompt']}"]
        if item["kind"] == "short":
            lines += [f"= {answer}" for answer in item["answers"]]
        else:
            lines += [f"{'+' if n in item['correct'] else '-'} {option}" for n, option in enumerate(item["options"])]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# --- marking answers -------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Short answers compare after this: compatibility forms folded (NFKC), case folded,
    whitespace runs made one space, surrounding punctuation and spaces dropped."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", folded).strip(" .,;:!?\"'()[]")


@dataclass(frozen=True)
class Marked:
    correct: bool
    response: str  # as recorded in the answer's history
    expected: str  # the right answer, to show the learner


def _choices(item: dict[str, Any], choices: object) -> list[int]:
    if not isinstance(choices, list) or not choices:
        raise Invalid("choices: pick at least one option", field="choices")
    picked = set()
    for value in choices:
        try:
            position = int(value)
        except (TypeError, ValueError):
            raise Invalid("choices must be option positions", field="choices") from None
        if isinstance(value, bool) or not 0 <= position < len(item["options"]):
            raise Invalid(f"choices: no option {value!r}", field="choices")
        picked.add(position)
    return sorted(picked)


def mark(item: dict[str, Any], answer: object = None, choices: object = None) -> Marked:
    """Mark a response to `item`: `choices` (option positions) for multiple choice, `answer`
    (text) for short answer. Invalid naming the field when the response is not one."""
    if item["kind"] == "choice":
        picked = _choices(item, choices)
        expected = "; ".join(item["options"][n] for n in item["correct"])
        return Marked(picked == item["correct"], ",".join(map(str, picked)), expected)
    if not isinstance(answer, str) or not normalise(clean_text(answer, "answer")):
        raise Invalid("answer must not be empty", field="answer")
    if len(answer) > OPTION_MAX:
        raise Invalid(f"answer is longer than {OPTION_MAX} characters", field="answer")
    given = normalise(answer)
    return Marked(given in {normalise(a) for a in item["answers"]}, answer.strip(), item["answers"][0])
