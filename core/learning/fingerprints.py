"""Code fingerprints for similarity checks: token normalisation and winnowing (adr/0027).

A submission is reduced to a stream of normalised tokens: comments, blank lines and
indentation disappear; every name the learner chose becomes `V`, every number `N`, every
string `S`; keywords, operators, builtins and attribute names stay (learners rarely rename
`len` or `.append`). Renaming variables and reformatting therefore change nothing.

Each run of K tokens is hashed, and winnowing (Schleimer, Wilkerson and Aiken, "Winnowing:
local algorithms for document fingerprinting", SIGMOD 2003, the method of MOSS) keeps the
smallest hash of every window of W consecutive hashes. Any match of at least K + W - 1
tokens between two submissions is then certain to share a fingerprint, and a submission of
n tokens keeps about 2n / (W + 1) of them. Because fingerprints are a set, reordering the
functions of a copy does not hide it either.

The lexer is a single regular expression without backtracking over the source: linear in
its length, and it never parses, imports or runs the code. Pure Python, nothing of Django.
"""

from __future__ import annotations

import builtins
import hashlib
import keyword
import re
from dataclasses import dataclass

# Tokens per hashed run, and runs per window: matches of K + W - 1 = 14 tokens or more are
# always found (about one line of code); shorter coincidences are ignored. Chosen on the
# labelled set of bench/similarity.py.
K = 10
W = 5

_TOKEN = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>(?:[rRbBuUfF]{1,2})?(?:'''(?:[^'\\]|\\.|'(?!''))*(?:'''|\Z)|\"\"\"(?:[^"\\]|\\.|"(?!""))*(?:\"\"\"|\Z)
                 |'(?:[^'\\\n]|\\.)*(?:'|$)|"(?:[^"\\\n]|\\.)*(?:"|$)))
  | (?P<number>(?:0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)[jJ]?)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>\*\*=?|//=?|>>=?|<<=?|->|:=|[-+*/%&|^@<>=!]=|[-+*/%&|^~@<>=.,:;()\[\]{}])
  | (?P<newline>\n)
  | (?P<space>[ \t\f\r\\]+)
  | (?P<other>.)
""", re.VERBOSE | re.MULTILINE)

KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))


@dataclass(frozen=True)
class Token:
    text: str  # normalised: V, N, S, a keyword, a builtin, an attribute name or an operator
    line: int  # 1-based line of the source where it starts


@dataclass(frozen=True)
class Fingerprint:
    hash: int  # a signed 64-bit integer (PostgreSQL bigint)
    first_line: int  # the lines of the source its K tokens span
    last_line: int


def tokens(source: str) -> list[Token]:
    """The normalised tokens of `source`, in order (see the module's docstring)."""
    result: list[Token] = []
    line = 1
    previous = ""
    for match in _TOKEN.finditer(source):
        kind, text = match.lastgroup, match.group()
        if kind == "name":
            normal = text if text in KEPT_NAMES or previous == "." else "V"
        elif kind in ("number", "string"):
            normal = "N" if kind == "number" else "S"
        elif kind == "op":
            normal = text
        else:
            normal = ""
        if normal:
            result.append(Token(normal, line))
            previous = normal
        line += text.count("\n")
    return result


def _hash(run: list[Token]) -> int:
    digest = hashlib.blake2b(" ".join(t.text for t in run).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def winnow(stream: list[Token], k: int = K, w: int = W) -> list[Fingerprint]:
    """The winnowed fingerprints of a token stream: in every window of `w` consecutive k-token
    hashes, the smallest (the rightmost on ties), each position recorded once. A stream shorter
    than k tokens is one fingerprint of the whole; an empty one has none."""
    if not stream:
        return []
    if len(stream) < k:
        return [Fingerprint(_hash(stream), stream[0].line, stream[-1].line)]
    hashes = [_hash(stream[i:i + k]) for i in range(len(stream) - k + 1)]
    chosen: dict[int, Fingerprint] = {}
    for start in range(max(1, len(hashes) - w + 1)):
        window = hashes[start:start + w]
        smallest = min(window)
        at = start + max(i for i, h in enumerate(window) if h == smallest)
        chosen.setdefault(at, Fingerprint(smallest, stream[at].line, stream[at + k - 1].line))
    return [chosen[at] for at in sorted(chosen)]


def fingerprint(source: str) -> list[Fingerprint]:
    """A submission's fingerprints, in source order."""
    return winnow(tokens(source))


def lines_matching(prints: list[Fingerprint], hashes: set[int]) -> list[tuple[int, int]]:
    """The line ranges of `prints` whose hash is in `hashes`, merged where they touch or
    overlap: the regions to highlight."""
    spans = sorted((p.first_line, p.last_line) for p in prints if p.hash in hashes)
    merged: list[tuple[int, int]] = []
    for first, last in spans:
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged
