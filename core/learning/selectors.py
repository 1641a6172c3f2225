"""Named reads of the learning app: search, catalogues, the review queue, submissions.

Every selector takes the tenant explicitly and filters by it; another tenant's ids are
NotFound, exactly like ids that do not exist.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Prefetch, QuerySet

from core.accounts.access import get_for_tenant
from core.accounts.models import User
from core.learning import queries
from core.learning.models import (
    Content,
    GradingAttempt,
    Kind,
    Notification,
    Reply,
    Review,
    SimilarityFlag,
    Submission,
    Version,
)
from core.learning.text import clean_text
from core.platform.errors import Invalid, NotFound
from core.platform.roles import Role

# --- search -----------------------------------------------------------------------------------

# Snippets are cut from the first this-many characters of a document (bodies are at most
# services.BODY_MAX long; older documents may be longer).
SNIPPET_SOURCE_CHARS = 20_000


@dataclass(frozen=True)
class SearchHit:
    content_id: int
    kind: str
    version_id: int
    version_number: int
    title: str
    title_html: str
    snippet_html: str
    rank: float  # text relevance x (1 + SEARCH_QUALITY_WEIGHT x quality)
    quality: float  # the nightly quality score (SEARCH_UNSCORED_QUALITY until the first)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def highlighted(marked: str) -> str:
    """ts_headline output (highlights between \\x02 and \\x03) -> HTML: everything escaped
    except the highlights, which become <mark>."""
    return html.escape(marked or "").replace("\x02", "<mark>").replace("\x03", "</mark>")


def validate_query(q: str | None) -> str:
    """The query as searched (whitespace collapsed); Invalid naming q if empty, too long, or
    not storable text."""
    text = " ".join(clean_text(q, "q").split())
    if not text:
        raise Invalid("q must not be empty", field="q")
    if len(text) > settings.SEARCH_QUERY_MAX_CHARS:
        raise Invalid(f"q is longer than {settings.SEARCH_QUERY_MAX_CHARS} characters", field="q")
    return text


def search(tenant_id: int, q: str | None, kind: str | None = None, limit: int | None = None) -> list[SearchHit]:
    """Published lessons and problems of `tenant_id` matching `q` (web-search syntax: words,
    "quoted phrases", -excluded, or), best first, with highlighted title and snippet."""
    text = validate_query(q)
    if kind is not None and kind not in Kind.values:
        raise Invalid(f"kind must be one of {', '.join(Kind.values)}", field="kind")
    if limit is not None and not 1 <= limit <= settings.SEARCH_RESULTS_MAX:
        raise Invalid(f"limit must be from 1 to {settings.SEARCH_RESULTS_MAX}", field="limit")
    limit = limit or settings.SEARCH_RESULTS_MAX
    with connection.cursor() as cursor:
        cursor.execute(queries.SEARCH, {"q": text, "tenant_id": tenant_id, "kind": kind, "limit": limit,
                                        "snippet_chars": SNIPPET_SOURCE_CHARS,
                                        "quality_weight": settings.SEARCH_QUALITY_WEIGHT,
                                        "unscored": settings.SEARCH_UNSCORED_QUALITY})
        rows = cursor.fetchall()
    return [SearchHit(content_id=c, kind=k, version_id=v, version_number=n, title=t, rank=float(r),
                      quality=float(qs), title_html=highlighted(tm), snippet_html=highlighted(sm))
            for c, k, v, n, t, r, qs, tm, sm in rows]


# --- content ------------------------------------------------------------------------------------


# A catalogue shows titles: the large columns of the live version stay in the database.
_CATALOGUE_DEFERRED = [f"live_version__{name}" for name in ("body", "body_html", "body_text", "tests")]


def live_contents(tenant_id: int, kind: str | None = None) -> QuerySet[Content]:
    """What learners can open: content with a live version (its title, not its body), newest
    change first."""
    contents = (Content.objects.filter(tenant_id=tenant_id, live_version__isnull=False)
                .select_related("live_version").defer(*_CATALOGUE_DEFERRED))
    return (contents.filter(kind=kind) if kind else contents).order_by("-live_changed_at", "-id")


def all_contents(tenant_id: int) -> QuerySet[Content]:
    """Every content of the tenant with its versions (newest first), for reviewers."""
    return (Content.objects.filter(tenant_id=tenant_id).select_related("live_version")
            .prefetch_related(Prefetch("versions", queryset=Version.objects.order_by("-number")))
            .order_by("-id"))


def content_with_versions(tenant_id: int, content_id: int) -> Content:
    return get_for_tenant(all_contents(tenant_id), tenant_id, content_id, "content")


def review_queue(tenant_id: int) -> QuerySet[Version]:
    """Versions waiting for a decision, oldest submission first."""
    return (Version.objects.filter(tenant_id=tenant_id, status=Version.Status.IN_REVIEW)
            .select_related("content", "author").order_by("submitted_at", "id"))


def version_detail(tenant_id: int, version_id: int) -> Version:
    """A version with its content, author, and review discussion."""
    replies = Prefetch("replies", queryset=Reply.objects.select_related("author"))
    reviews = Prefetch("reviews", queryset=Review.objects.select_related("reviewer").prefetch_related(replies))
    return get_for_tenant(Version.objects.select_related("content", "content__live_version", "author")
                          .prefetch_related(reviews), tenant_id, version_id, "version")


# --- submissions ----------------------------------------------------------------------------------


def submission_for(user: User, submission_id: int) -> Submission:
    """A submission its learner, or a reviewer of the tenant, may see; NotFound for anyone else."""
    assert user.tenant_id is not None
    submission = get_for_tenant(
        Submission.objects.select_related("problem__live_version", "version").prefetch_related(
            Prefetch("grading_attempts", queryset=GradingAttempt.objects.order_by("number"))),
        user.tenant_id, submission_id, "submission")
    if submission.learner_id != user.id and not user.has_role(Role.REVIEWER):
        raise NotFound(f"submission {submission_id} not found")
    return submission


def learner_submissions(user: User, problem_id: int, limit: int = 20) -> list[Submission]:
    """The learner's latest submissions to a problem."""
    assert user.tenant_id is not None
    return list(Submission.objects.filter(tenant_id=user.tenant_id, learner=user, problem_id=problem_id)
                .order_by("-created_at", "-id")[:limit])


def notifications_for(user: User, limit: int = 50) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user).select_related("version")[:limit])


# --- similarity flags (core/learning/similarity.py) -------------------------------------------------


@dataclass(frozen=True)
class SourceLine:
    number: int
    text: str
    matched: bool  # inside a region the pair has in common


def similarity_flags(tenant_id: int, decision: str | None = None, limit: int = 100) -> list[SimilarityFlag]:
    """Flagged pairs of the agency, newest first (of one decision, if given), with both
    submissions' learners and the problem's title at the submission's version."""
    if decision is not None and decision not in SimilarityFlag.Decision.values:
        raise Invalid(f"decision must be one of {', '.join(SimilarityFlag.Decision.values)}", field="decision")
    flags = (SimilarityFlag.objects.filter(tenant_id=tenant_id)
             .select_related("submission__learner", "submission__version", "other__learner", "decided_by")
             .defer("submission__source", "other__source", "submission__version__body",
                    "submission__version__body_html", "submission__version__body_text",
                    "submission__version__tests"))
    return list((flags.filter(decision=decision) if decision else flags)[:limit])


def open_flag_count(tenant_id: int) -> int:
    return SimilarityFlag.objects.filter(tenant_id=tenant_id, decision=SimilarityFlag.Decision.OPEN).count()


def similarity_flag(tenant_id: int, flag_id: int) -> SimilarityFlag:
    """One flagged pair with both submissions (sources included); NotFound for another agency's."""
    return get_for_tenant(SimilarityFlag.objects.select_related(
        "submission__learner", "submission__version", "other__learner", "decided_by"), tenant_id, flag_id, "flag")


def marked_lines(source: str, regions: list[list[int]]) -> list[SourceLine]:
    """The source's lines, each marked if a region covers it."""
    covered = {n for first, last in regions for n in range(first, last + 1)}
    return [SourceLine(n, text, n in covered) for n, text in enumerate(source.splitlines(), start=1)]
