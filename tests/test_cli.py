"""The operator's command line, run in-process against a throwaway SQLite database."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from api.cli import app
from api.schema import build_schema
from domain.identity import people, security, service
from domain.models import AccessLogEntry, AuditEntry, ConsentRecord, Enterprise, Institution, Role
from domain.privacy import consent
from domain.settings import load_settings
from kernel.base import new_id, utcnow
from kernel.db import create_engine, session_factory, unit_of_work
from tests import factories as f
from tests.tampering import bypass_append_only

runner = CliRunner()


@pytest.fixture(autouse=True)
def _logging_as_found() -> Iterator[None]:
    """`serve` configures the root logger onto the runner's captured stderr, which the
    runner closes: later commands' log lines would land in their output as errors."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("LENDGRAPH_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("LENDGRAPH_KEY_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("LENDGRAPH_SECRET_KEY_FILE", str(tmp_path / "secret"))
    monkeypatch.setenv("LENDGRAPH_AUDIT_KEY_FILE", str(tmp_path / "audit-key"))
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


@pytest.fixture
def signing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    key = "cli-test-signing-key-" + "k" * 32
    monkeypatch.setenv("LENDGRAPH_SECRET_KEY", key)
    return key


def test_an_operator_bootstraps_an_admin_and_mints_a_token_that_carries_its_role(
    database: Path, signing_key: str
) -> None:
    # given
    assert runner.invoke(app, ["migrate"]).exit_code == 0

    # when
    created = runner.invoke(
        app,
        [
            "users",
            "create",
            "--email",
            "Root@Example.test",
            "--password",
            "a long enough passphrase",
            "--role",
            "platform_admin",
        ],
    )
    minted = runner.invoke(app, ["users", "token", "--email", "root@example.test", "--ttl", "120"])

    # then
    assert created.exit_code == 0, created.output
    assert "root@example.test holds platform_admin" in created.output
    assert minted.exit_code == 0, minted.output
    token = minted.stdout.strip().splitlines()[-1]
    claims = security.read_token(
        signing_key.encode(), token, expected="access", now=utcnow(), max_lifetime=900
    )
    assert (claims.expires_at - utcnow()).total_seconds() <= 120
    assert claims.session_id is not None


def test_a_password_comes_from_a_hidden_prompt_or_the_environment(
    database: Path, signing_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    base = ["users", "create", "--role", "platform_admin", "--email"]

    # when: typed twice at a prompt that does not echo, or given in the environment
    prompted = runner.invoke(
        app, [*base, "typed@example.test"], input="a long enough passphrase\n" * 2
    )
    monkeypatch.setenv("LENDGRAPH_USER_PASSWORD", "another long passphrase")
    from_env = runner.invoke(app, [*base, "env@example.test"])

    # then: each account signs in with its password, which was never echoed
    assert prompted.exit_code == 0, prompted.output
    assert "Password:" in prompted.output
    assert "a long enough passphrase" not in prompted.output
    assert from_env.exit_code == 0, from_env.output
    assert "Password:" not in from_env.output
    settings = load_settings()

    async def signs_in(email: str, password: str) -> str:
        engine = create_engine(f"sqlite+aiosqlite:///{database}")
        try:
            async with unit_of_work(session_factory(engine)) as session:
                outcome = await service.login(
                    session, settings, email=email, password=password, origin=service.Origin()
                )
                return type(outcome).__name__
        finally:
            await engine.dispose()

    # (staff: a right password is answered with the second factor's challenge)
    assert asyncio.run(signs_in("typed@example.test", "a long enough passphrase")) == (
        "MfaChallenge"
    )
    assert asyncio.run(signs_in("env@example.test", "another long passphrase")) == "MfaChallenge"
    assert asyncio.run(signs_in("env@example.test", "a long enough passphrase")) == "Refused"


@pytest.mark.parametrize("group", [str(info.name) for info in app.registered_groups])
def test_every_command_group_called_bare_prints_its_help(group: str) -> None:
    result = runner.invoke(app, [group], prog_name="lendgraph")

    assert f"Usage: lendgraph {group} [OPTIONS]" in result.output
    assert "Commands" in result.output
    assert "Missing command" not in result.output


def test_institution_roles_need_a_known_institution(database: Path, signing_key: str) -> None:
    # given
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    base = [
        "users",
        "create",
        "--email",
        "o@example.test",
        "--password",
        "a long enough passphrase",
    ]

    # when
    missing = runner.invoke(app, [*base, "--role", "loan_officer"])
    unknown = runner.invoke(app, [*base, "--role", "loan_officer", "--institution", "NOPE"])
    no_such_user = runner.invoke(app, ["users", "token", "--email", "ghost@example.test"])

    # then
    assert missing.exit_code == 1
    assert "give --institution" in missing.output
    assert unknown.exit_code == 1
    assert "no institution with code 'NOPE'" in unknown.output
    assert no_such_user.exit_code == 1


def test_the_outbox_lists_mail_a_sender_would_read(database: Path, signing_key: str) -> None:
    # given: a registration waiting for confirmation
    assert runner.invoke(app, ["migrate"]).exit_code == 0

    async def register() -> None:
        engine = create_engine(load_settings().database_url)
        try:
            async with unit_of_work(session_factory(engine)) as session:
                await service.register(
                    session,
                    load_settings().keys(),
                    email="owner@example.test",
                    password="a long enough passphrase",
                    display_name="Owner",
                    origin=service.Origin(),
                )
        finally:
            await engine.dispose()

    asyncio.run(register())

    # when
    listed = runner.invoke(app, ["outbox", "--mark-sent"])
    again = runner.invoke(app, ["outbox"])
    everything = runner.invoke(app, ["outbox", "--all"])

    # then
    assert listed.exit_code == 0, listed.output
    assert "to: owner@example.test" in listed.stdout
    assert "Confirm your LendGraph account" in listed.stdout
    assert again.stdout.strip() == ""
    assert "owner@example.test" in everything.stdout


def test_keys_rotate_rewraps_every_data_key_and_retires_the_old_master(
    database: Path, signing_key: str
) -> None:
    # given: a seeded database under a first master key
    assert runner.invoke(app, ["seed", "--enterprises", "12", "--seed", "3"]).exit_code == 0
    before = load_settings().keys()
    token = runner.invoke(app, ["users", "token", "--email", "admin@demo.lendgraph.test"])
    assert token.exit_code == 0, token.output

    # when
    rotated = runner.invoke(app, ["keys", "rotate", "--retire"])
    status = runner.invoke(app, ["keys", "status"])

    # then
    after = load_settings().keys()
    assert rotated.exit_code == 0, rotated.output
    assert after.current_kid != before.current_kid
    assert list(after.keys) == [after.current_kid]  # the old master key is gone
    lines = status.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(after.current_kid)
    assert "(current)" in lines[0]

    async def still_opens() -> str:
        engine = create_engine(load_settings().database_url)
        try:
            async with session_factory(engine)() as session:
                user = await people.find_by_email(session, after, "admin@demo.lendgraph.test")
                assert user is not None
                return (await people.opened(session, after, user))["email"]
        finally:
            await engine.dispose()

    assert asyncio.run(still_opens()) == "admin@demo.lendgraph.test"


def test_audit_verify_reports_an_intact_ledger_and_names_a_broken_link(
    database: Path, signing_key: str
) -> None:
    # given: one consent on record
    assert runner.invoke(app, ["seed", "--enterprises", "12", "--seed", "3"]).exit_code == 0

    async def consent_then_tamper(tamper: bool) -> None:
        engine = create_engine(load_settings().database_url)
        try:
            async with unit_of_work(session_factory(engine)) as session:
                if not tamper:
                    owner = await people.find_by_email(
                        session, load_settings().keys(), "owner0001@demo.lendgraph.test"
                    )
                    assert owner is not None
                    enterprise = await session.scalar(
                        select(Enterprise).where(Enterprise.owner_id == owner.id).limit(1)
                    )
                    assert enterprise is not None
                    viewer = service.viewer_for_user(
                        owner, [(Role.SME_OWNER, None, None)], session_id=None
                    )
                    await consent.grant(
                        session,
                        viewer=viewer,
                        subject_id=enterprise.id,
                        purpose="marketing",
                        recipient_institution_id=None,
                        expires_at=None,
                        text_version="v1",
                        channel="cli",
                    )
                else:
                    await bypass_append_only(session)
                    await session.execute(update(ConsentRecord).values(purpose="credit_assessment"))
        finally:
            await engine.dispose()

    asyncio.run(consent_then_tamper(tamper=False))

    # when
    intact = runner.invoke(app, ["audit", "verify"])
    asyncio.run(consent_then_tamper(tamper=True))
    broken = runner.invoke(app, ["audit", "verify"])

    # then
    assert intact.exit_code == 0, intact.output
    assert "consent ledger intact" in intact.stdout
    assert broken.exit_code == 1
    assert "BROKEN subject" in broken.stdout


def test_audit_seal_then_verify_names_a_log_row_changed_through_sql(
    database: Path, signing_key: str
) -> None:
    # given: audit entries and a reveal from an hour ago (settled), sealed by the command
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    earlier = utcnow() - timedelta(hours=1)

    async def write(tamper: bool) -> None:
        engine = create_engine(load_settings().database_url)
        try:
            async with unit_of_work(session_factory(engine)) as session:
                if tamper:
                    await bypass_append_only(session)
                    await session.execute(update(AccessLogEntry).values(purpose="oversight"))
                    return
                for n in range(3):
                    session.add(
                        AuditEntry(
                            id=new_id(at=earlier),
                            at=earlier,
                            action="test.happened",
                            entity_type="Thing",
                            entity_id=str(n),
                            detail={},
                        )
                    )
                session.add(
                    AccessLogEntry(
                        id=new_id(at=earlier),
                        at=earlier,
                        viewer_id=None,
                        viewer_kind="user",
                        subject_id=new_id(),
                        object="Enterprise.contactPhone",
                        purpose="credit_assessment",
                    )
                )
        finally:
            await engine.dispose()

    asyncio.run(write(tamper=False))

    # when
    sealed = runner.invoke(app, ["audit", "seal"])
    intact = runner.invoke(app, ["audit", "verify"])
    asyncio.run(write(tamper=True))
    broken = runner.invoke(app, ["audit", "verify"])
    shallow = runner.invoke(app, ["audit", "verify", "--seals-only"])
    report = runner.invoke(app, ["report", "compliance", "--out", str(database.parent / "c.html")])

    # then
    assert sealed.exit_code == 0, sealed.output
    assert "audit log: 3 rows sealed" in sealed.stdout
    assert intact.exit_code == 0, intact.output
    assert "access log intact: 1 seals over 1 rows, 0 awaiting a seal" in intact.stdout
    assert broken.exit_code == 1
    assert "BROKEN access seal 0: rows altered" in broken.stdout
    assert "audit log intact" in broken.stdout
    assert shallow.exit_code == 0  # the seals themselves still hold
    assert report.exit_code == 0, report.output
    page = (database.parent / "c.html").read_text()
    assert "<td>access log</td><td>BROKEN</td>" in page
    assert "<td>Enterprise.contactPhone</td><td>personal</td><td>marketing</td>" in page


def test_loans_age_brings_the_seeded_loans_up_to_a_day(database: Path) -> None:
    # given
    assert runner.invoke(app, ["seed", "--enterprises", "30", "--seed", "5"]).exit_code == 0

    # when
    aged = runner.invoke(app, ["loans", "age", "--as-of", "2027-06-30"])
    again = runner.invoke(app, ["loans", "age", "--as-of", "2027-06-30"])
    bad = runner.invoke(app, ["loans", "age", "--as-of", "2027-13-01"])

    # then: the second run on the same day finds nothing to change
    assert aged.exit_code == 0, aged.output
    assert "active loans to 2027-06-30" in aged.output
    assert "dpd_90_plus" in aged.output
    assert again.stdout.split(":")[1].strip().startswith("0 changed")
    assert "ageing loans" in aged.stderr  # a spinner while it works
    assert bad.exit_code == 2
    assert "not a date" in bad.output


def test_loans_accrue_accrues_the_seeded_book_once_a_day(database: Path) -> None:
    # given
    assert runner.invoke(app, ["seed", "--enterprises", "30", "--seed", "5"]).exit_code == 0
    today = utcnow().date().isoformat()

    # when
    accrued = runner.invoke(app, ["loans", "accrue", "--as-of", today])
    again = runner.invoke(app, ["loans", "accrue", "--as-of", today])
    bad = runner.invoke(app, ["loans", "accrue", "--institution", "nobody"])

    # then: the second run on the same day finds nothing left to accrue
    assert accrued.exit_code == 0, accrued.output
    assert f"through {today}: interest" in accrued.output
    assert not accrued.stdout.startswith("accrued 0 ")
    assert again.stdout.startswith(f"accrued 0 active loans through {today}: interest 0.00")
    assert bad.exit_code == 2


def test_a_fresh_seed_ends_today_already_aged(database: Path) -> None:
    # given: a book seeded without --as-of, on whatever day the suite runs
    seeded = runner.invoke(app, ["seed", "--enterprises", "40", "--seed", "5"])
    assert seeded.exit_code == 0, seeded.output
    today = utcnow().date()

    # when: the daily ageing job runs today
    aged = runner.invoke(app, ["loans", "age"])

    # then: the seed aged the book to today, so nothing moves, and arrears are current
    assert f"the book's history ends on {today}" in seeded.output
    assert aged.exit_code == 0, aged.output
    assert f"active loans to {today}: 0 changed" in aged.output
    assert "dpd_1_30" in aged.output


def test_seed_as_of_pins_the_book_to_a_day(database: Path) -> None:
    # when
    seeded = runner.invoke(
        app, ["seed", "--enterprises", "20", "--seed", "5", "--as-of", "2025-03-15"]
    )
    aged = runner.invoke(app, ["loans", "age", "--as-of", "2025-03-15"])
    later = runner.invoke(app, ["loans", "age", "--as-of", "2025-06-15"])

    # then
    assert seeded.exit_code == 0, seeded.output
    assert "the book's history ends on 2025-03-15" in seeded.output
    assert "active loans to 2025-03-15: 0 changed" in aged.output
    assert "0 changed" not in later.output


def test_risk_scan_judges_the_seeded_book_and_then_only_what_changed(database: Path) -> None:
    # given: seeding installs the default rules and runs a first full scan
    seeded = runner.invoke(app, ["seed", "--enterprises", "30", "--seed", "5"])
    assert seeded.exit_code == 0, seeded.output
    assert "early warning: 8 rules" in seeded.output

    # when
    quiet = runner.invoke(app, ["risk", "scan"])
    full = runner.invoke(app, ["risk", "scan", "--full"])
    bad = runner.invoke(app, ["risk", "scan", "--as-of", "someday"])

    # then: nothing changed since the seed's scan; a full one raises nothing twice
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout.startswith("incremental scan")
    assert ": 0 loans," in quiet.output
    assert full.stdout.startswith("full scan")
    assert "scanning loans" in full.stderr  # loans counted as chunks are written
    assert " 0 new alerts" in full.output
    assert "green" in full.output
    assert bad.exit_code == 2


GERMAN_CREDIT = Path(__file__).resolve().parents[1] / "scoring" / "data" / "german_credit.csv"


def trained_figures(output: str) -> dict[str, Any]:
    """The JSON `model train` prints after its progress bars."""
    found: dict[str, Any] = json.JSONDecoder().raw_decode(output, output.index("{"))[0]
    return found


def test_a_lenders_file_is_evaluated_trained_registered_and_reported(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.setenv("LENDGRAPH_MODEL_DIR", str(tmp_path / "models"))
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    csv = ["--csv", str(GERMAN_CREDIT), "--target", "class", "--bad-value", "bad"]

    # when
    # the smallest search: the default configuration and the blend
    evaluated = runner.invoke(app, ["model", "evaluate", *csv, "--folds", "2", "--budget", "0"])
    trained = runner.invoke(app, ["model", "train", *csv, "--folds", "2", "--budget", "0"])
    listed = runner.invoke(app, ["model", "list"])
    version = json.JSONDecoder().raw_decode(trained.output, trained.output.index("{"))[0]["version"]
    promoted = runner.invoke(app, ["model", "promote", version])
    reported = runner.invoke(app, ["model", "report", version, "--out", str(tmp_path / "r")])
    missing = runner.invoke(
        app, ["model", "evaluate", *csv[:2], "--target", "nope", "--bad-value", "x"]
    )

    # then
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(evaluated.stdout)  # progress goes to stderr: stdout stays JSON
    assert figures["n_rows"] == 1000
    assert figures["auc_mean"] > 0.7
    assert {"auc_std", "ks", "brier", "baseline", "ece", "reliability"} <= set(figures)
    # each outer fold chose its calibrator on its inner folds
    assert sum(figures["calibrators"].values()) == 2
    assert sum(b["loans"] for b in figures["reliability"]) == 1000
    assert set(figures["variants"]) == {"default", "tuned", "blend"}
    assert "gain over the default" in evaluated.output
    assert trained.exit_code == 0, trained.output
    # the list says how far to trust it: the calibrator it serves, its cross-validated
    # AUC with its spread, its data
    figures = trained_figures(trained.output)
    assert listed.output.split()[:3] == [version, "candidate", figures["calibrator"]]
    assert f"auc {figures['auc_mean']:.3f} ± {figures['auc_std']:.3f} (2-fold)" in listed.output
    assert "300 defaults in 1000 rows" in listed.output
    # and training showed its progress, booster by booster
    assert "2-fold validation" in trained.output
    assert "fitting the model" in trained.output
    # its columns are the lender's, not an application's: it is never put in service
    assert promoted.exit_code == 1
    assert "reads other features" in promoted.output
    assert reported.exit_code == 0, reported.output
    page = (tmp_path / "r" / f"model-{version}.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 4
    assert "<h2>Reliability</h2>" in page
    assert f"<td>Calibrator (chosen on inner folds)</td><td>{figures['calibrator']}</td>" in page
    assert missing.exit_code == 2
    assert "BAD_USER_INPUT" in missing.output


def test_the_portfolio_is_rescored_and_drift_measured(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a seeded book and a champion trained on it (stand-in outcome: the most
    # indebted fifth; model quality is not what this test is about)
    from domain.risk.assessment import training_sample
    from domain.risk.registry import promote, register
    from scoring.drift import training_reference
    from scoring.features import PLATFORM_FEATURES
    from scoring.scorecard import Scorecard
    from scoring.training import fit

    store = tmp_path / "models"
    monkeypatch.setenv("LENDGRAPH_MODEL_DIR", str(store))
    assert runner.invoke(app, ["seed", "--enterprises", "120", "--seed", "9"]).exit_code == 0

    async def champion() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{database}")
        try:
            async with session_factory(engine)() as s:
                sample = await training_sample(s)
            cut = sorted(r["debt_to_asset"] or 0.0 for r in sample.rows)[len(sample.rows) * 4 // 5]
            labels = [int((r["debt_to_asset"] or 0.0) > cut) for r in sample.rows]
            model = fit(sample.rows, labels, PLATFORM_FEATURES, params={"iterations": 40})
            model.metrics["reference"] = training_reference(model, sample.rows, Scorecard())
            async with unit_of_work(session_factory(engine)) as s:
                row = await register(s, model, store, source="test")
                await promote(s, row.version, features=PLATFORM_FEATURES)
        finally:
            await engine.dispose()

    asyncio.run(champion())

    # when
    scored = runner.invoke(app, ["model", "score-portfolio"])
    drift = runner.invoke(app, ["model", "drift", "--days", "30"])

    # then
    assert scored.exit_code == 0, scored.output
    assert "active loans" in scored.output
    assert drift.exit_code == 0, drift.output
    assert "PSI" in drift.output
    assert "debt_to_asset" in drift.output


def test_import_enterprises_cleans_reports_every_row_and_changes_nothing_the_second_time(
    database: Path, tmp_path: Path
) -> None:
    from tests.domain.imports.rows import base_row, codes, csv_bytes

    # given: a migrated database and a file with a clean, a fixed and a rejected row
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    first, second = codes(2)
    source = tmp_path / "enterprises.csv"
    source.write_bytes(
        csv_bytes(
            [
                base_row(unified_social_credit_code=first),
                base_row(unified_social_credit_code=second, equity=""),
                base_row(unified_social_credit_code=first[:17] + "?"),
            ]
        )
    )
    report = tmp_path / "report.json"

    # when
    imported = runner.invoke(
        app, ["import", "enterprises", str(source), "--batch-size", "2", "--report", str(report)]
    )
    again = runner.invoke(app, ["import", "enterprises", str(source)])

    # then
    assert imported.exit_code == 0, imported.output
    assert "accepted 1, fixed 1, flagged 0, rejected 1" in imported.output
    assert "created 2, updated 0, unchanged 0, failed 0" in imported.output
    assert "batches 2 landed, 0 failed" in imported.output
    written = json.loads(report.read_text(encoding="utf-8"))
    assert [(r["row"], r["outcome"], r["effect"]) for r in written["rows"]] == [
        (2, "accepted", "created"),
        (3, "fixed", "created"),
        (4, "rejected", "none"),
    ]
    assert written["rows"][1]["notes"][0]["text"].startswith("[F1] 2024: equity missing")
    assert written["summary"]["status"] == "completed"
    assert again.exit_code == 0, again.output
    assert "created 0, updated 0, unchanged 2, failed 0" in again.output

    # and a malformed file is refused with its reason, exit 1
    broken = tmp_path / "broken.csv"
    broken.write_bytes(source.read_bytes().decode().encode("gbk"))
    refused = runner.invoke(app, ["import", "enterprises", str(broken)])
    assert refused.exit_code == 1
    assert "MALFORMED_FILE" in refused.output
    assert "not UTF-8" in refused.output


def test_the_portfolio_report_is_one_offline_page(database: Path, tmp_path: Path) -> None:
    # given
    assert runner.invoke(app, ["seed", "--enterprises", "30", "--seed", "5"]).exit_code == 0
    out = tmp_path / "portfolio.html"

    # when
    made = runner.invoke(
        app,
        ["report", "portfolio", "--from", "2025-11-01", "--to", "2026-10-31", "--out", str(out)],
    )
    unknown = runner.invoke(
        app, ["report", "portfolio", "--institution", "NOPE", "--out", str(tmp_path / "x.html")]
    )

    # then
    assert made.exit_code == 0, made.output
    page = out.read_text(encoding="utf-8")
    assert "<h1>Portfolio 2025-11-01 to 2026-10-31</h1>" in page
    assert page.count("<svg") == 7
    assert unknown.exit_code == 1
    assert "NOT_FOUND" in unknown.output


def test_the_readmes_report_on_a_fresh_seed_shows_the_current_book(
    database: Path, tmp_path: Path
) -> None:
    # given: a book seeded today, as `serve --demo` seeds it
    assert runner.invoke(app, ["seed", "--enterprises", "40", "--seed", "5"]).exit_code == 0
    today = utcnow().date()
    month_end = today.replace(day=1) - timedelta(days=1)

    # when: the README's command with its defaults (a year to today), and up to the last
    # month end (stocks from that month end's snapshot)
    live = runner.invoke(app, ["report", "portfolio", "--out", str(tmp_path / "live.html")])
    closed = runner.invoke(
        app,
        ["report", "portfolio", "--to", str(month_end), "--out", str(tmp_path / "closed.html")],
    )

    # then: loans are outstanding on both days
    assert live.exit_code == 0, live.output
    assert closed.exit_code == 0, closed.output
    for name, day in (("live.html", today), ("closed.html", month_end)):
        page = (tmp_path / name).read_text(encoding="utf-8")
        found = re.search(rf"<td>outstanding on {day}</td><td>(\d+) loans", page)
        assert found is not None, name
        assert int(found.group(1)) > 0, name


@pytest.mark.postgres_only
async def test_serve_with_workers_logs_one_json_line_per_request(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    # given: the service on two worker processes, in production, on the test database
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "LENDGRAPH_DATABASE_URL": database_url,
        "LENDGRAPH_ENV": "production",
        "LENDGRAPH_SECRET_KEY": "workers-test-signing-key-" + "w" * 32,
        "LENDGRAPH_MASTER_KEYS": f.TEST_MASTER_KEYS,
        "LENDGRAPH_BLIND_INDEX_KEY": f.TEST_BLIND_INDEX_KEY,
        "LENDGRAPH_RISK_SCAN_INTERVAL": "0",
        "LENDGRAPH_LOG_LEVEL": "INFO",
    }
    log_file = tmp_path / "serve.err"
    with log_file.open("wb") as stderr:
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "api.cli",
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    ids = [f"workers-{n:04d}" for n in range(20)]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(240):  # two fresh interpreters import the service: seconds
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.25)
            # when
            for request_id in ids:
                response = await client.post(
                    "/graphql",
                    json={"query": "query Catalog { products(first: 1) { totalCount } }"},
                    headers={"x-request-id": request_id},
                )
                assert response.status_code == 200, response.text
    finally:
        server.send_signal(signal.SIGINT)
        await asyncio.wait_for(server.wait(), timeout=60)
    lines = log_file.read_text().splitlines()

    # then: each request logged once, as JSON, with its id, status and operation
    # (the CLI's own banner, for a person, is the only other text)
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    logged = [e for e in entries if e.get("msg") == "request" and e.get("request_id") in ids]
    assert sorted(e["request_id"] for e in logged) == ids
    assert {e["status"] for e in logged} == {200}
    assert {e["operation"] for e in logged} == {"Catalog"}


def test_the_demo_starts_its_provider_simulator_and_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: no provider configured, as a fresh demo has none
    from api.cli.service import _demo_providers
    from tests.servers import free_port

    monkeypatch.delenv("LENDGRAPH_PROVIDER_URL", raising=False)
    port = free_port()

    # when: the demo's providers run
    with _demo_providers(port):
        url = os.environ["LENDGRAPH_PROVIDER_URL"]
        answered = None
        for _ in range(600):  # up to a minute on a busy machine
            try:
                answered = httpx.get(f"{url}/bureau/91330100000000001X", timeout=10)
                break
            except httpx.TransportError:
                time.sleep(0.1)

    # then: the service was pointed at a simulator that answered, and it is gone after
    assert url == f"http://127.0.0.1:{port}"
    assert answered is not None
    assert answered.json()["code"] == "91330100000000001X"
    assert "LENDGRAPH_PROVIDER_URL" not in os.environ
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/calls", timeout=5)


def test_keys_rotate_index_reindexes_by_a_job_and_lookups_work_under_the_new_key_alone(
    database: Path, signing_key: str
) -> None:
    # given: a seeded database under a first blind-index key
    assert runner.invoke(app, ["seed", "--enterprises", "6", "--seed", "3"]).exit_code == 0
    before = load_settings().keys().hashing.blind_index

    # when
    rotated = runner.invoke(app, ["keys", "rotate-index", "--retire"])

    # then: one version left, a new one, and a person still found by email
    after = load_settings().keys()
    assert rotated.exit_code == 0, rotated.output
    assert list(after.hashing.blind_index.keys) == [after.hashing.blind_index.current]
    assert after.hashing.blind_index.current != before.current
    assert '"state": "succeeded"' in rotated.stdout

    async def found() -> bool:
        engine = create_engine(load_settings().database_url)
        try:
            async with session_factory(engine)() as session:
                user = await people.find_by_email(session, after, "admin@demo.lendgraph.test")
                return user is not None
        finally:
            await engine.dispose()

    assert asyncio.run(found())


def test_keys_replace_data_keys_reseals_under_fresh_keys_by_a_job(
    database: Path, signing_key: str
) -> None:
    # given
    assert runner.invoke(app, ["seed", "--enterprises", "4", "--seed", "3"]).exit_code == 0

    # when
    replaced = runner.invoke(app, ["keys", "replace-data-keys"])
    token = runner.invoke(app, ["users", "token", "--email", "admin@demo.lendgraph.test"])

    # then: every subject's key replaced; people still sign in (their email opens)
    assert replaced.exit_code == 0, replaced.output
    result = json.loads(replaced.stdout)["result"]
    assert result["replaced"] > 4
    assert token.exit_code == 0, token.output


def test_ledger_trial_balance_prints_each_account_as_its_lines_add_up(database: Path) -> None:
    # given: a book with a loan lent, charged and repaid through the servicing code
    assert runner.invoke(app, ["migrate"]).exit_code == 0

    async def a_book() -> tuple[str, dict[str, tuple[Any, Any]]]:
        from decimal import Decimal

        from sqlalchemy import func

        from domain.ledger.models import JournalLine, LedgerAccount
        from domain.lending import charges
        from domain.lending import service as lending
        from tests.domain.ledger.books import disbursed_loan

        engine = create_engine(load_settings().database_url)
        try:
            async with unit_of_work(session_factory(engine)) as s:
                on = utcnow().date() - timedelta(days=95)
                booked = await disbursed_loan(s, on=on, fee="150.00", charged=True)
                await charges.accrue(s, as_of=on + timedelta(days=70), institution_id=None)
                await lending.record_repayment(
                    s,
                    booked.officer,
                    booked.loan_id,
                    idempotency_key="cli-book-1",
                    amount=Decimal("1234.56"),
                    paid_on=on + timedelta(days=75),
                )
                code = await s.scalar(
                    select(Institution.code).where(Institution.id == booked.institution_id)
                )
                # The lines themselves, summed: what the per-day totals must agree with.
                sums = (
                    await s.execute(
                        select(
                            LedgerAccount.code,
                            func.sum(JournalLine.debit),
                            func.sum(JournalLine.credit),
                        )
                        .join(JournalLine, JournalLine.account_id == LedgerAccount.id)
                        .where(LedgerAccount.institution_id == booked.institution_id)
                        .group_by(LedgerAccount.code)
                    )
                ).all()
                assert code is not None
                return code, {c.value: (d, k) for c, d, k in sums}
        finally:
            await engine.dispose()

    code, lines = asyncio.run(a_book())
    assert len(lines) >= 4  # cash, receivables, income: more than the disbursement

    # when
    result = runner.invoke(app, ["ledger", "trial-balance", "--institution", code, "--json"])
    table = runner.invoke(app, ["ledger", "trial-balance", "--institution", code])
    unknown = runner.invoke(app, ["ledger", "trial-balance", "--institution", "NOPE"])

    # then: balanced, and every account's figures are its lines' sums to the cent
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["balanced"] is True
    assert found["debits"] == found["credits"]
    by_code = {a["code"]: a for a in found["accounts"]}
    for account, (debit, credit) in lines.items():
        assert (by_code[account]["debits"], by_code[account]["credits"]) == (
            f"{debit:.2f}",
            f"{credit:.2f}",
        )
    assert table.exit_code == 0
    assert "balanced" in table.output
    assert code in table.output
    assert unknown.exit_code != 0
    assert "NOPE" in unknown.output
