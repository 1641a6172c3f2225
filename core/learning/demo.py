"""Demo content, seeded by `manage.py seed_demo` (run by `make up`). Idempotent and complete:
every item is brought to its intended state step by step, each step checked against the
database first, so a second run adds nothing and finishes whatever a failed first run left
half done.

Everything goes through the write functions, so the outbox carries the index events and the
running worker fills the search index, exactly as for content made in the UI. Review is a
second pair of eyes (LEARNING_ALLOW_SELF_REVIEW is off), so each agency's content is written
by one reviewer and approved and published by another: at Harbor, ruth writes and bob
reviews; at Northside, nora writes and carol reviews. ruth and nora are demo logins too
(password core.accounts.demo.DEMO_PASSWORD).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction

from core.accounts.demo import DEMO_PASSWORD
from core.accounts.models import Tenant, User
from core.learning import services
from core.learning.models import Content, Kind, Submission, Version
from core.platform.roles import Role


@dataclass(frozen=True)
class DemoAuthor:
    username: str
    full_name: str


# Per agency: who writes the demo content, and the reviewer (a core.accounts.demo user) who approves it.
AUTHORS = {"harbor": DemoAuthor("ruth", "Ruth Abara"), "northside": DemoAuthor("nora", "Nora Fischer")}
REVIEWERS = {"harbor": "bob", "northside": "carol"}


@dataclass(frozen=True)
class DemoItem:
    kind: str
    title: str
    body: str
    tests: str = ""
    # "published", "in_review" (a draft awaiting review) or "republished" (v1 live, then v2 live).
    state: str = "published"
    revision: tuple[str, str] | None = None  # (title, body) of version 2, for "republished"
    review_items: str = ""  # spaced-review questions, in the authoring page's line format


HAND_HYGIENE_ITEMS = """\
? How long should you wash your hands with soap and warm water?
- 5 seconds
+ At least 20 seconds
- 2 minutes

? When do you put on clean gloves?
- Before hand hygiene
+ After hand hygiene, right before touching the dressing

? Gloves are not a substitute for what?
= hand hygiene
= hand washing
"""

HAND_HYGIENE = """\
Clean hands are the single most effective way to prevent wound infection.

1. Remove rings and watches; roll sleeves above the elbow.
2. Wash with soap and warm water for **at least 20 seconds**, or use alcohol rub until dry.
3. Put on clean gloves *after* hand hygiene, immediately before touching the dressing.
4. Change gloves and clean hands again between a dirty and a clean task.

> Gloves are not a substitute for hand hygiene.
"""

FALLS_V1 = """\
Most falls happen at home, during ordinary tasks. At each visit, look for:

- loose rugs and trailing cables on walkways;
- poor lighting on stairs and at night;
- footwear that does not fit.
"""
FALLS_V2 = FALLS_V1 + """- bathrooms without grab bars near the toilet and in the shower.

Record what you found and what the client agreed to change.
"""

SEPSIS = """\
Sepsis is a medical emergency. Escalate at once (call 911) if an adult shows **any** of:

| sign | threshold |
| --- | --- |
| breathing | 22 breaths per minute or more |
| systolic blood pressure | 100 mmHg or less |
| mental state | new confusion or drowsiness |
"""

DOSE_TOTAL = """\
A care plan lists the doses of one medication given during a day, in milligrams.

Write `total_daily_dose(doses)` returning the sum of the doses, rounded to one decimal.
An empty list means no dose: return `0.0`.
"""
DOSE_TOTAL_TESTS = """\
import solution


def test_sums_the_doses():
    assert solution.total_daily_dose([2.5, 2.5, 5]) == 10.0


def test_rounds_to_one_decimal():
    assert solution.total_daily_dose([0.33, 0.33, 0.33]) == 1.0


def test_no_dose_is_zero():
    assert solution.total_daily_dose([]) == 0.0
"""

VISIT_MINUTES = """\
Visits are logged with a start and an end time as `"HH:MM"` (24-hour clock, same day).

Write `visit_minutes(start, end)` returning the visit's length in whole minutes,
for example `visit_minutes("08:30", "10:05") == 95`.
"""
VISIT_MINUTES_TESTS = """\
import solution


def test_whole_hours():
    assert solution.visit_minutes("09:00", "11:00") == 120


def test_minutes_across_the_hour():
    assert solution.visit_minutes("08:30", "10:05") == 95


def test_a_short_visit():
    assert solution.visit_minutes("13:50", "14:05") == 15
"""

BLOOD_PRESSURE = """\
Write `bp_category(systolic, diastolic)` returning:

- `"high"` if systolic is 130 or more, or diastolic is 80 or more;
- `"elevated"` if systolic is 120 to 129 and diastolic below 80;
- `"normal"` otherwise.
"""
BLOOD_PRESSURE_TESTS = """\
import solution


def test_normal():
    assert solution.bp_category(115, 75) == "normal"


def test_elevated():
    assert solution.bp_category(124, 78) == "elevated"


def test_high_by_either_number():
    assert solution.bp_category(135, 70) == "high"
    assert solution.bp_category(118, 85) == "high"
"""

SHARPS = """\
Used needles and lancets go into a puncture-resistant sharps container **immediately**,
never recapped. Close the container when it is three-quarters full.
"""

OXYGEN = """\
Oxygen makes fire burn hotter and faster. Keep cylinders and concentrators at least
2 metres from open flames, heaters and candles, and never allow smoking in the room.
"""

WOUND_AREA = """\
Write `wound_area(length_cm, width_cm)` returning the estimated wound area in square
centimetres (length times width), rounded to one decimal.
"""
WOUND_AREA_TESTS = """\
import solution


def test_area():
    assert solution.wound_area(3, 2) == 6.0


def test_rounding():
    assert solution.wound_area(1.25, 1.1) == 1.4
"""

HARBOR = (
    DemoItem(Kind.LESSON, "Hand hygiene before wound care", HAND_HYGIENE, review_items=HAND_HYGIENE_ITEMS),
    DemoItem(Kind.LESSON, "Preventing falls at home", FALLS_V1, state="republished",
             revision=("Preventing falls at home", FALLS_V2)),
    DemoItem(Kind.LESSON, "Recognising sepsis early", SEPSIS),
    DemoItem(Kind.PROBLEM, "Total daily medication dose", DOSE_TOTAL, DOSE_TOTAL_TESTS),
    DemoItem(Kind.PROBLEM, "Visit length in minutes", VISIT_MINUTES, VISIT_MINUTES_TESTS),
    DemoItem(Kind.PROBLEM, "Blood pressure category", BLOOD_PRESSURE, BLOOD_PRESSURE_TESTS),
    DemoItem(Kind.LESSON, "Safe disposal of sharps", SHARPS, state="in_review"),
)
NORTHSIDE = (
    DemoItem(Kind.LESSON, "Oxygen safety at home", OXYGEN),
    DemoItem(Kind.PROBLEM, "Wound area", WOUND_AREA, WOUND_AREA_TESTS),
)


@transaction.atomic
def demo_author(tenant: Tenant, author: DemoAuthor) -> User:
    """The agency's demo author: a reviewer, created or reset to its demo state."""
    first, _, last = author.full_name.partition(" ")
    user, _ = User.objects.update_or_create(username=author.username, defaults={
        "first_name": first, "last_name": last, "email": f"{author.username}@example.com", "tenant": tenant,
        "is_staff": False, "is_superuser": False})
    user.set_password(DEMO_PASSWORD)
    user.save(update_fields=["password"])
    user.groups.set([Group.objects.get_or_create(name=Role.REVIEWER.value)[0]])
    return user


def _first_version(tenant: Tenant, item: DemoItem) -> Version | None:
    return (Version.objects.filter(tenant=tenant, number=1, title=item.title, content__kind=item.kind)
            .order_by("id").first())


def _advance(version: Version, goal: str, author: User, reviewer: User, comment: str) -> None:
    """Take `version` towards `goal` ("in_review" or "live") from wherever it is, one write
    function per step. A version someone rejected or sent back in the UI is left alone."""
    version.refresh_from_db()
    if version.status == Version.Status.DRAFT:
        services.submit_for_review(version.id, author)
        version.refresh_from_db()
    if goal == "in_review":
        return
    if version.status == Version.Status.IN_REVIEW:
        services.review_version(version.id, reviewer, "approve", comment)
        version.refresh_from_db()
    if version.status == Version.Status.APPROVED and version.first_published_at is None:
        services.publish_version(version.id, reviewer)


def _complete(tenant: Tenant, item: DemoItem, author: User, reviewer: User) -> bool:
    """Bring one demo item to its state; True if it had to be created."""
    first = _first_version(tenant, item)
    created = first is None
    if first is None:
        first = services.create_content(author, item.kind, item.title, item.body, item.tests, item.review_items)
    _advance(first, "in_review" if item.state == "in_review" else "live", author, reviewer, "Clear and accurate.")
    if item.revision is not None:
        content = Content.objects.get(id=first.content_id)
        second = content.versions.filter(number=2).first()
        if second is None:
            title, body = item.revision
            second = services.create_version(content.id, author, title, body, item.tests)
        _advance(second, "live", author, reviewer, "Adds the bathroom check.")
    return created


def _seed_tenant(tenant: Tenant, items: tuple[DemoItem, ...], stdout: Any) -> None:
    author = demo_author(tenant, AUTHORS[tenant.slug])
    reviewer = User.objects.get(username=REVIEWERS[tenant.slug], tenant=tenant)
    created = sum(_complete(tenant, item, author, reviewer) for item in items)
    stdout.write(f"learning: {tenant.name}: {created} new of {len(items)} demo lessons and problems "
                 f"(written by {author.username}, reviewed by {reviewer.username})")


# Two demo learners' solutions to "Total daily medication dose": milo's is lena's with other
# names and layout, so once the worker has graded both, the similarity check flags the pair
# for Harbor's reviewers (Review -> Similar submissions).
DEMO_SOLUTIONS = (
    ("lena", '''def total_daily_dose(doses):
    """Sum of the day's doses in milligrams, to one decimal."""
    total = 0.0
    for dose in doses:
        if dose < 0:
            raise ValueError("a dose cannot be negative")
        total += dose
    return round(total, 1)
'''),
    ("milo", '''def total_daily_dose(amounts):
    # add them all up
    s = 0.0
    for a in amounts:
        if a < 0: raise ValueError("negative amount")
        s += a
    return round(s, 1)
'''),
)


def _seed_submissions(tenant: Tenant, stdout: Any) -> None:
    """lena's and milo's submissions, once each (the worker grades and checks them)."""
    problem = Content.objects.filter(tenant=tenant, kind=Kind.PROBLEM,
                                     live_version__title="Total daily medication dose").first()
    if problem is None:
        return
    made = 0
    for username, source in DEMO_SOLUTIONS:
        learner = User.objects.get(username=username, tenant=tenant)
        if not Submission.objects.filter(learner=learner, problem=problem).exists():
            services.submit_solution(problem.id, learner, source)
            made += 1
    stdout.write(f"learning: {tenant.name}: {made} new demo submissions (milo's copies lena's)")


def seed(tenants: dict[str, Tenant], stdout: Any) -> None:
    """Published lessons and problems (with tests) for Harbor (written by ruth, reviewed by
    bob; learners lena and milo, whose two submissions the similarity check flags), a draft
    awaiting review, a lesson with two published versions (for rollback), and a little content
    for Northside (nora and carol), so tenant isolation is visible."""
    _seed_tenant(tenants["harbor"], HARBOR, stdout)
    _seed_submissions(tenants["harbor"], stdout)
    _seed_tenant(tenants["northside"], NORTHSIDE, stdout)
