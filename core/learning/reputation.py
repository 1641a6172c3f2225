"""Reputation: points a person earns in their agency's learning platform.

What earns points (each once, named by an award key):

- an **accepted solution**: the first passed submission of a learner to a problem
  (SOLUTION_POINTS, key `solution:<problem id>`);
- an **approved contribution**: a version one wrote that a reviewer approved
  (APPROVAL_POINTS, `approval:<version id>`);
- a **helpful reply**: a reply in the review of someone else's version that was approved
  (REPLY_POINTS, `reply:<version id>`, once per version however many replies).

Incrementally: the write that makes the fact true (grading's result, the approval, the reply)
awards it in its own transaction: the award row (unique per person and key) and the person's
total move in one statement, so a replayed event awards nothing twice; `reputation.changed`
tells the person's pages. Fully: the `reputation` heal (registered with core.platform.heals,
run nightly by beat and on demand by ops) recomputes every award from the truth in one
set-based statement and emits a recount task for each person whose awards or total differ;
the recount makes them equal and records `reputation.repaired` with the before and after
(so any drift is repaired and in the audit history). With no drift the heal finds nothing:
the nightly result equals the incremental one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from core.learning import queries
from core.learning.models import Review, Version
from core.platform.channels import user_channel
from core.platform.heals import HealResult, Repair
from outbox.emit import emit

SOLUTION_POINTS = 10
APPROVAL_POINTS = 5
REPLY_POINTS = 2
# People listed per heal run at most (the next run finds the rest).
DRIFT_LIMIT = 10_000
EMIT_CHUNK = 500


def _rules(tenant_id: int | None, user_id: int | None) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "user_id": user_id, "solution_points": SOLUTION_POINTS,
            "approval_points": APPROVAL_POINTS, "reply_points": REPLY_POINTS}


def award(tenant_id: int, user_id: int, key: str, points: int) -> int | None:
    """Award `points` for `key` once (in the caller's transaction); the new total, or None when
    it was awarded before."""
    with connection.cursor() as cursor:
        cursor.execute(queries.REPUTATION_AWARD, {"tenant_id": tenant_id, "user_id": user_id, "key": key,
                                                  "points": points})
        row = cursor.fetchone()
    if row is None:
        return None
    emit("reputation.changed", aggregate_type="user", aggregate_id=user_id, tenant_id=tenant_id,
         channel=user_channel(tenant_id, user_id),
         payload={"user_id": user_id, "points": int(row[0]), "awarded": points, "for": key})
    return int(row[0])


def solution_accepted(tenant_id: int, learner_id: int, problem_id: int) -> int | None:
    return award(tenant_id, learner_id, f"solution:{problem_id}", SOLUTION_POINTS)


def version_approved(version: Version) -> None:
    """The author's contribution, and the replies of others in its review (in the approval's
    transaction)."""
    award(version.tenant_id, version.author_id, f"approval:{version.id}", APPROVAL_POINTS)
    repliers = (Review.objects.filter(version_id=version.id).values_list("replies__author_id", flat=True)
                .exclude(replies__author_id=None).distinct())
    for replier in repliers:
        if replier != version.author_id:
            award(version.tenant_id, replier, f"reply:{version.id}", REPLY_POINTS)


def replied(version: Version, replier_id: int) -> None:
    """A reply about an approved version of someone else counts (one made before the approval
    counted when it was approved)."""
    if version.status == Version.Status.APPROVED and replier_id != version.author_id:
        award(version.tenant_id, replier_id, f"reply:{version.id}", REPLY_POINTS)


def points_of(user_ids: Sequence[int]) -> dict[int, int]:
    """Each person's points (0 for none yet)."""
    from core.learning.models import Reputation

    found = dict(Reputation.objects.filter(user_id__in=list(user_ids)).values_list("user_id", "points"))
    return {user_id: int(found.get(user_id, 0)) for user_id in user_ids}


# --- the full recount: a heal ------------------------------------------------------------------


def drifted(tenant_id: int | None = None, user_id: int | None = None,
            limit: int = DRIFT_LIMIT) -> list[tuple[int, int]]:
    """(tenant, person) whose awards or total differ from the truth."""
    with connection.cursor() as cursor:
        cursor.execute(queries.REPUTATION_DRIFT, {**_rules(tenant_id, user_id), "limit": limit})
        return [(int(t), int(u)) for t, u in cursor.fetchall()]


def _examined(tenant_id: int | None) -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(queries.REPUTATION_EXAMINED, {"tenant_id": tenant_id})
        return {int(t): int(n) for t, n in cursor.fetchall()}


@dataclass(frozen=True)
class Recount:
    before: int | None  # the total before (None: the person had none)
    after: int
    awards_removed: int
    awards_added: int

    @property
    def changed(self) -> bool:
        return self.before != self.after or bool(self.awards_removed or self.awards_added)


def recount(tenant_id: int, user_id: int) -> Recount:
    """Make the person's awards and total equal to the truth (in the caller's transaction)."""
    params = _rules(tenant_id, user_id)
    with connection.cursor() as cursor:
        cursor.execute(queries.REPUTATION_DROP_SPURIOUS, params)
        removed = cursor.rowcount
        cursor.execute(queries.REPUTATION_ADD_MISSING, params)
        added = cursor.rowcount
        cursor.execute(queries.REPUTATION_SET_TOTAL, {"tenant_id": tenant_id, "user_id": user_id})
        before, after = cursor.fetchone()
    return Recount(None if before is None else int(before), int(after), removed, added)


def recount_and_record(tenant_id: int, user_id: int, heal_run_id: int | None) -> Recount:
    """The recount task's work: repair, and record what changed (in the task's transaction)."""
    done = recount(tenant_id, user_id)
    if done.changed:
        emit("reputation.repaired", aggregate_type="user", aggregate_id=user_id, tenant_id=tenant_id,
             channel=user_channel(tenant_id, user_id),
             payload={"user_id": user_id, "points": done.after, "before": done.before,
                      "awards_removed": done.awards_removed, "awards_added": done.awards_added,
                      "heal_run_id": heal_run_id})
    return done


def heal_reputation(*, dry_run: bool = False, tenant_id: int | None = None, heal_run_id: int | None = None,
                    actor_id: int | None = None) -> HealResult:
    """Find everyone whose reputation differs from the truth and emit a recount for each (unless
    dry_run)."""
    examined = _examined(tenant_id)
    gaps = drifted(tenant_id)
    if not dry_run:
        for start in range(0, len(gaps), EMIT_CHUNK):
            with transaction.atomic():
                for gap_tenant, user_id in gaps[start:start + EMIT_CHUNK]:
                    emit("reputation.recount_requested", aggregate_type="user", aggregate_id=user_id,
                         tenant_id=gap_tenant, actor_id=actor_id, task="learning.recount_reputation",
                         payload={"user_id": user_id, "heal_run_id": heal_run_id})
    return HealResult(examined, [Repair(t, f"user:{u}", "drift", "recount") for t, u in gaps])


def confirm_reputation_repairs(repairs: Sequence[Repair]) -> list[Repair]:
    """A recount took effect when the person no longer drifts."""
    tenants = {r.tenant_id for r in repairs}
    still = {f"user:{u}" for _t, u in drifted(next(iter(tenants)) if len(tenants) == 1 else None)}
    return [r for r in repairs if r.target not in still]
