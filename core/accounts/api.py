"""The accounts part of the JSON API: who the signed-in user is."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from core.accounts.access import RoleAuth, tenant_user
from core.platform.roles import Role
from core.platform.schemas import answers

router = Router(tags=["accounts"])


class Me(Schema):
    username: str
    tenant_id: int
    tenant: str
    roles: list[str]


ALL_ROLES = tuple(Role)


@router.get("/me", response=answers({200: Me}), auth=RoleAuth(*ALL_ROLES))
def me(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user, their agency and roles."""
    user = tenant_user(request)
    assert user.tenant is not None
    return {"username": user.username, "tenant_id": user.tenant_id, "tenant": user.tenant.name,
            "roles": sorted(user.roles)}
