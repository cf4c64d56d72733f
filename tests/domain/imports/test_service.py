"""The import pipeline against a real database: outcomes, merging, idempotency, sealing,
malformed files and batches that fail."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.audit.models import AuditEntry
from domain.enterprises.models import SEALED_COLUMNS, Enterprise, FinancialStatement
from domain.enterprises.service import id_number_index
from domain.imports import repository
from domain.imports.cleaning import Outcome
from domain.imports.errors import FileProblem, MalformedFile
from domain.imports.models import ImportRowResult, ImportRun, ImportStatus, RowEffect
from domain.imports.service import ImportReport, RowResult, import_enterprises
from privacy import keystore, vault
from privacy.models import DataKey
from tests import factories as f
from tests.domain.imports.rows import (
    CODE,
    ID_NUMBER,
    TODAY,
    Row,
    base_row,
    codes,
    csv_bytes,
    xlsx_bytes,
)

Sessions = async_sessionmaker[AsyncSession]


async def run(
    sessions: Sessions, data: bytes, *, name: str = "enterprises.csv", **options: Any
) -> tuple[ImportReport, list[RowResult]]:
    results: list[RowResult] = []
    report = await import_enterprises(
        sessions,
        io.BytesIO(data),
        name=name,
        keys=f.KEYS,
        today=TODAY,
        on_row=results.append,
        **options,
    )
    return report, sorted(results, key=lambda r: r.number)


async def count(sessions: Sessions, model: type[Any]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def counts(sessions: Sessions) -> dict[str, int]:
    return {
        model.__tablename__: await count(sessions, model)
        for model in (Enterprise, FinancialStatement, DataKey, ImportRun, AuditEntry)
    }


async def enterprise(sessions: Sessions, code: str) -> Enterprise:
    async with sessions() as session:
        row = await session.scalar(
            select(Enterprise).where(Enterprise.unified_social_credit_code == code)
        )
    assert row is not None
    return row


def mixed_rows() -> list[Row]:
    """One row of each outcome: accepted, fixed, flagged, rejected."""
    first, second, third, fourth = codes(4)
    return [
        base_row(unified_social_credit_code=first),
        base_row(unified_social_credit_code=second.lower(), equity=""),
        base_row(unified_social_credit_code=third, employee_count=""),
        base_row(unified_social_credit_code=fourth[:17] + ("0" if fourth[17] != "0" else "1")),
    ]


async def test_each_row_is_accepted_fixed_flagged_or_rejected_and_only_kept_rows_land(
    sessions: Sessions,
) -> None:
    # when
    report, results = await run(sessions, csv_bytes(mixed_rows()))

    # then
    assert [(r.number, r.outcome, r.effect) for r in results] == [
        (2, Outcome.ACCEPTED, RowEffect.CREATED),
        (3, Outcome.FIXED, RowEffect.CREATED),
        (4, Outcome.FLAGGED, RowEffect.CREATED),
        (5, Outcome.REJECTED, RowEffect.NONE),
    ]
    assert report.status is ImportStatus.COMPLETED
    assert report.rows_total == 4
    assert await count(sessions, Enterprise) == 3
    assert await count(sessions, FinancialStatement) == 3
    flagged = await enterprise(sessions, codes(4)[2])
    assert flagged.employee_count == 0
    async with sessions() as session:
        run_row = await session.get(ImportRun, report.run_id)
        stored = (
            await session.scalars(select(ImportRowResult).order_by(ImportRowResult.row_number))
        ).all()
    assert run_row is not None
    assert (run_row.accepted, run_row.fixed, run_row.flagged, run_row.rejected) == (1, 1, 1, 1)
    assert (run_row.created, run_row.unchanged, run_row.batches_landed) == (3, 0, 1)
    assert run_row.status is ImportStatus.COMPLETED
    assert run_row.finished_at is not None
    # Only the rows worth a look are stored, with the rule that touched them.
    assert [(r.row_number, r.outcome) for r in stored] == [
        (3, Outcome.FIXED),
        (4, Outcome.FLAGGED),
        (5, Outcome.REJECTED),
    ]
    assert stored[2].notes[0]["text"].startswith("[C3]")


async def test_the_same_file_imported_again_changes_nothing(sessions: Sessions) -> None:
    # given
    data = csv_bytes([*mixed_rows(), base_row(fiscal_year="2023", revenue="1100000.00")])
    await run(sessions, data)
    before = await counts(sessions)
    async with sessions() as session:
        stamps = dict((await session.execute(select(Enterprise.id, Enterprise.updated_at))).all())

    # when
    report, results = await run(sessions, data)

    # then
    assert {r.effect for r in results if r.outcome is not Outcome.REJECTED} == {RowEffect.UNCHANGED}
    assert report.effects[RowEffect.UNCHANGED] == 4
    assert report.effects[RowEffect.CREATED] == report.effects[RowEffect.UPDATED] == 0
    after = await counts(sessions)
    # The run's own record is all that is new; no batch left an audit trace.
    assert after == {
        **before,
        "import_runs": before["import_runs"] + 1,
        "audit_log": before["audit_log"] + 1,
    }
    async with sessions() as session:
        assert (
            dict((await session.execute(select(Enterprise.id, Enterprise.updated_at))).all())
            == stamps
        )


async def test_a_changed_value_updates_only_that_enterprise(sessions: Sessions) -> None:
    # given
    first, second = codes(2)
    rows = [base_row(unified_social_credit_code=first), base_row(unified_social_credit_code=second)]
    await run(sessions, csv_bytes(rows))
    unchanged_before = await enterprise(sessions, first)
    changed_before = await enterprise(sessions, second)
    rows[1] = base_row(
        unified_social_credit_code=second, employee_count="30", net_profit="90000.00"
    )

    # when
    report, results = await run(sessions, csv_bytes(rows))

    # then
    assert [r.effect for r in results] == [RowEffect.UNCHANGED, RowEffect.UPDATED]
    changed = await enterprise(sessions, second)
    assert changed.employee_count == 30
    assert changed.updated_at > changed_before.updated_at
    assert (await enterprise(sessions, first)).updated_at == unchanged_before.updated_at
    async with sessions() as session:
        restated = (
            await session.execute(
                select(FinancialStatement.net_profit, FinancialStatement.updated_at).where(
                    FinancialStatement.enterprise_id == changed.id
                )
            )
        ).one()
    assert str(restated.net_profit) == "90000.00"
    # The risk scan finds restatements by their updated_at.
    assert restated.updated_at > changed_before.updated_at
    assert report.effects[RowEffect.UPDATED] == 1


async def test_a_blank_cell_keeps_the_stored_value(sessions: Sessions) -> None:
    # given
    await run(sessions, csv_bytes([base_row()]))

    # when
    _, results = await run(sessions, csv_bytes([base_row(employee_count="", contact_phone="")]))

    # then
    assert results[0].effect is RowEffect.UNCHANGED
    stored = await enterprise(sessions, CODE)
    assert stored.employee_count == 25
    assert stored.contact_phone is not None


async def opened(sessions: Sessions, row: Enterprise) -> dict[str, str | None]:
    async with sessions() as session:
        key = (await keystore.unwrap_many(session, f.KEYS, [row.id]))[row.id]
    assert key is not None
    return {
        column: vault.unseal(key, sealed, table="enterprises", column=column, row_id=row.id)
        if (sealed := getattr(row, column))
        else None
        for column in SEALED_COLUMNS
    }


async def test_personal_values_are_stored_sealed_under_the_enterprises_own_key(
    sessions: Sessions,
) -> None:
    # when
    await run(sessions, csv_bytes([base_row()]))

    # then
    row = await enterprise(sessions, CODE)
    plain = base_row()
    for column in SEALED_COLUMNS:
        stored = getattr(row, column)
        assert stored.startswith("v1.")
        assert plain[column] not in stored
    assert await opened(sessions, row) == {column: plain[column] for column in SEALED_COLUMNS}
    assert row.legal_representative_id_bidx == id_number_index(f.KEYS, ID_NUMBER)
    assert row.owner_id is None


async def test_a_changed_personal_value_is_sealed_again(sessions: Sessions) -> None:
    # given
    await run(sessions, csv_bytes([base_row()]))
    first = await enterprise(sessions, CODE)

    # when
    _, results = await run(sessions, csv_bytes([base_row(contact_phone="13988887777")]))

    # then
    assert results[0].effect is RowEffect.UPDATED
    row = await enterprise(sessions, CODE)
    assert (await opened(sessions, row))["contact_phone"] == "13988887777"
    assert row.legal_representative_name == first.legal_representative_name  # not resealed


async def test_e1_an_erased_enterprise_gets_no_personal_values_back(sessions: Sessions) -> None:
    # given: imported, then erased (crypto-shredded, sealed columns cleared)
    await run(sessions, csv_bytes([base_row()]))
    row = await enterprise(sessions, CODE)
    async with sessions() as session, session.begin():
        await keystore.shred(session, row.id, now=f.FIXED_NOW)
        await session.execute(
            update(Enterprise)
            .where(Enterprise.id == row.id)
            .values(dict.fromkeys([*SEALED_COLUMNS, "legal_representative_id_bidx"]))
        )

    # when
    _, results = await run(sessions, csv_bytes([base_row()]))

    # then
    assert results[0].outcome is Outcome.FLAGGED
    assert results[0].effect is RowEffect.UNCHANGED
    assert results[0].notes[-1].text.startswith("[E1]")
    row = await enterprise(sessions, CODE)
    assert all(getattr(row, column) is None for column in SEALED_COLUMNS)


async def test_rows_of_one_code_merge_into_one_enterprise_across_batches(
    sessions: Sessions,
) -> None:
    # given: the code's rows in the first and the last of three batches
    other = codes(3)
    rows = [
        base_row(fiscal_year="2022", name="旧名称有限公司"),
        base_row(unified_social_credit_code=other[0]),
        base_row(unified_social_credit_code=other[1]),
        base_row(unified_social_credit_code=other[2]),
        base_row(fiscal_year="2023"),
        base_row(fiscal_year="2024"),
    ]

    # when
    report, results = await run(sessions, csv_bytes(rows), batch_size=2)

    # then
    assert len(report.batches) == 3
    assert await count(sessions, Enterprise) == 4
    merged = await enterprise(sessions, CODE)
    assert merged.name == "福州示例科技有限公司"
    async with sessions() as session:
        years = (
            await session.scalars(
                select(FinancialStatement.fiscal_year)
                .where(FinancialStatement.enterprise_id == merged.id)
                .order_by(FinancialStatement.fiscal_year)
            )
        ).all()
    assert list(years) == [2022, 2023, 2024]
    by_row = {r.number: r for r in results}
    assert by_row[7].outcome is Outcome.FLAGGED
    assert by_row[7].notes[0].text.startswith("[D1] name differ between rows 2, 6;")
    assert {by_row[n].effect for n in (2, 6, 7)} == {RowEffect.CREATED}

    # and again: still one enterprise, nothing changed
    _, again = await run(sessions, csv_bytes(rows), batch_size=2)
    assert {r.effect for r in again} == {RowEffect.UNCHANGED}


async def test_an_xlsx_workbook_imports_like_its_csv(sessions: Sessions) -> None:
    # when
    report, results = await run(sessions, xlsx_bytes(mixed_rows()), name="enterprises.xlsx")

    # then
    assert report.format.value == "xlsx"
    assert [r.outcome for r in results] == [
        Outcome.ACCEPTED,
        Outcome.FIXED,
        Outcome.FLAGGED,
        Outcome.REJECTED,
    ]
    row = await enterprise(sessions, codes(4)[0])
    assert str(row.annual_revenue) == "1200000.00"
    assert row.founded_on.isoformat() == "2015-03-01"

    # and the same rows as CSV change nothing
    _, again = await run(sessions, csv_bytes(mixed_rows()))
    assert {r.effect for r in again if r.outcome is not Outcome.REJECTED} == {RowEffect.UNCHANGED}


async def test_columns_that_are_not_ours_are_ignored_and_named(sessions: Sessions) -> None:
    columns = ["统一社会信用代码", "name", "industry", "region", "foundedOn", "员工人数", "备注"]
    data = "\n".join(
        [
            ",".join(columns),
            f"{CODE},福州示例科技有限公司,manufacturing,Fujian,2015-03-01,25,VIP customer",
        ]
    ).encode()

    report, results = await run(sessions, data + b"\n")

    assert report.ignored_columns == ("备注",)
    assert results[0].outcome is Outcome.ACCEPTED
    assert results[0].effect is RowEffect.CREATED


async def test_a_row_that_does_not_split_into_the_header_is_rejected(
    sessions: Sessions,
) -> None:
    lines = csv_bytes([base_row()]).decode().splitlines()
    data = "\n".join([lines[0], lines[1], f"{codes(1)[0]},only,three"]) + "\n"

    _, results = await run(sessions, data.encode())

    assert results[1].outcome is Outcome.REJECTED
    assert results[1].notes[0].text.startswith("[R1] the row has 3 values, the header names 24")


# ------------------------------------------------------------------ malformed files


def _truncated() -> bytes:
    data = csv_bytes([base_row(), base_row(unified_social_credit_code=codes(1)[0])])
    return data[: len(data) - 60]


def _open_quote() -> bytes:
    return csv_bytes([base_row()]) + f'{codes(1)[0]},"unfinished name\n'.encode()


def _damaged_workbook() -> bytes:
    data = xlsx_bytes([base_row()])
    return data[: len(data) // 2]


MALFORMED: list[tuple[str, bytes, FileProblem, str]] = [
    ("empty", b"", FileProblem.EMPTY, "the file is empty"),
    (
        "gbk",
        csv_bytes([base_row()]).decode().encode("gbk"),
        FileProblem.ENCODING,
        "line 2 is not UTF-8",
    ),
    (
        "utf16",
        csv_bytes([base_row()]).decode().encode("utf-16"),
        FileProblem.ENCODING,
        "UTF-16",
    ),
    (
        "no header",
        b"\n".join(csv_bytes([base_row()]).splitlines()[1:]),
        FileProblem.HEADER,
        "the first row holds data, not column names",
    ),
    (
        "missing columns",
        b"unified_social_credit_code,name\n" + CODE.encode() + b",x\n",
        FileProblem.HEADER,
        "missing header columns: industry, region, founded_on, employee_count",
    ),
    (
        "semicolons",
        csv_bytes([base_row()], delimiter=";"),
        FileProblem.DELIMITER,
        "wrong delimiter? the header splits into columns on ';', not ','",
    ),
    (
        "cut off",
        _truncated(),
        FileProblem.TRUNCATED,
        "the last row (row 3) has",
    ),
    (
        "open quote",
        _open_quote(),
        FileProblem.TRUNCATED,
        "the file ends inside a quoted value opened on line 3",
    ),
    ("xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, FileProblem.FORMAT, ".xls"),
    ("damaged xlsx", _damaged_workbook(), FileProblem.TRUNCATED, "damaged or cut off"),
]


@pytest.mark.parametrize(
    ("data", "problem", "message"),
    [pytest.param(d, p, m, id=name) for name, d, p, m in MALFORMED],
)
async def test_a_malformed_file_fails_with_a_clear_message_and_writes_nothing(
    sessions: Sessions, data: bytes, problem: FileProblem, message: str
) -> None:
    # when
    with pytest.raises(MalformedFile) as raised:
        await run(sessions, data)

    # then
    assert raised.value.problem is problem
    assert raised.value.code == "MALFORMED_FILE"
    assert message in raised.value.message
    assert set((await counts(sessions)).values()) == {0}


# ------------------------------------------------------------------ failing batches


async def test_a_failing_batch_is_recorded_and_the_batches_around_it_stay(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the second of three batches meets a database error
    rows = [base_row(unified_social_credit_code=code) for code in codes(6)]
    real = repository.insert_statements
    calls = 0

    async def flaky(session: AsyncSession, statements: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OperationalError("INSERT INTO financial_statements", {}, Exception("disk I/O"))
        await real(session, statements)

    monkeypatch.setattr(repository, "insert_statements", flaky)

    # when
    report, results = await run(sessions, csv_bytes(rows), batch_size=2)

    # then
    assert report.status is ImportStatus.PARTIAL
    assert [(b.index, b.landed) for b in report.batches] == [(0, True), (1, False), (2, True)]
    assert [r.effect for r in results] == [
        RowEffect.CREATED,
        RowEffect.CREATED,
        RowEffect.FAILED,
        RowEffect.FAILED,
        RowEffect.CREATED,
        RowEffect.CREATED,
    ]
    assert await count(sessions, Enterprise) == 4
    assert await count(sessions, DataKey) == 4  # the failed batch's keys rolled back too
    async with sessions() as session:
        run_row = await session.get(ImportRun, report.run_id)
    assert run_row is not None
    assert run_row.status is ImportStatus.PARTIAL
    assert [b["status"] for b in run_row.batches] == ["landed", "failed", "landed"]
    assert "disk I/O" in (run_row.batches[1]["error"] or "")
    assert (run_row.batches_landed, run_row.batches_failed, run_row.failed) == (2, 1, 2)

    # and importing the same file again finishes the job
    monkeypatch.setattr(repository, "insert_statements", real)
    _, again = await run(sessions, csv_bytes(rows), batch_size=2)
    assert [r.effect for r in again] == [
        RowEffect.UNCHANGED,
        RowEffect.UNCHANGED,
        RowEffect.CREATED,
        RowEffect.CREATED,
        RowEffect.UNCHANGED,
        RowEffect.UNCHANGED,
    ]
    assert await count(sessions, Enterprise) == 6


async def test_the_run_records_who_imported_and_for_which_institution(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        bank = await f.institution(session)
        admin = await f.user(session)

    report, _ = await run(
        sessions, csv_bytes([base_row()]), actor_id=admin.id, institution_id=bank.id
    )

    async with sessions() as session:
        run_row = await session.get(ImportRun, report.run_id)
        started = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "import.started")
        )
    assert run_row is not None
    assert (run_row.actor_id, run_row.institution_id) == (admin.id, bank.id)
    assert started is not None
    assert started.actor_id == admin.id
    assert isinstance(run_row.started_at, datetime)
