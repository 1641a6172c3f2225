"""The roles of Ferry, stored as Django groups (created by data migrations)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    DISPATCHER = "dispatcher"
    REVIEWER = "reviewer"
    LEARNER = "learner"
    AUDITOR = "auditor"
    OPS = "ops"
    # Manages the people of one agency: invitations, roles, deactivation, the second-factor policy.
    AGENCY_ADMIN = "agency_admin"


# Who must sign in with a second factor unless their agency says otherwise (Tenant.mfa_roles).
MFA_DEFAULT_ROLES = (Role.AGENCY_ADMIN, Role.OPS, Role.AUDITOR)
