"""A small labelled set for the similarity check (bench/similarity.py, tests).

Five problems, each with four solutions written independently of one another (different
approaches or different hands: the negatives), and disguised copies of each solution made
by the transformations below (the positives): every name the author chose renamed, the
top-level functions reordered, the layout changed and comments added, and a few useless
statements slipped in.
"""

from __future__ import annotations

import io
import random
import re
import tokenize
from dataclasses import dataclass

from core.learning.fingerprints import KEPT_NAMES

SOLUTIONS: dict[str, list[str]] = {
    "word_counts": [
        '''def word_counts(text):
    counts = {}
    for word in text.lower().split():
        word = word.strip(".,;:!?")
        if word:
            counts[word] = counts.get(word, 0) + 1
    return counts


def most_common(text, n):
    counts = word_counts(text)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [word for word, _ in ranked[:n]]
''',
        '''import collections
import string


def clean(token):
    return token.strip(string.punctuation).lower()


def word_counts(text):
    return dict(collections.Counter(w for w in map(clean, text.split()) if w))


def most_common(text, n):
    c = collections.Counter(word_counts(text))
    return [w for w, _ in sorted(c.most_common(), key=lambda p: (-p[1], p[0]))[:n]]
''',
        '''def word_counts(text):
    result = {}
    current = ""
    for ch in text.lower() + " ":
        if ch.isalnum() or ch == "'":
            current += ch
        elif current:
            result[current] = result.get(current, 0) + 1
            current = ""
    return result


def most_common(text, n):
    table = word_counts(text)
    out = []
    while table and len(out) < n:
        best = min(table, key=lambda w: (-table[w], w))
        out.append(best)
        del table[best]
    return out
''',
        '''import re


def word_counts(text):
    found = re.findall(r"[a-z0-9']+", text.lower())
    tally = {}
    for item in found:
        if item not in tally:
            tally[item] = 0
        tally[item] += 1
    return tally


def most_common(text, n):
    pairs = [(-count, word) for word, count in word_counts(text).items()]
    pairs.sort()
    return [word for _, word in pairs][:n]
''',
    ],
    "balanced": [
        '''def balanced(s):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in s:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack


def first_unmatched(s):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for i, ch in enumerate(s):
        if ch in "([{":
            stack.append((ch, i))
        elif ch in pairs:
            if not stack or stack[-1][0] != pairs[ch]:
                return i
            stack.pop()
    return stack[0][1] if stack else -1
''',
        '''OPEN = "([{"
CLOSE = ")]}"


def first_unmatched(s):
    seen = []
    for index, char in enumerate(s):
        if char in OPEN:
            seen.append(index)
        elif char in CLOSE:
            if seen and OPEN.index(s[seen[-1]]) == CLOSE.index(char):
                seen.pop()
            else:
                return index
    if seen:
        return seen[0]
    return -1


def balanced(s):
    return first_unmatched(s) == -1
''',
        '''def balanced(s):
    previous = None
    while previous != s:
        previous = s
        s = s.replace("()", "").replace("[]", "").replace("{}", "")
        s = "".join(c for c in s if c in "()[]{}")
    return s == ""


def first_unmatched(s):
    for end in range(1, len(s) + 1):
        prefix = "".join(c for c in s[:end] if c in "()[]{}")
        closers = sum(prefix.count(c) for c in ")]}")
        if closers and not balanced(prefix + "") and prefix[-1] in ")]}":
            return end - 1
    depth_ok = balanced(s)
    return -1 if depth_ok else next(i for i, c in enumerate(s) if c in "([{")
''',
        '''MATCH = {"(": ")", "[": "]", "{": "}"}


class Checker:
    def __init__(self, text):
        self.text = text
        self.expect = []

    def scan(self):
        for pos, c in enumerate(self.text):
            if c in MATCH:
                self.expect.append((MATCH[c], pos))
            elif c in MATCH.values():
                if not self.expect or self.expect.pop()[0] != c:
                    return pos
        return self.expect[0][1] if self.expect else -1


def first_unmatched(s):
    return Checker(s).scan()


def balanced(s):
    return Checker(s).scan() < 0
''',
    ],
    "intervals": [
        '''def merge(intervals):
    result = []
    for start, end in sorted(intervals):
        if result and start <= result[-1][1]:
            result[-1][1] = max(result[-1][1], end)
        else:
            result.append([start, end])
    return [tuple(pair) for pair in result]


def total_covered(intervals):
    return sum(end - start for start, end in merge(intervals))


def gaps(intervals):
    merged = merge(intervals)
    return [(a[1], b[0]) for a, b in zip(merged, merged[1:])]
''',
        '''def merge(intervals):
    if not intervals:
        return []
    ordered = sorted(intervals, key=lambda iv: iv[0])
    lo, hi = ordered[0]
    merged = []
    for a, b in ordered[1:]:
        if a > hi:
            merged.append((lo, hi))
            lo, hi = a, b
        else:
            hi = max(hi, b)
    merged.append((lo, hi))
    return merged


def gaps(intervals):
    m = merge(intervals)
    holes = []
    for i in range(1, len(m)):
        holes.append((m[i - 1][1], m[i][0]))
    return holes


def total_covered(intervals):
    total = 0
    for a, b in merge(intervals):
        total += b - a
    return total
''',
        '''def merge(intervals):
    events = []
    for s, e in intervals:
        events.append((s, 0))
        events.append((e, 1))
    events.sort()
    depth = 0
    out = []
    begin = None
    for point, kind in events:
        if kind == 0:
            if depth == 0:
                begin = point
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                if out and out[-1][1] == begin:
                    out[-1] = (out[-1][0], point)
                else:
                    out.append((begin, point))
    return out


def total_covered(intervals):
    return sum(b - a for a, b in merge(intervals))


def gaps(intervals):
    spans = merge(intervals)
    return list(zip([s[1] for s in spans[:-1]], [s[0] for s in spans[1:]]))
''',
        '''from functools import reduce


def _join(acc, interval):
    if acc and interval[0] <= acc[-1][1]:
        last = acc.pop()
        acc.append((last[0], max(last[1], interval[1])))
    else:
        acc.append(tuple(interval))
    return acc


def merge(intervals):
    return reduce(_join, sorted(intervals), [])


def total_covered(intervals):
    return reduce(lambda t, iv: t + iv[1] - iv[0], merge(intervals), 0)


def gaps(intervals):
    spans = merge(intervals)
    return [(spans[k][1], spans[k + 1][0]) for k in range(len(spans) - 1)]
''',
    ],
    "roman": [
        '''VALUES = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
          (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def to_roman(n):
    out = ""
    for value, letters in VALUES:
        while n >= value:
            out += letters
            n -= value
    return out


def from_roman(s):
    total = 0
    i = 0
    for value, letters in VALUES:
        while s.startswith(letters, i):
            total += value
            i += len(letters)
    return total
''',
        '''DIGITS = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def from_roman(s):
    result = 0
    for i, ch in enumerate(s):
        v = DIGITS[ch]
        if i + 1 < len(s) and DIGITS[s[i + 1]] > v:
            result -= v
        else:
            result += v
    return result


def to_roman(n):
    parts = []
    for ones, fives, tens, size in (("M", "", "", 1000), ("C", "D", "M", 100), ("X", "L", "C", 10),
                                    ("I", "V", "X", 1)):
        d, n = divmod(n, size)
        if d == 9:
            parts.append(ones + tens)
        elif d >= 5:
            parts.append(fives + ones * (d - 5))
        elif d == 4:
            parts.append(ones + fives)
        else:
            parts.append(ones * d)
    return "".join(parts)
''',
        '''THOUSANDS = ["", "M", "MM", "MMM"]
HUNDREDS = ["", "C", "CC", "CCC", "CD", "D", "DC", "DCC", "DCCC", "CM"]
TENS = ["", "X", "XX", "XXX", "XL", "L", "LX", "LXX", "LXXX", "XC"]
UNITS = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"]


def to_roman(n):
    return THOUSANDS[n // 1000] + HUNDREDS[n % 1000 // 100] + TENS[n % 100 // 10] + UNITS[n % 10]


def from_roman(s):
    for n in range(1, 4000):
        if to_roman(n) == s:
            return n
    raise ValueError(s)
''',
        '''def from_roman(text):
    worth = dict(zip("IVXLCDM", [1, 5, 10, 50, 100, 500, 1000]))
    total, biggest = 0, 0
    for letter in reversed(text):
        amount = worth[letter]
        if amount < biggest:
            total -= amount
        else:
            total += amount
            biggest = amount
    return total


def to_roman(number):
    table = list(zip([1000, 900, 500, 400, 100, 90, 50, 40, 10, 9, 5, 4, 1],
                     "M CM D CD C XC L XL X IX V IV I".split()))
    pieces = []
    for amount, symbol in table:
        count, number = divmod(number, amount)
        pieces.append(symbol * count)
    return "".join(pieces)
''',
    ],
    "matrix": [
        '''def transpose(m):
    return [list(row) for row in zip(*m)]


def multiply(a, b):
    cols = transpose(b)
    return [[sum(x * y for x, y in zip(row, col)) for col in cols] for row in a]


def identity(n):
    return [[1 if i == j else 0 for j in range(n)] for i in range(n)]


def power(m, k):
    result = identity(len(m))
    while k:
        if k & 1:
            result = multiply(result, m)
        m = multiply(m, m)
        k >>= 1
    return result
''',
        '''def multiply(a, b):
    rows, inner, cols = len(a), len(b), len(b[0])
    c = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        for j in range(cols):
            for k in range(inner):
                c[i][j] += a[i][k] * b[k][j]
    return c


def transpose(m):
    t = []
    for j in range(len(m[0])):
        t.append([m[i][j] for i in range(len(m))])
    return t


def identity(n):
    eye = [[0] * n for _ in range(n)]
    for i in range(n):
        eye[i][i] = 1
    return eye


def power(m, k):
    out = identity(len(m))
    for _ in range(k):
        out = multiply(out, m)
    return out
''',
        '''import itertools


def transpose(m):
    return list(map(list, itertools.zip_longest(*m)))


def identity(n):
    return [[int(r == c) for c in range(n)] for r in range(n)]


def multiply(a, b):
    bt = transpose(b)
    out = []
    for row in a:
        out.append([sum(itertools.starmap(lambda p, q: p * q, zip(row, column))) for column in bt])
    return out


def power(m, k):
    if k == 0:
        return identity(len(m))
    half = power(m, k // 2)
    sq = multiply(half, half)
    return multiply(sq, m) if k % 2 else sq
''',
        '''class Matrix:
    def __init__(self, rows):
        self.rows = [list(r) for r in rows]

    def __matmul__(self, other):
        size = range(len(other.rows))
        return Matrix([[sum(r[t] * other.rows[t][c] for t in size) for c in range(len(other.rows[0]))]
                       for r in self.rows])


def transpose(m):
    return [[m[r][c] for r in range(len(m))] for c in range(len(m[0]))]


def multiply(a, b):
    return (Matrix(a) @ Matrix(b)).rows


def identity(n):
    return [[1 if r == c else 0 for c in range(n)] for r in range(n)]


def power(m, k):
    acc = Matrix(identity(len(m)))
    base = Matrix(m)
    for _ in range(k):
        acc = acc @ base
    return acc.rows
''',
    ],
}

_FUNCTION_START = re.compile(r"^(?:def |class |[A-Z_]+ = )", re.MULTILINE)
_USELESS = ["unused = None", "pass", "checked = True", "_ = 0"]


@dataclass(frozen=True)
class Pair:
    problem: str
    first: str
    second: str
    copied: bool  # the label: True for a disguised copy, False for independent solutions


def rename(source: str, seed: int, keep: frozenset[str] = frozenset()) -> str:
    """Every name the author chose (not keywords, builtins or attributes, nor `keep`: the names
    the problem asks for) renamed consistently."""
    names: dict[str, str] = {}
    out: list[tokenize.TokenInfo] = []
    previous = ""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.string not in KEPT_NAMES | keep and previous != ".":
            new = names.setdefault(token.string, f"n{seed}_{len(names)}")
            token = token._replace(string=new)
        out.append(token)
        previous = token.string
    return tokenize.untokenize(out)


def reorder(source: str, rng: random.Random) -> str:
    """The top-level blocks (imports first, then definitions) in a shuffled order."""
    starts = [m.start() for m in _FUNCTION_START.finditer(source)]
    if not starts:
        return source
    head, blocks = source[:starts[0]], [source[a:b] for a, b in zip(starts, [*starts[1:], len(source)], strict=True)]
    rng.shuffle(blocks)
    return head + "\n\n".join(block.strip("\n") for block in blocks) + "\n"


def relayout(source: str, rng: random.Random) -> str:
    """Two-space indentation, extra blank lines, comments, and a useless statement or two."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip(" ")
        indent = " " * ((len(line) - len(stripped)) // 2)
        lines.append(indent + stripped)
        if stripped.startswith(("def ", "for ", "while ")) and stripped.endswith(":") and rng.random() < 0.5:
            body_indent = indent + "  "
            lines.append(body_indent + rng.choice(_USELESS) + "  # keep")
        elif stripped and rng.random() < 0.15:
            lines.append("")
            lines.append(indent + "# " + rng.choice(["step", "now the rest", "see above", "todo"]))
    return "\n".join(lines) + "\n"


def disguise(source: str, seed: int, keep: frozenset[str] = frozenset()) -> str:
    """A copy of `source` as a learner might hide it (keeping the names in `keep`)."""
    rng = random.Random(seed)
    return relayout(reorder(rename(source, seed, keep), rng), rng)


def labelled_pairs(copies_per_solution: int = 2) -> list[Pair]:
    """Every pair of independent solutions of a problem (negatives), and disguised copies of
    every solution (positives)."""
    pairs: list[Pair] = []
    for problem, solutions in SOLUTIONS.items():
        for i, first in enumerate(solutions):
            pairs.extend(Pair(problem, first, second, copied=False) for second in solutions[i + 1:])
            pairs.extend(Pair(problem, first, disguise(first, seed), copied=True)
                         for seed in range(copies_per_solution))
    return pairs
