"""Configuration is validated at start, with one clear line per bad variable."""

from __future__ import annotations

import pytest

from domain.settings import ConfigurationError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("LENDGRAPH_") and name != "LENDGRAPH_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


def test_defaults_are_the_embedded_development_setup() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./lendgraph.db"
    assert settings.is_development
    assert settings.open_access


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("LENDGRAPH_ENV", "production")
    monkeypatch.setenv("LENDGRAPH_PORT", "9001")
    monkeypatch.setenv("LENDGRAPH_DATABASE_URL", "postgresql+asyncpg://app@db/lendgraph")

    # when
    settings = load_settings()

    # then
    assert (settings.env, settings.port, settings.is_sqlite) == ("production", 9001, False)
    assert not settings.open_access


def test_every_bad_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("LENDGRAPH_PORT", "70000")
    monkeypatch.setenv("LENDGRAPH_DATABASE_URL", "mysql://x")
    monkeypatch.setenv("LENDGRAPH_ENV", "staging")

    # when
    with pytest.raises(ConfigurationError) as caught:
        load_settings()

    # then
    message = str(caught.value)
    assert "LENDGRAPH_PORT" in message
    assert "LENDGRAPH_DATABASE_URL: Value error, must start with one of" in message
    assert "LENDGRAPH_ENV" in message


def test_open_access_is_refused_in_production() -> None:
    with pytest.raises(ConfigurationError, match="cannot be enabled in production"):
        load_settings(env="production", dev_open_access=True)
