"""Similarity checks of graded submissions: what is flagged, what never is, and the reviewer's
decision (core/learning/similarity.py).

At Harbor, Lena solves "Merge visit windows"; Mateo hands in her solution with every name
changed, the functions reordered and the layout redone; Nadia writes her own. At Northside,
Carol submits Lena's code word for word, and must never be compared with Harbor's learners.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction

from bench.similarity_corpus import SOLUTIONS, disguise
from core.accounts.models import Tenant, User
from core.learning import services, similarity
from core.learning.models import Kind, SimilarityCheck, SimilarityFlag, Submission, SubmissionFingerprint
from core.platform.errors import Conflict, Invalid, NotFound
from core.platform.roles import Role
from tests.helpers.learning import published
from tests.helpers.outbox import events_of, execute, pending_tasks
from tests.helpers.people import make_user
from tests.helpers.web import signed_in
from tests.support.graders import FakeGrader, report

pytestmark = pytest.mark.usefixtures("outbox_db", "grader")

ORIGINAL, INDEPENDENT = SOLUTIONS["intervals"][0], SOLUTIONS["intervals"][1]


@pytest.fixture
def mateo(harbor: Tenant) -> User:
    return make_user("mateo", harbor, Role.LEARNER)


@pytest.fixture
def nadia(harbor: Tenant) -> User:
    return make_user("nadia", harbor, Role.LEARNER)


@pytest.fixture
def problem_id(bob: User) -> int:
    version = published(bob, bob, kind=Kind.PROBLEM, title="Merge visit windows", body="Write merge(intervals).")
    return version.content_id


def graded(problem_id: int, learner: User, source: str) -> Submission:
    """A submission of `source`, graded (by the fake grader) and similarity-checked, as the
    workers would do it."""
    submission = services.submit_solution(problem_id, learner, source)
    [grade] = pending_tasks("learning.grade_submission")
    execute(grade)
    [check] = pending_tasks("learning.check_similarity")
    assert check.payload == {"submission_id": submission.id}
    execute(check)
    submission.refresh_from_db()
    return submission


def test_a_disguised_copy_is_flagged_with_the_matching_lines_of_both(
        problem_id: int, lena: User, mateo: User, nadia: User) -> None:
    original = graded(problem_id, lena, ORIGINAL)
    own_work = graded(problem_id, nadia, INDEPENDENT)
    copy = graded(problem_id, mateo, disguise(ORIGINAL, seed=3))
    assert not SimilarityFlag.objects.filter(submission=own_work).exists()
    [flag] = SimilarityFlag.objects.all()
    assert (flag.submission_id, flag.other_id, flag.decision) == (copy.id, original.id, "open")
    assert flag.score >= 0.45
    assert flag.shared >= 4
    # Every copied function is found: the regions cover most of both sources.
    covered = sum(last - first + 1 for first, last in flag.regions["other"])
    assert covered >= 0.6 * len(ORIGINAL.splitlines())
    assert all(1 <= first <= last <= len(copy.source.splitlines()) for first, last in flag.regions["submission"])
    check = SimilarityCheck.objects.get(submission=copy)
    assert check.flagged == 1
    assert check.compared >= 1
    [flagged] = events_of("similarity.flagged")
    assert flagged.channel == f"tenant:{lena.tenant_id}:role:reviewer:events"
    assert flagged.payload["flag_id"] == flag.id


def test_a_learner_resubmitting_their_own_code_is_never_flagged(problem_id: int, lena: User) -> None:
    graded(problem_id, lena, ORIGINAL)
    graded(problem_id, lena, disguise(ORIGINAL, seed=1))
    assert not SimilarityFlag.objects.exists()
    assert SimilarityCheck.objects.count() == 2


def test_another_agencys_identical_code_is_never_compared(
        problem_id: int, lena: User, carol: User, northside: Tenant) -> None:
    graded(problem_id, lena, ORIGINAL)
    their_problem = published(carol, carol, kind=Kind.PROBLEM, title="Merge visit windows",
                              body="Write merge(intervals).").content_id
    carols = graded(their_problem, carol, ORIGINAL)
    assert not SimilarityFlag.objects.exists()
    assert SimilarityCheck.objects.get(submission=carols).compared == 0
    assert set(SubmissionFingerprint.objects.filter(submission=carols).values_list("tenant_id", flat=True)) == {
        northside.id}


def test_a_submission_that_errored_is_not_checked(problem_id: int, lena: User, grader: FakeGrader) -> None:
    grader.report = report("error")
    services.submit_solution(problem_id, lena, ORIGINAL)
    execute(pending_tasks("learning.grade_submission")[0])
    assert pending_tasks("learning.check_similarity") == []


def test_a_check_delivered_twice_flags_and_indexes_once(problem_id: int, lena: User, mateo: User) -> None:
    graded(problem_id, lena, ORIGINAL)
    copy = graded(problem_id, mateo, disguise(ORIGINAL, seed=2))
    prints = SubmissionFingerprint.objects.filter(submission=copy).count()
    [check_event] = events_of("similarity.check_requested", payload__submission_id=copy.id)
    with connection.cursor() as cursor:  # as if Redis lost the completion and the sweep redelivered it
        cursor.execute("UPDATE outbox_event SET status = 'pending' WHERE id = %s", [check_event.id])
    execute(check_event)
    with transaction.atomic():  # and a fresh event for the same submission, past the inbox
        assert similarity.check_submission(copy.id, copy.tenant_id) is None
    assert SimilarityFlag.objects.count() == 1
    assert SubmissionFingerprint.objects.filter(submission=copy).count() == prints
    assert SimilarityCheck.objects.filter(submission=copy).count() == 1


def test_code_most_submissions_share_is_boilerplate_not_evidence(
        settings: Any, problem_id: int, lena: User, harbor: Tenant) -> None:
    settings.SIMILARITY_COMMON = 2
    learners = [make_user(f"learner{i}", harbor, Role.LEARNER) for i in range(4)]
    for learner in learners[:3]:
        graded(problem_id, learner, ORIGINAL)  # the first three may flag each other...
    flags_before = SimilarityFlag.objects.count()
    graded(problem_id, learners[3], ORIGINAL)  # ...the fourth finds every fingerprint in three: boilerplate
    assert flags_before == 3
    assert SimilarityFlag.objects.count() == flags_before


def test_checks_of_one_problem_at_the_same_time_still_find_each_other(
        problem_id: int, lena: User, mateo: User) -> None:
    submissions = []
    for learner, source in ((lena, ORIGINAL), (mateo, disguise(ORIGINAL, seed=5))):
        submission = services.submit_solution(problem_id, learner, source)
        execute(pending_tasks("learning.grade_submission")[0])
        submissions.append(submission)
    checks = pending_tasks("learning.check_similarity")
    assert len(checks) == 2
    errors: list[BaseException] = []

    def run(event: Any) -> None:
        try:
            execute(event)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(event,)) for event in checks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert SimilarityCheck.objects.count() == 2
    assert SimilarityFlag.objects.count() == 1


def test_a_reviewer_confirms_or_dismisses_a_pair_once(
        problem_id: int, lena: User, mateo: User, bob: User, carol: User) -> None:
    graded(problem_id, lena, ORIGINAL)
    graded(problem_id, mateo, disguise(ORIGINAL, seed=4))
    flag = SimilarityFlag.objects.get()
    with pytest.raises(Invalid) as bad:
        similarity.decide_flag(flag.id, bob, "maybe")
    assert bad.value.field == "decision"
    with pytest.raises(NotFound):
        similarity.decide_flag(flag.id, carol, "confirmed")
    decided = similarity.decide_flag(flag.id, bob, "confirmed")
    assert (decided.decision, decided.decided_by_id) == ("confirmed", bob.id)
    with pytest.raises(Conflict):
        similarity.decide_flag(flag.id, bob, "dismissed")
    [event] = events_of("similarity.decided")
    assert event.payload == {"flag_id": flag.id, "decision": "confirmed", "other_id": flag.other_id}


def test_a_reviewer_reads_the_pair_side_by_side_and_decides_it_on_the_page(
        problem_id: int, lena: User, mateo: User, bob: User) -> None:
    original = graded(problem_id, lena, ORIGINAL)
    graded(problem_id, mateo, disguise(ORIGINAL, seed=6))
    flag = SimilarityFlag.objects.get()
    client = signed_in(bob)
    listing = client.get("/learning/review/similarity/").content.decode()
    assert f'data-flag-id="{flag.id}"' in listing
    assert f"#{original.id} by lena" in listing
    assert "1 open" in client.get("/learning/review/").content.decode()
    page = client.get(f"/learning/review/similarity/{flag.id}/").content.decode()
    first, last = flag.regions["other"][0]
    assert f'<span class="line matched" data-line="{first}">' in page
    assert f'<span class="line matched" data-line="{last}">' in page
    response = client.post(f"/learning/review/similarity/{flag.id}/decide/", {"decision": "confirmed"})
    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.decision == "confirmed"
    assert f'data-flag-id="{flag.id}"' not in client.get("/learning/review/similarity/").content.decode()


def test_the_api_lists_shows_and_decides_flags_of_the_callers_agency_only(
        problem_id: int, lena: User, mateo: User, bob: User, carol: User) -> None:
    graded(problem_id, lena, ORIGINAL)
    copy = graded(problem_id, mateo, disguise(ORIGINAL, seed=7))
    flag = SimilarityFlag.objects.get()
    api = signed_in(bob)
    [listed] = api.get("/api/similarity-flags", {"decision": "open"}).json()
    assert (listed["id"], listed["submission_id"], listed["learner"], listed["other_learner"]) == (
        flag.id, copy.id, "mateo", "lena")
    assert api.get("/api/similarity-flags", {"decision": "maybe"}).json()["field"] == "decision"
    detail = api.get(f"/api/similarity-flags/{flag.id}").json()
    assert detail["submission_source"] == copy.source
    assert detail["regions"] == flag.regions
    stranger = signed_in(carol)
    assert stranger.get("/api/similarity-flags").json() == []
    assert stranger.get(f"/api/similarity-flags/{flag.id}").status_code == 404
    decided = api.post(f"/api/similarity-flags/{flag.id}/decision", {"decision": "dismissed"},
                       content_type="application/json")
    assert decided.json()["decision"] == "dismissed"
    again = api.post(f"/api/similarity-flags/{flag.id}/decision", {"decision": "confirmed"},
                     content_type="application/json")
    assert again.status_code == 409
