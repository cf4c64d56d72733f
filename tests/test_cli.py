"""The operator's command line, run in-process against a throwaway SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.schema import build_schema
from domain.settings import load_settings

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("LENDGRAPH_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    return path


def test_migrate_builds_the_schema(database: Path) -> None:
    # when
    result = runner.invoke(app, ["migrate"])

    # then
    assert result.exit_code == 0, result.output
    assert "database at revision" in result.output
    assert database.exists()


def test_seed_fills_an_empty_database_once(database: Path) -> None:
    # when
    first = runner.invoke(app, ["seed", "--enterprises", "12", "--seed", "3"])
    second = runner.invoke(app, ["seed", "--enterprises", "12"])

    # then
    assert first.exit_code == 0, first.output
    assert second.exit_code == 1
    assert "already holds data" in second.output


def test_serve_refuses_a_schema_that_is_not_current(database: Path) -> None:
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "lendgraph migrate" in result.output


def test_serve_refuses_several_workers_on_sqlite(database: Path) -> None:
    result = runner.invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "needs PostgreSQL" in result.output


def test_bad_configuration_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENDGRAPH_PORT", "not-a-port")
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 2
    assert "LENDGRAPH_PORT" in result.output


def test_export_schema_writes_the_live_sdl(tmp_path: Path) -> None:
    # given
    out = tmp_path / "schema.graphql"

    # when
    result = runner.invoke(app, ["export-schema", "--out", str(out)])

    # then
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == build_schema(load_settings()).as_str() + "\n"
