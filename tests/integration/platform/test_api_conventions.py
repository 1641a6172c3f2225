"""The API's shared conventions: 401/403 by role, errors in one shape naming the field."""

from __future__ import annotations

import pytest
from django.test import Client

from core.accounts.models import User
from tests.helpers.people import make_user
from tests.helpers.web import sign_in


@pytest.mark.django_db
def test_me_describes_the_signed_in_user(client: Client, alice: User) -> None:
    sign_in(client, alice)
    response = client.get("/api/me")
    assert response.status_code == 200
    assert response.json() == {"username": "alice", "tenant_id": alice.tenant_id,
                               "tenant": "Harbor Home Health", "roles": ["dispatcher"]}


@pytest.mark.django_db
def test_anonymous_callers_get_401_in_the_error_shape(client: Client) -> None:
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.json() == {"error": "unauthenticated", "message": "sign in first", "field": None}


@pytest.mark.django_db
def test_a_user_without_any_role_gets_403(client: Client, harbor: object) -> None:
    nobody = make_user("nobody", harbor)  # type: ignore[arg-type]
    sign_in(client, nobody)
    response = client.get("/api/me")
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


@pytest.mark.django_db
def test_the_openapi_schema_is_served(client: Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert "/api/me" in response.json()["paths"]
