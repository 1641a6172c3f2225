"""Fingerprints of code (core/learning/fingerprints.py): what disguises they see through, and
the labelled set they are tuned on (bench/similarity_corpus.py)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.similarity_corpus import SOLUTIONS, disguise, labelled_pairs, rename, reorder
from core.learning import fingerprints
from core.learning.similarity import score

DEFAULT_THRESHOLD = 0.45  # SIMILARITY_THRESHOLD's default


def hashes(source: str) -> set[int]:
    return {p.hash for p in fingerprints.fingerprint(source)}


def similarity(a: str, b: str) -> float:
    mine, theirs = hashes(a), hashes(b)
    return score(len(mine & theirs), len(mine), len(theirs))


def test_renaming_every_name_changes_no_fingerprint() -> None:
    for solutions in SOLUTIONS.values():
        for source in solutions:
            assert hashes(rename(source, seed=7)) == hashes(source)


def test_layout_and_comments_change_no_token() -> None:
    tight = "def f(a,b):\n    return a+b  # add\n"
    loose = "def g( x ,\n      y ):\n\n    # the sum\n    return (x\n            + y)\n"
    assert [t.text for t in fingerprints.tokens(tight)] == ["def", "V", "(", "V", ",", "V", ")", ":", "return",
                                                            "V", "+", "V"]
    assert [t.text for t in fingerprints.tokens(loose)] == ["def", "V", "(", "V", ",", "V", ")", ":", "return",
                                                            "(", "V", "+", "V", ")"]


def test_builtins_attributes_strings_and_numbers_are_normalised_as_documented() -> None:
    tokens = [t.text for t in fingerprints.tokens("total = len(items.keys()) + 3.5 * f'{x}' + rb'\\x00'")]
    assert tokens == ["V", "=", "len", "(", "V", ".", "keys", "(", ")", ")", "+", "N", "*", "S", "+", "S"]


def test_reordered_functions_keep_most_fingerprints() -> None:
    for solutions in SOLUTIONS.values():
        for source in solutions:
            assert similarity(source, reorder(source, random.Random(1))) >= 0.7


def test_tokens_know_their_lines() -> None:
    tokens = fingerprints.tokens('x = """a\nb"""\ny = 1\n')
    assert [(t.text, t.line) for t in tokens] == [("V", 1), ("=", 1), ("S", 1), ("V", 3), ("=", 3), ("N", 3)]


def test_every_long_enough_match_shares_a_fingerprint() -> None:
    """Winnowing's guarantee: a common run of K + W - 1 tokens always yields a shared fingerprint."""
    rng = random.Random(0)
    vocabulary = [f"t{i}" for i in range(50)]
    for _ in range(200):
        common = [fingerprints.Token(rng.choice(vocabulary), 1) for _ in range(fingerprints.K + fingerprints.W - 1)]
        a = [fingerprints.Token(rng.choice(vocabulary), 1) for _ in range(rng.randrange(30))] + common
        b = common + [fingerprints.Token(rng.choice(vocabulary), 1) for _ in range(rng.randrange(30))]
        assert {p.hash for p in fingerprints.winnow(a)} & {p.hash for p in fingerprints.winnow(b)}


def test_the_labelled_set_is_separated_by_the_default_threshold() -> None:
    pairs = labelled_pairs()
    flagged = {id(p) for p in pairs if similarity(p.first, p.second) >= DEFAULT_THRESHOLD}
    copies = {id(p) for p in pairs if p.copied}
    assert len(copies) == 40
    assert len(pairs) - len(copies) == 30
    assert flagged == copies  # precision and recall 1.0


def test_disguised_copies_still_compile() -> None:
    for solutions in SOLUTIONS.values():
        for source in solutions:
            compile(disguise(source, seed=11), "copy.py", "exec")


def test_matching_lines_are_merged_into_regions() -> None:
    prints = [fingerprints.Fingerprint(1, 1, 3), fingerprints.Fingerprint(2, 4, 6), fingerprints.Fingerprint(3, 9, 9),
              fingerprints.Fingerprint(4, 20, 22)]
    assert fingerprints.lines_matching(prints, {1, 2, 3}) == [(1, 6), (9, 9)]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_lexes_without_error_and_fingerprints_stay_within_its_lines(text: str) -> None:
    lines = text.count("\n") + 1
    for p in fingerprints.fingerprint(text):
        assert 1 <= p.first_line <= p.last_line <= lines
        assert -(2 ** 63) <= p.hash < 2 ** 63


def test_a_megabyte_of_brackets_and_quotes_lexes_in_linear_time() -> None:
    hostile = ("'''" + "\\'" * 100_000 + "(" * 200_000 + '"' * 100_000 + "x" * 300_000)
    tokens = fingerprints.tokens(hostile)  # would not return if the lexer backtracked
    assert tokens[0].text == "S"
