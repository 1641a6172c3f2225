"""The learning JSON API (mounted at /api/ by core/platform/api.py).

Learners read published lessons and problems, search them, submit code and follow their
grades; reviewers author versions, review, publish, unpublish and roll back. Every
operation declares its roles; every lookup is scoped to the caller's tenant (another
tenant's ids are 404). Writes go through core/learning/services.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import FileResponse, HttpRequest
from ninja import Field, File, Router, Schema, Status
from ninja.files import UploadedFile

from core.accounts.access import RoleAuth, get_for_tenant, tenant_id_of, tenant_user
from core.learning import cache, exports, media, selectors, services, similarity
from core.learning.models import (
    Content,
    ExportBundle,
    Kind,
    LessonImage,
    Notification,
    Review,
    SimilarityFlag,
    Submission,
    Version,
)
from core.learning.ratelimit import check_submission_rate
from core.platform.roles import Role
from core.platform.schemas import answers, file_answers

router = Router(tags=["learning"])

READERS = RoleAuth(Role.LEARNER, Role.REVIEWER)
REVIEWERS = RoleAuth(Role.REVIEWER)
LEARNERS = RoleAuth(Role.LEARNER)


# --- schemas ---------------------------------------------------------------------------------------


class VersionIn(Schema):
    title: str = Field(max_length=1000)
    body: str
    tests: str = ""
    # Lessons' spaced-review items: a JSON list (core/learning/review_items.py) or the authoring
    # page's line format. Any: their validator names the item at fault (400), not pydantic.
    review_items: Any = None


class ReviewIn(Schema):
    decision: str
    comment: str = ""


class ReplyIn(Schema):
    body: str


class RollbackIn(Schema):
    version_id: int


class SubmissionIn(Schema):
    source: str


class VersionOut(Schema):
    id: int
    content_id: int
    kind: str
    number: int
    title: str
    status: str
    author: str
    created_at: datetime
    live: bool


class ReplyOut(Schema):
    id: int
    author: str
    body: str
    created_at: datetime


class ReviewOut(Schema):
    id: int
    reviewer: str
    decision: str
    comment: str
    created_at: datetime
    replies: list[ReplyOut]


class VersionDetailOut(VersionOut):
    body: str
    body_html: str
    tests: str
    review_items: list[dict[str, Any]] = []
    reviews: list[ReviewOut]


class ContentOut(Schema):
    id: int
    kind: str
    live_version_id: int | None
    live_seq: int
    versions: list[VersionOut]


class LiveState(Schema):
    content_id: int
    live_version_id: int | None
    live_seq: int


class PublishedOut(Schema):
    id: int
    kind: str
    version_id: int
    version_number: int
    title: str
    body_html: str


class PublishedSummary(Schema):
    id: int
    kind: str
    version_id: int
    title: str


class ReviewCreated(Schema):
    id: int
    version_id: int
    decision: str
    version_status: str


class ReplyCreated(Schema):
    id: int
    review_id: int


class SubmissionAccepted(Schema):
    id: int
    status: str
    problem_id: int


class AttemptOut(Schema):
    number: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    tests: list[dict[str, Any]]
    output: str
    isolation: str
    error: str


class SubmissionOut(Schema):
    id: int
    problem_id: int
    version_id: int
    status: str
    created_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    summary: dict[str, Any]
    error: str
    attempts: list[AttemptOut]


class SubmissionSummary(Schema):
    id: int
    status: str
    created_at: datetime
    summary: dict[str, Any]


class SearchHitOut(Schema):
    content_id: int
    kind: str
    version_id: int
    version_number: int
    title: str
    title_html: str
    snippet_html: str
    rank: float = Field(description="text relevance x (1 + SEARCH_QUALITY_WEIGHT x quality)")
    quality: float = Field(description="the content's nightly quality score, 0 to 1")


class SearchOut(Schema):
    q: str
    results: list[SearchHitOut]


class NotificationOut(Schema):
    id: int
    reason: str
    message: str
    version_id: int
    created_at: datetime
    read: bool


class FlagDecisionIn(Schema):
    decision: str


class FlagOut(Schema):
    id: int
    problem_id: int
    problem_title: str
    submission_id: int
    learner: str
    other_id: int
    other_learner: str
    score: float
    shared: int
    created_at: datetime
    decision: str
    decided_by: str | None
    decided_at: datetime | None


class FlagRegions(Schema):
    submission: list[list[int]]
    other: list[list[int]]


class FlagDetailOut(FlagOut):
    submission_source: str
    other_source: str
    regions: FlagRegions


class ImageVariantOut(Schema):
    width: int
    height: int
    format: str
    content_type: str
    url: str
    bytes: int


class ImageOut(Schema):
    id: int
    title: str
    status: str
    format: str
    width: int
    height: int
    bytes: int
    url: str
    markdown: str
    variants: list[ImageVariantOut]
    error: str
    created_at: datetime
    processed_at: datetime | None


class BundleIn(Schema):
    # Any: the write function names content_ids in its refusal (400/404), not pydantic.
    content_ids: Any = None
    title: str | None = Field(None, max_length=1000)


class BundleOut(Schema):
    id: int
    title: str
    status: str
    items_done: int
    items_total: int
    requested_by: str
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None
    bytes: int | None
    sha256: str
    error: str
    file_url: str | None


# --- shaping -----------------------------------------------------------------------------------------


def _version(version: Version, content: Content | None = None) -> dict[str, Any]:
    content = content or version.content
    return {"id": version.id, "content_id": version.content_id, "kind": content.kind, "number": version.number,
            "title": version.title, "status": version.status, "author": version.author.username,
            "created_at": version.created_at, "live": content.live_version_id == version.id}


def _version_detail(version: Version) -> dict[str, Any]:
    reviews = [{"id": r.id, "reviewer": r.reviewer.username, "decision": r.decision, "comment": r.comment,
                "created_at": r.created_at,
                "replies": [{"id": p.id, "author": p.author.username, "body": p.body, "created_at": p.created_at}
                            for p in r.replies.all()]}
               for r in version.reviews.all()]
    return {**_version(version), "body": version.body, "body_html": version.body_html, "tests": version.tests,
            "review_items": version.review_items, "reviews": reviews}


def _content(content: Content) -> dict[str, Any]:
    return {"id": content.id, "kind": content.kind, "live_version_id": content.live_version_id,
            "live_seq": content.live_seq, "versions": [_version(v, content) for v in content.versions.all()]}


def _live_state(content: Content) -> dict[str, Any]:
    return {"content_id": content.id, "live_version_id": content.live_version_id, "live_seq": content.live_seq}


def _submission(submission: Submission) -> dict[str, Any]:
    attempts = [{"number": a.number, "status": a.status, "started_at": a.started_at, "finished_at": a.finished_at,
                 "duration_ms": a.duration_ms, "tests": a.tests, "output": a.output, "isolation": a.isolation,
                 "error": a.error} for a in submission.grading_attempts.all()]
    return {"id": submission.id, "problem_id": submission.problem_id, "version_id": submission.version_id,
            "status": submission.status, "created_at": submission.created_at, "finished_at": submission.finished_at,
            "duration_ms": submission.duration_ms, "summary": submission.summary, "error": submission.error,
            "attempts": attempts}


def _notification(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "reason": n.reason, "message": n.message, "version_id": n.version_id,
            "created_at": n.created_at, "read": n.read_at is not None}


def _flag(flag: SimilarityFlag) -> dict[str, Any]:
    return {"id": flag.id, "problem_id": flag.problem_id, "problem_title": flag.submission.version.title,
            "submission_id": flag.submission_id, "learner": flag.submission.learner.username,
            "other_id": flag.other_id, "other_learner": flag.other.learner.username, "score": flag.score,
            "shared": flag.shared, "created_at": flag.created_at, "decision": flag.decision,
            "decided_by": flag.decided_by.username if flag.decided_by else None, "decided_at": flag.decided_at}


def _flag_detail(flag: SimilarityFlag) -> dict[str, Any]:
    return {**_flag(flag), "submission_source": flag.submission.source, "other_source": flag.other.source,
            "regions": {"submission": flag.regions.get("submission", []), "other": flag.regions.get("other", [])}}


def _image(image: LessonImage) -> dict[str, Any]:
    url = media.URL.format(id=image.id)
    variants = [{"width": v["width"], "height": v["height"], "format": v["format"], "content_type": v["content_type"],
                 "url": url + v["name"].rsplit("/", 1)[-1], "bytes": v["bytes"]} for v in image.variants]
    return {"id": image.id, "title": image.title, "status": image.status, "format": image.format,
            "width": image.width, "height": image.height, "bytes": image.bytes, "url": url,
            "markdown": media.markdown_of(image), "variants": variants, "error": image.error,
            "created_at": image.created_at, "processed_at": image.processed_at}


def _export(bundle: ExportBundle) -> dict[str, Any]:
    ready = bundle.status == ExportBundle.Status.READY
    return {"id": bundle.id, "title": bundle.title, "status": bundle.status, "items_done": bundle.items_done,
            "items_total": bundle.items_total, "requested_by": bundle.requested_by.username,
            "created_at": bundle.created_at, "finished_at": bundle.finished_at, "expires_at": bundle.expires_at,
            "bytes": bundle.bytes, "sha256": bundle.sha256, "error": bundle.error,
            "file_url": f"/api/exports/{bundle.id}/file" if ready else None}


# --- published content (learners and reviewers) ---------------------------------------------------------


def _published_list(request: HttpRequest, kind: str) -> list[dict[str, Any]]:
    return [{"id": c.id, "kind": c.kind, "version_id": c.live_version_id, "title": c.live_version.title}
            for c in selectors.live_contents(tenant_id_of(request), kind) if c.live_version is not None]


@router.get("/problems", response=answers({200: list[PublishedSummary]}), auth=READERS)
def list_problems(request: HttpRequest) -> list[dict[str, Any]]:
    """Published problems of the caller's agency."""
    return _published_list(request, Kind.PROBLEM)


@router.get("/lessons", response=answers({200: list[PublishedSummary]}), auth=READERS)
def list_lessons(request: HttpRequest) -> list[dict[str, Any]]:
    """Published lessons of the caller's agency."""
    return _published_list(request, Kind.LESSON)


@router.get("/problems/{problem_id}", response=answers({200: PublishedOut}, 400, 404), auth=READERS)
def get_problem(request: HttpRequest, problem_id: int) -> dict[str, Any]:
    """A published problem at its live version, rendered (404 if not published)."""
    return cache.as_api(cache.live_document(tenant_id_of(request), problem_id, Kind.PROBLEM))


@router.get("/lessons/{lesson_id}", response=answers({200: PublishedOut}, 400, 404), auth=READERS)
def get_lesson(request: HttpRequest, lesson_id: int) -> dict[str, Any]:
    """A published lesson at its live version, rendered (404 if not published)."""
    return cache.as_api(cache.live_document(tenant_id_of(request), lesson_id, Kind.LESSON))


@router.get("/search", response=answers({200: SearchOut}, 400), auth=READERS)
def search(request: HttpRequest, q: str = "", kind: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """Published lessons and problems of the caller's agency matching q, best first, with
    highlighted snippets (HTML: escaped text, matches in <mark>)."""
    hits = selectors.search(tenant_id_of(request), q, kind, limit)
    return {"q": selectors.validate_query(q), "results": [hit.to_dict() for hit in hits]}


# --- authoring and review (reviewers) -----------------------------------------------------------------


@router.post("/problems", response=answers({201: VersionOut}, 400), auth=REVIEWERS)
def create_problem(request: HttpRequest, payload: VersionIn) -> Status[dict[str, Any]]:
    """A new problem; its first version is a draft. Tests: Python test_* functions."""
    version = services.create_content(tenant_user(request), Kind.PROBLEM, payload.title, payload.body, payload.tests,
                                      payload.review_items)
    return Status(201, _version(version))


@router.post("/lessons", response=answers({201: VersionOut}, 400), auth=REVIEWERS)
def create_lesson(request: HttpRequest, payload: VersionIn) -> Status[dict[str, Any]]:
    """A new lesson; its first version is a draft."""
    version = services.create_content(tenant_user(request), Kind.LESSON, payload.title, payload.body, payload.tests,
                                      payload.review_items)
    return Status(201, _version(version))


@router.get("/contents", response=answers({200: list[ContentOut]}), auth=REVIEWERS)
def list_contents(request: HttpRequest) -> list[dict[str, Any]]:
    """Every lesson and problem of the agency with all its versions."""
    return [_content(c) for c in selectors.all_contents(tenant_id_of(request))]


@router.get("/contents/{content_id}", response=answers({200: ContentOut}, 400, 404), auth=REVIEWERS)
def get_content(request: HttpRequest, content_id: int) -> dict[str, Any]:
    return _content(selectors.content_with_versions(tenant_id_of(request), content_id))


@router.post("/contents/{content_id}/versions", response=answers({201: VersionOut}, 400, 404), auth=REVIEWERS)
def create_version(request: HttpRequest, content_id: int, payload: VersionIn) -> Status[dict[str, Any]]:
    """The next version of a content, as a draft."""
    version = services.create_version(content_id, tenant_user(request), payload.title, payload.body, payload.tests,
                                      payload.review_items)
    return Status(201, _version(version))


@router.post("/contents/{content_id}/unpublish", response=answers({200: LiveState}, 400, 404, 409), auth=REVIEWERS)
def unpublish(request: HttpRequest, content_id: int) -> dict[str, Any]:
    """Take the content offline (409 if it is not published)."""
    return _live_state(services.unpublish_content(content_id, tenant_user(request)))


@router.post("/contents/{content_id}/rollback", response=answers({200: LiveState}, 400, 404, 409), auth=REVIEWERS)
def rollback(request: HttpRequest, content_id: int, payload: RollbackIn) -> dict[str, Any]:
    """Make an earlier, previously published version live again."""
    return _live_state(services.rollback_content(content_id, payload.version_id, tenant_user(request)))


@router.get("/review-queue", response=answers({200: list[VersionOut]}), auth=REVIEWERS)
def review_queue(request: HttpRequest) -> list[dict[str, Any]]:
    """Versions waiting for a review decision, oldest first."""
    return [_version(v) for v in selectors.review_queue(tenant_id_of(request))]


@router.get("/versions/{version_id}", response=answers({200: VersionDetailOut}, 400, 404), auth=REVIEWERS)
def get_version(request: HttpRequest, version_id: int) -> dict[str, Any]:
    """A version with its rendered body, tests and review discussion."""
    return _version_detail(selectors.version_detail(tenant_id_of(request), version_id))


@router.post("/versions/{version_id}/submit", response=answers({200: VersionOut}, 400, 404, 409), auth=REVIEWERS)
def submit_version(request: HttpRequest, version_id: int) -> dict[str, Any]:
    """Submit a draft for review (409 unless it is a draft)."""
    return _version(services.submit_for_review(version_id, tenant_user(request)))


@router.post("/versions/{version_id}/review", response=answers({201: ReviewCreated}, 400, 404, 409), auth=REVIEWERS)
def review(request: HttpRequest, version_id: int, payload: ReviewIn) -> Status[dict[str, Any]]:
    """approve | reject | request_changes, with a comment (required unless approving)."""
    decision = services.review_version(version_id, tenant_user(request), payload.decision, payload.comment)
    version_status = services.DECISION_STATUS[Review.Decision(decision.decision)]
    return Status(201, {"id": decision.id, "version_id": version_id, "decision": decision.decision,
                        "version_status": version_status})


@router.post("/versions/{version_id}/publish", response=answers({200: LiveState}, 400, 404, 409), auth=REVIEWERS)
def publish(request: HttpRequest, version_id: int) -> dict[str, Any]:
    """Make an approved version live (409 if not approved, or already live)."""
    return _live_state(services.publish_version(version_id, tenant_user(request)))


@router.post("/reviews/{review_id}/replies", response=answers({201: ReplyCreated}, 400, 404), auth=REVIEWERS)
def reply(request: HttpRequest, review_id: int, payload: ReplyIn) -> Status[dict[str, Any]]:
    """Reply under a review decision; @username mentions notify colleagues."""
    created = services.reply_to_review(review_id, tenant_user(request), payload.body)
    return Status(201, {"id": created.id, "review_id": review_id})


# --- submissions ---------------------------------------------------------------------------------------


@router.post("/problems/{problem_id}/submissions", response=answers({202: SubmissionAccepted}, 400, 404, 429),
             auth=LEARNERS)
def submit(request: HttpRequest, problem_id: int, payload: SubmissionIn) -> Status[dict[str, Any]]:
    """Submit Python code for grading: 202 with the submission id; the grade arrives live
    (submission.graded on the learner's channel) and at GET /api/submissions/{id}.
    429 with Retry-After over SUBMISSION_RATE_LIMIT per SUBMISSION_RATE_WINDOW_S."""
    learner = tenant_user(request)
    # Cheap refusals first, so a mistyped id does not use up the learner's allowance.
    cache.live_version_id(tenant_id_of(request), problem_id, Kind.PROBLEM)
    source = services.validate_source(payload.source)
    check_submission_rate(learner.id)
    submission = services.submit_solution(problem_id, learner, source)
    return Status(202, {"id": submission.id, "status": submission.status, "problem_id": problem_id})


@router.get("/problems/{problem_id}/submissions", response=answers({200: list[SubmissionSummary]}, 400, 404),
            auth=LEARNERS)
def my_submissions(request: HttpRequest, problem_id: int) -> list[dict[str, Any]]:
    """The caller's latest submissions to a problem (404 for another agency's, as for none)."""
    get_for_tenant(Content.objects.filter(kind=Kind.PROBLEM), tenant_id_of(request), problem_id, "problem")
    return [{"id": s.id, "status": s.status, "created_at": s.created_at, "summary": s.summary}
            for s in selectors.learner_submissions(tenant_user(request), problem_id)]


@router.get("/submissions/{submission_id}", response=answers({200: SubmissionOut}, 400, 404), auth=READERS)
def get_submission(request: HttpRequest, submission_id: int) -> dict[str, Any]:
    """A submission with its grading attempts: its learner's own, or any of the agency for reviewers."""
    return _submission(selectors.submission_for(tenant_user(request), submission_id))


# --- notifications -------------------------------------------------------------------------------------


@router.get("/notifications", response=answers({200: list[NotificationOut]}), auth=READERS)
def notifications(request: HttpRequest) -> list[dict[str, Any]]:
    """The caller's latest notifications."""
    return [_notification(n) for n in selectors.notifications_for(tenant_user(request))]


@router.post("/notifications/{notification_id}/read", response=answers({200: NotificationOut}, 400, 404), auth=READERS)
def read_notification(request: HttpRequest, notification_id: int) -> dict[str, Any]:
    return _notification(services.mark_notification_read(notification_id, tenant_user(request)))


# --- similarity flags (reviewers) ------------------------------------------------------------------------


@router.get("/similarity-flags", response=answers({200: list[FlagOut]}, 400), auth=REVIEWERS)
def similarity_flags(request: HttpRequest, decision: str | None = None) -> list[dict[str, Any]]:
    """Pairs of the agency's submissions that look copied, newest first (`decision`: open,
    confirmed or dismissed; all when absent)."""
    return [_flag(f) for f in selectors.similarity_flags(tenant_id_of(request), decision)]


@router.get("/similarity-flags/{flag_id}", response=answers({200: FlagDetailOut}, 400, 404), auth=REVIEWERS)
def similarity_flag(request: HttpRequest, flag_id: int) -> dict[str, Any]:
    """One flagged pair: both sources and the line ranges they have in common."""
    return _flag_detail(selectors.similarity_flag(tenant_id_of(request), flag_id))


@router.post("/similarity-flags/{flag_id}/decision", response=answers({200: FlagOut}, 400, 404, 409),
             auth=REVIEWERS)
def decide_similarity_flag(request: HttpRequest, flag_id: int, payload: FlagDecisionIn) -> dict[str, Any]:
    """Confirm the pair as copied, or dismiss it; once (a decided pair is 409)."""
    similarity.decide_flag(flag_id, tenant_user(request), payload.decision)
    return _flag(selectors.similarity_flag(tenant_id_of(request), flag_id))


# --- lesson images (authors) -------------------------------------------------------------------------------


# Optional for django-ninja, so that a request without it gets the API's 400 naming `image`.
_IMAGE_FILE = File(None)


@router.post("/images", response=answers({201: ImageOut}, 400, 503), auth=REVIEWERS)
def upload_image(request: HttpRequest, image: UploadedFile | None = _IMAGE_FILE) -> Status[dict[str, Any]]:
    """Upload a lesson image (multipart, field `image`: PNG, JPEG, GIF or WebP up to
    IMAGE_MAX_BYTES). It is decoded and cleaned in the sandbox; its smaller variants follow in
    the background (`status` processing, then ready). 503 if this server cannot decode images."""
    made = media.upload_image(tenant_user(request), media.read_upload(image), image.name if image else "")
    return Status(201, _image(made))


@router.get("/images", response=answers({200: list[ImageOut]}), auth=REVIEWERS)
def list_images(request: HttpRequest) -> list[dict[str, Any]]:
    """The agency's lesson images, newest first."""
    return [_image(i) for i in media.images_of(tenant_id_of(request))]


@router.get("/images/{image_id}", response=answers({200: ImageOut}, 400, 404), auth=READERS)
def get_image(request: HttpRequest, image_id: int) -> dict[str, Any]:
    """One lesson image and its variants (their files are at `url` and each variant's `url`)."""
    return _image(media.image_of(tenant_id_of(request), image_id))


# --- open-content export bundles (reviewers) ------------------------------------------------------------


@router.post("/exports", response=answers({202: BundleOut}, 400, 404), auth=REVIEWERS)
def request_export(request: HttpRequest, payload: BundleIn) -> Status[dict[str, Any]]:
    """Export published lessons and problems of the agency (`content_ids`, at most
    EXPORT_MAX_ITEMS) as one zip: 202 at once; `status` goes building (items_done of
    items_total) -> queued -> running -> ready, when `file_url` downloads it."""
    bundle = exports.request_export(tenant_user(request), payload.content_ids, payload.title)
    return Status(202, _export(exports.bundle_of(tenant_id_of(request), bundle.id)))


@router.get("/exports", response=answers({200: list[BundleOut]}), auth=REVIEWERS)
def list_exports(request: HttpRequest) -> list[dict[str, Any]]:
    """The agency's export bundles, newest first."""
    return [_export(b) for b in exports.bundles_of(tenant_id_of(request))]


@router.get("/exports/{bundle_id}", response=answers({200: BundleOut}, 400, 404), auth=REVIEWERS)
def get_export(request: HttpRequest, bundle_id: int) -> dict[str, Any]:
    return _export(exports.bundle_of(tenant_id_of(request), bundle_id))


@router.get("/exports/{bundle_id}/file", response=answers({200: None}, 400, 404), auth=REVIEWERS,
            openapi_extra=file_answers("application/zip"))
def download_export(request: HttpRequest, bundle_id: int) -> FileResponse:
    """A ready bundle's zip (404 before it is ready, and after it expired)."""
    bundle, opened = exports.file_of(tenant_id_of(request), bundle_id)
    return FileResponse(opened, as_attachment=True, filename=bundle.file_name.rsplit("/", 1)[-1],
                        content_type="application/zip")
