"""Two agencies with one user of every role and one object of every kind the URLs name.

Used by the authorization matrix and the API fuzz test: Harbor Home Health and Northside
Care each have a dispatcher, a reviewer, a learner, an auditor and ops (plus an author, a
second reviewer, since nobody reviews their own version), and a clinician, a visit, an
Optimize Day job with its route plan, a published problem and lesson, a version waiting
for review with a decision on it, a learner's submission, a reviewer's notification, a heal
run, outbox events and a read-audit record. `Agency.ids` maps each URL parameter name to that agency's object, so
a request can name one of its own agency's objects or one of the other agency's.

The `agencies` fixture is built once per test module inside a transaction that is rolled back at the
end (the way TestCase.setUpTestData does); each test's own changes are rolled back after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.test import Client, TestCase
from django.utils import timezone

from bench.similarity_corpus import SOLUTIONS, disguise
from core.accounts.access import RoleAuth
from core.accounts.models import Tenant, User
from core.audit.exports import RunExport, request_export
from core.config.api import api
from core.dispatch import services as dispatch
from core.dispatch.optimize import DayPlan, PlannedStop
from core.dispatch.schedules import ScheduleFields, create_schedule
from core.learning import exports, media, notifications, review, similarity
from core.learning import services as learning
from core.learning.models import ExportBundle, Kind, Notification, ReviewCard, SimilarityFlag, Submission, Version
from core.ops.models import HealRun
from core.ops.services import request_bulk_action, request_heal
from core.people import services as people
from core.platform.roles import Role
from core.privacy.models import ReadKind
from core.privacy.services import Reader, record_read
from outbox import delivery
from outbox.emit import emit
from outbox.models import OutboxEvent
from outbox.selectors import DeadLetterFilter, HistoryFilter
from tests.helpers import images
from tests.helpers.people import ensure_role_groups, make_user
from tests.helpers.web import sign_in

DAY = date(2026, 3, 10)
ADD_TESTS = "import solution\n\ndef test_adds():\n    assert solution.add(1, 2) == 3\n"
HEAL_NAME = "search_index"


@dataclass(frozen=True)
class ApiOperation:
    method: str
    path: str  # as the URL conf has it: /api/dispatch/clinicians/{clinician_id}
    operation_id: str
    url_name: str
    roles: frozenset[Role]


def api_operations() -> list[ApiOperation]:
    """Every operation of the JSON API with the roles its RoleAuth admits."""
    found = []
    for bound in api._get_bound_routers():
        for path, path_view in bound.path_operations.items():
            for operation in path_view.operations:
                (auth,) = operation.auth_callbacks
                assert isinstance(auth, RoleAuth), operation.view_func.__name__
                for method in operation.methods:
                    url_name = getattr(operation, "url_name", "") or operation.view_func.__name__
                    found.append(ApiOperation(method, re.sub("/+", "/", f"/api/{bound.prefix}/{path}"),
                                              api.get_openapi_operation_id(operation), url_name, auth.roles))
    return found


@dataclass
class Agency:
    tenant: Tenant
    users: dict[Role, User] = field(default_factory=dict)
    author: User | None = None
    ids: dict[str, int] = field(default_factory=dict)


@dataclass
class Agencies:
    harbor: Agency
    northside: Agency

    def other(self, agency: Agency) -> Agency:
        return self.northside if agency is self.harbor else self.harbor


def _users(agency: Agency) -> None:
    slug = agency.tenant.slug
    for role in Role:
        agency.users[role] = make_user(f"{slug}-{role.value}", agency.tenant, role)
    agency.author = make_user(f"{slug}-author", agency.tenant, Role.REVIEWER)


def _dispatch(agency: Agency) -> None:
    tenant_id = agency.tenant.pk
    clinician = dispatch.create_clinician(tenant_id, dispatch.ClinicianFields(
        name="Nora Whitfield", skills=("nursing",), shift_start=time(8), shift_end=time(16),
        start_lat=42.3016, start_lon=-71.0676), actor_id=None)
    visit = dispatch.create_visit(tenant_id, dispatch.VisitFields(
        patient_ref="HB-0001", lat=42.3503, lon=-71.0810, date=DAY, window_start=time(9), window_end=time(12),
        duration_minutes=30, required_skill="nursing"), actor_id=None)
    job = dispatch.request_optimize(tenant_id, DAY, actor_id=None).job
    # The plan a worker would write, without running the solver (the URLs only need one to exist).
    assert dispatch.start_optimize_job(tenant_id, job.pk) is not None
    stop = PlannedStop(visit_id=visit.pk, clinician_id=clinician.pk, sequence=1, arrival=9 * 3600,
                       start=9 * 3600, departure=9 * 3600 + 1800)
    plan = dispatch.record_route_plan(job.pk, DayPlan(stops=(stop,), unassigned=(), objective=600,
                                                      solve_seconds=0.01, time_limit=1.0, total_travel=600,
                                                      solver_status="optimal"))
    assert plan is not None
    # The dispatcher's look at the day, as the read audit keeps it.
    read_id = record_read(Reader(tenant_id, agency.users[Role.DISPATCHER].pk, "", "127.0.0.1"), ReadKind.DAY,
                          DAY.isoformat(), [visit.pk])
    schedule = create_schedule(tenant_id, ScheduleFields("Tomorrow's routes", cron="0 17 * * 1-5"), actor_id=None)
    agency.ids.update(clinician_id=clinician.pk, visit_id=visit.pk, job_id=job.pk, plan_id=plan.pk, read_id=read_id,
                      schedule_id=schedule.pk)


def _learning(agency: Agency) -> None:
    reviewer, learner, author = agency.users[Role.REVIEWER], agency.users[Role.LEARNER], agency.author
    assert author is not None
    problem = _published(author, reviewer, Kind.PROBLEM, "Add two numbers", ADD_TESTS)
    lesson = _published(author, reviewer, Kind.LESSON, "Hand hygiene before wound care", "")
    waiting = learning.create_version(lesson.content_id, author, "Hand hygiene, revised",
                                      "Wash hands for **twenty** seconds.")
    learning.submit_for_review(waiting.id, author)
    decision = learning.review_version(waiting.id, reviewer, "request_changes", "Cite the guideline.")
    submission = learning.submit_solution(problem.content_id, learner, "def add(a, b):\n    return a + b\n")
    # What the learning.notify task writes: the author hears of the decision, the reviewer
    # (mentioned in a reply) of the reply.
    reply = learning.reply_to_review(decision.id, author, f"Done, @{reviewer.username}.")
    notifications.fan_out("reply", reply.id, agency.tenant.pk)
    notice = Notification.objects.get(recipient=reviewer)
    # Spaced review: the learner finished the lesson, so its item is due (card_id).
    review.finish_lesson(lesson.content_id, learner)
    card = ReviewCard.objects.get(learner=learner)
    agency.ids.update(card_id=card.id)
    agency.ids.update(problem_id=problem.content_id, lesson_id=lesson.content_id, content_id=lesson.content_id,
                      version_id=waiting.id, review_id=decision.id, submission_id=submission.id,
                      notification_id=notice.id, flag_id=_flagged_pair(agency, problem.content_id),
                      image_id=media.upload_image(author, images.picture("png", 64, 48), "chart.png").id,
                      bundle_id=_ready_bundle(author, [problem.content_id, lesson.content_id]))


def _ready_bundle(reviewer: User, content_ids: list[int]) -> int:
    """An export bundle as the workers leave it, with an empty zip (the URLs only need a ready
    one to exist; making bundles is tested in tests/integration/learning/test_exports.py)."""
    bundle = exports.request_export(reviewer, content_ids)
    empty_zip = b"PK\x05\x06" + bytes(18)
    name = default_storage.save(f"exports/{bundle.tenant_id}/{bundle.key}/bundle.zip", ContentFile(empty_zip))
    ExportBundle.objects.filter(id=bundle.id).update(status=ExportBundle.Status.READY, items_done=bundle.items_total,
                                                     file_name=name, expires_at=timezone.now() + timedelta(days=1))
    return bundle.id


def _flagged_pair(agency: Agency, problem_id: int) -> int:
    """Two learners' submissions, graded and checked as the workers would: the second a
    disguised copy of the first, so the check flags the pair."""
    original = SOLUTIONS["intervals"][0]
    copier = make_user(f"{agency.tenant.slug}-copier", agency.tenant, Role.LEARNER)
    pair = [learning.submit_solution(problem_id, agency.users[Role.LEARNER], original),
            learning.submit_solution(problem_id, copier, disguise(original, seed=1))]
    Submission.objects.filter(id__in=[s.id for s in pair]).update(status=Submission.Status.PASSED)
    with transaction.atomic():
        for submission in pair:
            similarity.check_submission(submission.id, agency.tenant.pk)
    return SimilarityFlag.objects.get(submission=pair[1]).id


def _published(author: User, reviewer: User, kind: str, title: str, tests: str) -> Version:
    items = [{"prompt": "How long do you wash?", "options": ["5 s", "20 s"], "correct": [1]}]  # spaced review
    version = learning.create_content(author, kind, title, f"# {title}\n\nRead carefully.", tests,
                                      items if kind == Kind.LESSON else None)
    learning.submit_for_review(version.id, author)
    learning.review_version(version.id, reviewer, "approve")
    learning.publish_version(version.id, reviewer)
    return version


def _ops(agency: Agency) -> None:
    run = request_heal(HEAL_NAME, trigger=HealRun.Trigger.API, actor=agency.users[Role.OPS],
                       tenant_id=agency.tenant.pk)
    event = OutboxEvent.objects.filter(tenant_id=agency.tenant.pk).order_by("id").first()
    assert event is not None
    agency.ids.update(run_id=run.id, event_id=event.id, export_id=_export(agency), bulk_id=_bulk_action(agency))


def _bulk_action(agency: Agency) -> int:
    """Two dead letters of the agency, and a bulk redrive of them (queued: no worker runs it here,
    so the letters stay open for the calls that act on them)."""
    for key in ("a", "b"):
        with transaction.atomic():
            emitted = emit("test.effect_requested", aggregate_type="test", aggregate_id=key, payload={"key": key},
                           task="tests.record_effect", tenant_id=agency.tenant.pk)
        event = OutboxEvent.objects.get(event_id=emitted.event_id)
        delivery.kill(event.id, f"TimeoutError: {key} took too long", "")
    return request_bulk_action("redrive", DeadLetterFilter(agency.tenant.pk), agency.users[Role.OPS]).id


def _export(agency: Agency) -> int:
    """A finished export of the agency's history, with its file."""
    made = request_export(agency.users[Role.AUDITOR], HistoryFilter(), "csv")
    job = RunExport(made.id, agency.tenant.pk)
    claimed = job.claim(None)
    assert claimed is not None
    with transaction.atomic():
        job.record(claimed, job.work(claimed))
    return made.id


def _people(agency: Agency) -> None:
    admin = agency.users[Role.AGENCY_ADMIN]
    leaver = make_user(f"{agency.tenant.slug}-leaver", agency.tenant, Role.LEARNER)
    invitation = people.invite(tenant_id=agency.tenant.pk, email=f"joiner@{agency.tenant.slug}.example",
                               roles=[Role.LEARNER], actor=admin)
    agency.ids.update(user_id=leaver.pk, invitation_id=invitation.pk)


def build_agency(name: str, slug: str) -> Agency:
    agency = Agency(Tenant.objects.create(name=name, slug=slug))
    _users(agency)
    _people(agency)
    _dispatch(agency)
    _learning(agency)
    _ops(agency)
    return agency


def build_agencies() -> Agencies:
    ensure_role_groups()
    return Agencies(build_agency("Harbor Home Health", "harbor"), build_agency("Northside Care", "northside"))


@contextmanager
def rolled_back() -> Iterator[None]:
    """Everything the block writes, undone after it, the way a TestCase undoes a test's writes
    (its transaction counts as the test's, so durable write functions may run inside)."""
    atomics = TestCase._enter_atomics()  # type: ignore[attr-defined]
    try:
        yield
    finally:
        TestCase._rollback_atomics(atomics)  # type: ignore[attr-defined]


@pytest.fixture(scope="module", name="agencies")
def agencies_fixture(django_db_setup: None, django_db_blocker: Any) -> Iterator[Agencies]:
    """Both agencies, built once for the module and rolled back after it."""
    with django_db_blocker.unblock(), rolled_back():
        yield build_agencies()


@pytest.fixture(scope="module", name="sessions")
def sessions_fixture(agencies: Agencies, django_db_blocker: Any) -> dict[tuple[str, Role], str]:
    """A signed-in session key for every user of both agencies: (tenant slug, role) -> key."""
    keys = {}
    with django_db_blocker.unblock():
        for agency in (agencies.harbor, agencies.northside):
            for role, user in agency.users.items():
                client = Client()
                sign_in(client, user)
                keys[agency.tenant.slug, role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return keys
