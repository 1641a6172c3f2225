"""The five roles of Ferry, stored as Django groups (created by a data migration)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    DISPATCHER = "dispatcher"
    REVIEWER = "reviewer"
    LEARNER = "learner"
    AUDITOR = "auditor"
    OPS = "ops"
