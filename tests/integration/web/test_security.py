"""Security settings: deploy checks, CSRF on form posts, cookie flags, error pages that leak nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings

from core.accounts.models import User
from tests.helpers.web import sign_in

ROOT = Path(__file__).resolve().parents[3]
PRODUCTION = {"FERRY_ENV": "production", "SECRET_KEY": "s3cr3t-" + "x" * 60, "ALLOWED_HOSTS": "ferry.example",
              "DJANGO_SETTINGS_MODULE": "core.config.settings"}


def run_in_production(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUG", "FERRY_ENV"))}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**env, **PRODUCTION})


def test_the_deploy_checks_are_clean_with_production_settings() -> None:
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, capture_output=True, text=True, check=False,
                            env={**os.environ, **PRODUCTION})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_cookies_are_secure_http_only_and_same_site() -> None:
    result = run_in_production(
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, "
        "s.CSRF_COOKIE_SECURE, s.DEBUG, s.SECURE_HSTS_SECONDS > 0)")
    assert result.stdout.split() == ["True", "True", "Lax", "True", "False", "True"], result.stderr


@pytest.mark.django_db
def test_form_posts_without_a_csrf_token_are_refused(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/accounts/login/", {"username": "alice", "password": "pw"}).status_code == 403
    sign_in(client, alice)
    assert client.post("/accounts/logout/").status_code == 403


@pytest.mark.django_db
@override_settings(DEBUG=False, ROOT_URLCONF="tests.support.urls")
def test_an_error_page_shows_no_secret_and_no_stack_trace(alice: User) -> None:
    client = Client(raise_request_exception=False)
    sign_in(client, alice)
    response = client.get("/__explode__")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body
    for leak in ("Traceback", "RuntimeError", "boom", settings.SECRET_KEY, "DATABASE_URL", "core/"):
        assert leak not in body


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_a_missing_page_is_a_plain_404(client: Client, alice: User) -> None:
    sign_in(client, alice)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "There is nothing here" in response.content.decode()
