"""The roles of Ferry, stored as Django groups (created by data migrations)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    DISPATCHER = "dispatcher"
    REVIEWER = "reviewer"
    LEARNER = "learner"
    AUDITOR = "auditor"
    OPS = "ops"
    # Sees what ops see (figures, queues, dead letters, heal runs, the outbox history) and
    # changes nothing: for on-call observers and support.
    OPS_VIEWER = "ops_viewer"
    # Manages the people of one agency: invitations, roles, deactivation, the second-factor policy.
    AGENCY_ADMIN = "agency_admin"


# Who must sign in with a second factor unless their agency says otherwise (Tenant.mfa_roles).
MFA_DEFAULT_ROLES = (Role.AGENCY_ADMIN, Role.OPS, Role.OPS_VIEWER, Role.AUDITOR)
