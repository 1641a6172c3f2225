"""Heal jobs by name: what a domain registers and ops runs (ADR 0012).

A heal compares the truth in PostgreSQL with what should have followed from it and emits
fresh outbox events for every gap; its `confirm` later tells which of those repairs took
effect (ops records both: repairs emitted and repairs confirmed). Domains define their heals
and register them when their app is ready (`register("search_index", heal, confirm)`); the
ops app records, schedules, runs and verifies whatever is registered, without importing any
domain.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Repair:
    """One gap and what was (or, in a dry run, would be) done about it."""

    tenant_id: int
    target: str  # "content:12", "submission:7"
    gap: str  # missing | stale | not_live | stuck_queued | stuck_running
    action: str  # reindex | requeue | error

    def to_dict(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "target": self.target, "gap": self.gap, "action": self.action}


@dataclass
class HealResult:
    """What a heal examined (per tenant) and repaired."""

    examined_by_tenant: dict[int, int] = field(default_factory=dict)
    repairs: list[Repair] = field(default_factory=list)

    @property
    def examined(self) -> int:
        return sum(self.examined_by_tenant.values())

    def repaired_by_tenant(self) -> dict[int, int]:
        return dict(Counter(r.tenant_id for r in self.repairs))


class Heal(Protocol):
    def __call__(self, *, dry_run: bool = False, tenant_id: int | None = None, heal_run_id: int | None = None,
                 actor_id: int | None = None) -> HealResult: ...


class Confirm(Protocol):
    """Of a run's repairs, those whose derived state now matches the truth (the repair took
    effect): the heal's own check, asked again after the repair events had time to run."""

    def __call__(self, repairs: Sequence[Repair]) -> list[Repair]: ...


# Name -> heal, in the order the apps registered them (the ops page lists them so).
HEALS: dict[str, Heal] = {}
CONFIRMS: dict[str, Confirm] = {}


def register(name: str, heal: Heal, confirm: Confirm | None = None) -> None:
    """Make `heal` runnable by ops as `name`, its repairs checked by `confirm`; a second
    registration of a name is a bug."""
    if name in HEALS and HEALS[name] is not heal:
        raise ValueError(f"a heal named {name!r} is already registered")
    HEALS[name] = heal
    if confirm is not None:
        CONFIRMS[name] = confirm
