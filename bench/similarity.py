"""similarity_bench: how well and how fast the similarity check works (core/learning/similarity.py).

1. Accuracy on the labelled set (bench/similarity_corpus.py): precision and recall at the
   configured SIMILARITY_THRESHOLD, with the scores of copies and of independent pairs.
2. Speed, in a database of its own (`ferry_simbench`, created, migrated and dropped): one
   problem whose index holds the fingerprints of N earlier submissions (random programs of three
   functions, by 500 learners), then the time of one check of a new submission (half of them
   disguised copies of an earlier one, which must be flagged; half new programs, which must not):
   - indexed: check_submission() as the task runs it (the lookup of queries.SIMILAR_SUBMISSIONS,
     the flags, the new fingerprints), rolled back after each check so N stays N;
   - pairwise (the baseline): the same submission scored against every earlier one's
     fingerprints read from the table, as a check without the index would do.
   Both at each size of `--sizes`, interleaved check by check.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from bench import scratch
from bench.similarity_corpus import SOLUTIONS, disguise, labelled_pairs
from core.accounts.models import Tenant, User
from core.learning import fingerprints, services, similarity
from core.learning.models import Kind, SimilarityCheck, Submission, SubmissionFingerprint
from core.platform.roles import Role

BENCH_DB = "ferry_simbench"
LEARNERS = 500

Report = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    sizes: tuple[int, ...] = (1_000, 10_000)
    checks: int = 50


def run_isolated(options: BenchOptions, keep: bool, report: Report) -> None:
    report_accuracy(report)
    report(f"\nsimilarity_bench: building {BENCH_DB} (migrations) …")
    scratch.run_isolated(BENCH_DB, "similarity_bench", ["--sizes", ",".join(map(str, options.sizes)),
                                                        "--checks", str(options.checks)], keep)


# --- accuracy -------------------------------------------------------------------------------------


def _score(a: str, b: str) -> float:
    mine = {p.hash for p in fingerprints.fingerprint(a)}
    theirs = {p.hash for p in fingerprints.fingerprint(b)}
    return similarity.score(len(mine & theirs), len(mine), len(theirs))


def report_accuracy(report: Report) -> None:
    pairs = labelled_pairs()
    threshold = settings.SIMILARITY_THRESHOLD
    scored = [(pair.copied, _score(pair.first, pair.second)) for pair in pairs]
    copies = [s for copied, s in scored if copied]
    independent = [s for copied, s in scored if not copied]
    true_pos = sum(s >= threshold for s in copies)
    false_pos = sum(s >= threshold for s in independent)
    solutions = sum(len(s) for s in SOLUTIONS.values())
    report(f"labelled set: {len(SOLUTIONS)} problems, {solutions} independent solutions; {len(copies)} disguised "
           f"copies (renamed, reordered, re-laid out, padded), {len(independent)} independent pairs")
    precision = true_pos / max(1, true_pos + false_pos)
    recall = true_pos / max(1, len(copies))
    report(f"threshold {threshold:.2f}: precision {precision:.2f}, recall {recall:.2f} "
           f"({true_pos} copies found, {len(copies) - true_pos} missed, {false_pos} false flags)")
    report(f"scores: copies {min(copies):.2f} to {max(copies):.2f} (median {statistics.median(copies):.2f}), "
           f"independent pairs {min(independent):.2f} to {max(independent):.2f} "
           f"(median {statistics.median(independent):.2f})")


# --- speed (inside the bench database) ------------------------------------------------------------


def _user(username: str, tenant: Tenant, role: Role) -> User:
    user = User.objects.create_user(username=username, tenant=tenant)
    user.groups.set([Group.objects.get(name=role.value)])
    return user


_OPS = ["+", "-", "*", "//", "%", "**"]
_COMPARE = ["<", "<=", ">", ">=", "==", "!="]
_CALLS = ["len", "sum", "min", "max", "sorted", "abs", "list", "set", "tuple", "reversed"]
_METHODS = ["append", "get", "pop", "items", "keys", "values", "add", "count", "index", "extend"]


def _statement(rng: random.Random, names: list[str], depth: int) -> list[str]:
    """One random statement (a block, below the top level) over `names`."""
    a, b, c = (rng.choice(names) for _ in range(3))
    pad = "    " * depth
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return [f"{pad}{a} = {b} {rng.choice(_OPS)} {rng.randrange(10)}"]
    if kind == 1:
        return [f"{pad}{a} = {rng.choice(_CALLS)}({b})"]
    if kind == 2:
        return [f"{pad}{a}.{rng.choice(_METHODS)}({c} {rng.choice(_OPS)} {b})"]
    if kind == 3:
        return [f"{pad}{a} {rng.choice(_OPS)}= {rng.choice(_CALLS)}({b}) {rng.choice(_OPS)} {c}"]
    header = rng.choice([f"for {a} in range({rng.choice(_CALLS)}({b})):", f"if {a} {rng.choice(_COMPARE)} {b}:",
                         f"while {a} {rng.choice(_COMPARE)} {rng.randrange(10)}:"])
    body = [line for _ in range(rng.randrange(1, 4)) for line in _statement(rng, names, depth + 1)]
    return [pad + header, *body]


def _independent(rng: random.Random) -> str:
    """A random program of three functions: one learner's own work, for the speed runs (the
    labelled set measures accuracy; random programs keep the index as varied as real work)."""
    lines = []
    for function in range(3):
        names = [f"v{i}" for i in range(rng.randrange(3, 7))]
        lines.append(f"def step{function}({', '.join(names[:2])}):")
        for _ in range(rng.randrange(4, 8)):
            lines += _statement(rng, names, 1)
        lines += [f"    return {rng.choice(names)}", ""]
    return "\n".join(lines)


def _fill(problem_id: int, version_id: int, tenant: Tenant, learners: list[User], upto: int,
          rng: random.Random, report: Report) -> None:
    """Earlier, checked submissions until the problem has `upto`, fingerprints and all."""
    have = Submission.objects.filter(problem_id=problem_id).count()
    now = timezone.now()
    for start in range(have, upto, 1_000):
        batch = [Submission(tenant=tenant, problem_id=problem_id, version_id=version_id,
                            learner=learners[i % len(learners)], source=_independent(rng), status="passed",
                            deadline_at=now, finished_at=now) for i in range(start, min(upto, start + 1_000))]
        Submission.objects.bulk_create(batch)
        prints, checks = [], []
        for submission in batch:
            found = fingerprints.fingerprint(submission.source)
            prints += [SubmissionFingerprint(tenant=tenant, problem_id=problem_id, submission_id=submission.id,
                                             learner_id=submission.learner_id, hash=p.hash, first_line=p.first_line,
                                             last_line=p.last_line) for p in found]
            checks.append(SimilarityCheck(submission_id=submission.id, tenant=tenant, problem_id=problem_id,
                                          fingerprints=len({p.hash for p in found}), compared=0, flagged=0))
        SubmissionFingerprint.objects.bulk_create(prints, batch_size=5_000)
        SimilarityCheck.objects.bulk_create(checks)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE learning_submissionfingerprint; ANALYZE learning_similaritycheck")
    report(f"  {upto:,} earlier submissions, "
           f"{SubmissionFingerprint.objects.filter(problem_id=problem_id).count():,} fingerprints")


class _Rollback(Exception):
    pass


def _indexed_ms(submission: Submission) -> tuple[float, int]:
    """One check as the task runs it, rolled back; (milliseconds, pairs flagged)."""
    flagged = 0
    started = time.perf_counter()
    try:
        with transaction.atomic():
            outcome = similarity.check_submission(submission.id, submission.tenant_id)
            flagged = len(outcome.flags) if outcome else 0
            elapsed = (time.perf_counter() - started) * 1000
            raise _Rollback
    except _Rollback:
        pass
    return elapsed, flagged


def _pairwise_ms(submission: Submission) -> tuple[float, int]:
    """The baseline: every earlier submission's fingerprints read and scored against this one."""
    started = time.perf_counter()
    mine = {p.hash for p in fingerprints.fingerprint(submission.source)}
    with connection.cursor() as cursor:
        cursor.execute("SELECT f.submission_id, array_agg(f.hash) FROM learning_submissionfingerprint f "
                       "WHERE f.problem_id = %s AND f.learner_id <> %s GROUP BY f.submission_id",
                       [submission.problem_id, submission.learner_id])
        flagged = 0
        for _, hashes in cursor.fetchall():
            theirs = set(hashes)
            flagged += similarity.score(len(mine & theirs), len(mine), len(theirs)) >= settings.SIMILARITY_THRESHOLD
    return (time.perf_counter() - started) * 1000, flagged


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def run_inside(options: BenchOptions, report: Report) -> None:
    rng = random.Random(0)
    tenant = Tenant.objects.create(name="Bench Agency", slug="bench")
    reviewer = _user("reviewer", tenant, Role.REVIEWER)
    version = services.create_content(reviewer, Kind.PROBLEM, "Bench problem", "Solve it.",
                                      "def test_it():\n    assert True\n")
    problem_id = version.content_id
    learners = [_user(f"learner{i}", tenant, Role.LEARNER) for i in range(LEARNERS)]
    newcomer = _user("newcomer", tenant, Role.LEARNER)
    rows = []
    for size in options.sizes:
        _fill(problem_id, version.id, tenant, learners, size, rng, report)
        now = timezone.now()
        earlier = list(Submission.objects.filter(problem_id=problem_id).values_list("source", flat=True)
                       .order_by("?")[:options.checks // 2])
        sources = [disguise(source, seed) for seed, source in enumerate(earlier)]
        sources += [_independent(rng) for _ in range(options.checks - len(sources))]
        fresh = Submission.objects.bulk_create(
            Submission(tenant=tenant, problem_id=problem_id, version_id=version.id, learner=newcomer,
                       source=source, status="passed", deadline_at=now, finished_at=now) for source in sources)
        indexed, pairwise, flags = [], [], []
        for submission in fresh:
            ms, flagged = _indexed_ms(submission)
            indexed.append(ms)
            flags.append(flagged)
            pairwise.append(_pairwise_ms(submission)[0])
        copies = len(earlier)
        found = sum(f > 0 for f in flags[:copies])
        false_flags = sum(f > 0 for f in flags[copies:])
        Submission.objects.filter(id__in=[s.id for s in fresh]).delete()
        rows.append((size, indexed, pairwise, f"{found}/{copies}", f"{false_flags}/{len(flags) - copies}"))
    report(f"\none check of a new submission ({options.checks} checks per size, half of them copies; "
           f"SIMILARITY_COMMON {settings.SIMILARITY_COMMON}):")
    report(f"{'earlier':>8}  {'indexed p50 ms':>14}  {'p95':>6}  {'pairwise p50 ms':>15}  {'p95':>7}  "
           f"{'copies found':>12}  {'others flagged':>14}")
    for size, indexed, pairwise, found_of, flagged_of in rows:
        report(f"{size:>8,}  {statistics.median(indexed):>14.1f}  {_p(indexed, 0.95):>6.1f}  "
               f"{statistics.median(pairwise):>15.1f}  {_p(pairwise, 0.95):>7.1f}  {found_of:>12}  {flagged_of:>14}")
