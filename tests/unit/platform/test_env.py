"""Configuration readers: loud on error, naming the variable."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.platform import env
from core.platform.channels import channels_for, tenant_channel, user_channel


def test_booleans_numbers_and_choices_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRY_X_FLAG", "Yes")
    monkeypatch.setenv("FERRY_X_COUNT", "12")
    monkeypatch.setenv("FERRY_X_RATIO", "0.25")
    monkeypatch.setenv("FERRY_X_MODE", "json")
    assert env.env_bool("FERRY_X_FLAG", False) is True
    assert env.env_int("FERRY_X_COUNT", 1, minimum=1) == 12
    assert env.env_float("FERRY_X_RATIO", 1.0) == 0.25
    assert env.env_choice("FERRY_X_MODE", "console", ("json", "console")) == "json"
    assert env.env_int("FERRY_X_UNSET", 5) == 5


@pytest.mark.parametrize(("reader", "value", "message"), [
    (lambda: env.env_bool("FERRY_X", False), "maybe", "FERRY_X='maybe' is not a boolean"),
    (lambda: env.env_int("FERRY_X", 1), "1.5", "FERRY_X='1.5' is not an integer"),
    (lambda: env.env_int("FERRY_X", 1, minimum=2), "1", "FERRY_X=1 must be at least 2"),
    (lambda: env.env_choice("FERRY_X", "a", ("a", "b")), "c", "FERRY_X='c' must be one of a, b"),
    (lambda: env.redis_url("FERRY_X", "redis://x"), "http://x", "FERRY_X must be a redis:// URL"),
])
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, reader: object, value: str,
                                        message: str) -> None:
    monkeypatch.setenv("FERRY_X", value)
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")):
        reader()  # type: ignore[operator]


def test_a_database_url_becomes_djangos_entry() -> None:
    entry = env.database_from_url("DATABASE_URL", "postgres://ferry:s%40cret@db.example:6543/ferry?sslmode=require")
    assert (entry["NAME"], entry["USER"], entry["PASSWORD"], entry["HOST"], entry["PORT"]) == (
        "ferry", "ferry", "s@cret", "db.example", "6543")
    assert entry["OPTIONS"] == {"sslmode": "require"}
    with pytest.raises(ImproperlyConfigured, match="names no database"):
        env.database_from_url("DATABASE_URL", "postgres://ferry@db.example:6543/")


def test_a_users_stream_carries_its_agencys_channel_and_its_own() -> None:
    assert channels_for(7, 70) == [tenant_channel(7), user_channel(7, 70)] == [
        "tenant:7:events", "tenant:7:user:70:events"]
