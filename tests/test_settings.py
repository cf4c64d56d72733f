"""Configuration is validated at start, with one clear line per bad variable."""

from __future__ import annotations

from pathlib import Path

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
    assert settings.secret_key is None  # development generates its own


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("LENDGRAPH_ENV", "production")
    monkeypatch.setenv("LENDGRAPH_PORT", "9001")
    monkeypatch.setenv("LENDGRAPH_DATABASE_URL", "postgresql+asyncpg://app@db/lendgraph")
    monkeypatch.setenv("LENDGRAPH_SECRET_KEY", "k" * 40)

    # when
    settings = load_settings()

    # then
    assert (settings.env, settings.port, settings.is_sqlite) == ("production", 9001, False)


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


def test_production_needs_a_long_signing_key() -> None:
    with pytest.raises(ConfigurationError, match="LENDGRAPH_SECRET_KEY is required"):
        load_settings(env="production")
    with pytest.raises(ConfigurationError, match=r"LENDGRAPH_SECRET_KEY: .*at least 32"):
        load_settings(env="production", secret_key="short")


def test_development_key_is_generated_once_and_private(tmp_path: Path) -> None:
    # given
    settings = load_settings(secret_key_file=tmp_path / "key")

    # when
    first, second = settings.signing_key(), settings.signing_key()

    # then
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600


def test_a_scan_interval_the_queue_cannot_schedule_is_refused() -> None:
    # given / when
    with pytest.raises(ConfigurationError) as refused:
        load_settings(risk_scan_interval=7 * 60)

    # then: every quarter of an hour, every ten seconds are fine; seven minutes is not
    assert "risk_scan_interval" in str(refused.value).lower()
    assert "420 s does not divide" in str(refused.value)
    assert load_settings(risk_scan_interval=900).risk_scan_interval == 900
    assert load_settings(risk_scan_interval=10).risk_scan_interval == 10
