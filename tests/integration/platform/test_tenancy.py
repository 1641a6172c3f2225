"""The current tenant follows the request or task, and never outlives it."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from core.accounts.models import User
from core.platform.tenancy import TenantMiddleware, TenantRequired, current_tenant_id, require_tenant_id
from tests.helpers.web import sign_in
from tests.support.tasks import record_tenant
from tests.support.tasks import seen_tenants as seen


def test_the_middleware_sets_the_users_tenant_during_the_request(alice: User) -> None:
    captured: list[int | None] = []

    def view(request: HttpRequest) -> HttpResponse:
        captured.append(current_tenant_id())
        return HttpResponse("ok")

    request = RequestFactory().get("/")
    request.user = alice
    TenantMiddleware(view)(request)
    assert captured == [alice.tenant_id]
    assert current_tenant_id() is None


def test_anonymous_requests_have_no_tenant(db: None) -> None:
    captured: list[int | None] = []

    def view(request: HttpRequest) -> HttpResponse:
        captured.append(current_tenant_id())
        return HttpResponse("ok")

    request = RequestFactory().get("/")
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    TenantMiddleware(view)(request)
    assert captured == [None]


def test_a_task_runs_as_the_tenant_of_its_argument_and_clears_it_after() -> None:
    seen.clear()
    record_tenant.apply(kwargs={"tenant_id": 42})
    assert seen == [42]
    assert current_tenant_id() is None


def test_the_tenant_is_cleared_after_a_task_that_raised() -> None:
    seen.clear()
    result = record_tenant.apply(kwargs={"tenant_id": 7, "fail": True})
    assert result.failed()
    assert seen == [7]
    assert current_tenant_id() is None
    record_tenant.apply(kwargs={"tenant_id": None})
    assert seen == [7, None]


def test_tenant_scoped_code_outside_a_tenant_fails_loudly() -> None:
    with pytest.raises(TenantRequired):
        require_tenant_id()


def test_the_home_page_shows_the_signed_in_users_agency(client: Client, alice: User) -> None:
    sign_in(client, alice)
    response = client.get("/")
    assert response.status_code == 200
    assert b"Harbor Home Health" in response.content
    assert b"dispatcher" in response.content


def test_the_home_page_asks_strangers_to_sign_in(client: Client, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
