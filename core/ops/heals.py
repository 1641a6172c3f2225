"""The heal jobs ops can run, by name (their logic lives with the domain they heal)."""

from __future__ import annotations

from typing import Protocol

from core.learning.heals import HealResult, heal_pending_gradings, heal_search_index


class Heal(Protocol):
    def __call__(self, *, dry_run: bool = False, tenant_id: int | None = None, heal_run_id: int | None = None,
                 actor_id: int | None = None) -> HealResult: ...


HEALS: dict[str, Heal] = {
    "search_index": heal_search_index,
    "pending_gradings": heal_pending_gradings,
}
