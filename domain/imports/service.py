"""Importing enterprises and their statements in bulk: check, clean, merge, write.

The pipeline: the file is checked whole first (a malformed file raises
:class:`MalformedFile` and nothing, not even a run, is written); a run is recorded;
then the rows are read ``batch_size`` at a time, cleaned (``cleaning``), merged by
credit code and written, each batch in its own transaction, which also records the
batch in the run. A failing batch is rolled back and recorded as failed; the batches
before it stay, the ones after it are still tried. This pipeline commits per batch
by design (DESIGN: services never commit, except such a pipeline).

Rows of a credit code that appears again later in the file are held (in memory,
only those) until its last row is read, so an enterprise is written once, whole,
in the batch of its last row: the order of batches cannot change the outcome.

Idempotent: an enterprise whose credit code is stored is compared with the file and
updated only where a value differs (a blank cell keeps what is stored); a statement
is keyed by (enterprise, fiscal year) and written only if a figure differs. So the
same file imported again writes nothing but the run's own record, and every row
reports ``unchanged``. Personal values are compared after opening the stored ones
with the enterprise's data key, and sealed under it (a new enterprise gets a new
key), as any other write of personal data is.

Rules that need the database (the others are in ``cleaning``):
- [E1] the enterprise was erased at its data subject's request (its data key is
  shredded): its personal values are not imported again; flagged.
- [E2] employee_count missing for an existing enterprise: its stored count is kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, BinaryIO

from sqlalchemy import Row
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.audit.service import record
from domain.enterprises.service import ID_NUMBER_INDEX, Statement
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.imports import repository as repo
from domain.imports.cleaning import (
    PERSONAL_COLUMNS,
    CleanRow,
    Group,
    Note,
    Outcome,
    clean_row,
    merge,
    rejected_row,
)
from domain.imports.models import ImportRun, ImportStatus, RowEffect
from domain.imports.reader import FileCheck, FileFormat, RawRow, TableFile
from kernel.base import new_id, utcnow
from kernel.db import unit_of_work
from kernel.errors import Forbidden, InvalidInput
from privacy import keystore, vault
from privacy.keys import KeyProvider
from privacy.vault import SealBroken

KIND = "enterprises"
DEFAULT_BATCH_SIZE = 1000
# Row results kept in the database per run (the CLI's report file holds them all).
MAX_STORED_ROWS = 10_000
_PROFILE_COLUMNS = ("name", "industry", "region", "founded_on", "employee_count", "annual_revenue")
_FIGURES = tuple(f.name for f in dataclasses.fields(Statement))
TABLE = "enterprises"

# (rows done, rows in the file), awaited after the file's check and after each batch.
Progress = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RowResult:
    number: int
    code: str
    outcome: Outcome
    effect: RowEffect
    notes: tuple[Note, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.number,
            "unified_social_credit_code": self.code,
            "outcome": self.outcome.value,
            "effect": self.effect.value,
            "notes": [{"outcome": n.outcome.value, "text": n.text} for n in self.notes],
        }


@dataclass(frozen=True, slots=True)
class BatchRecord:
    index: int
    first_row: int
    last_row: int
    rows: int
    landed: bool
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "first_row": self.first_row,
            "last_row": self.last_row,
            "rows": self.rows,
            "status": "landed" if self.landed else "failed",
            "error": self.error,
        }


@dataclass(slots=True)
class ImportReport:
    """What an import did: counts of rows by outcome and by effect, and each batch."""

    run_id: uuid.UUID
    source_name: str
    format: FileFormat
    rows_total: int
    ignored_columns: tuple[str, ...]
    status: ImportStatus = ImportStatus.RUNNING
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    effects: Counter[RowEffect] = field(default_factory=Counter)
    batches: list[BatchRecord] = field(default_factory=list)
    stored_rows: int = 0
    truncated: bool = False

    @property
    def batches_landed(self) -> int:
        return sum(b.landed for b in self.batches)

    @property
    def batches_failed(self) -> int:
        return sum(not b.landed for b in self.batches)

    def run_values(self) -> dict[str, Any]:
        """The run's columns as this report has them."""
        return {
            "status": self.status,
            "rows_total": self.rows_total,
            **{outcome.value: self.outcomes[outcome] for outcome in Outcome},
            **{
                effect.value: self.effects[effect]
                for effect in RowEffect
                if effect is not RowEffect.NONE
            },
            "batches_landed": self.batches_landed,
            "batches_failed": self.batches_failed,
            "batches": [b.to_dict() for b in self.batches],
            "row_results_truncated": self.truncated,
        }

    def copy(self) -> ImportReport:
        return dataclasses.replace(
            self,
            outcomes=Counter(self.outcomes),
            effects=Counter(self.effects),
            batches=list(self.batches),
        )


# ------------------------------------------------------------------ who imports


IMPORTERS = frozenset({Role.INSTITUTION_ADMIN})


def importing_institution(viewer: Viewer, requested: uuid.UUID | None) -> uuid.UUID:
    """The institution an upload is made for: the one asked, or the only one the viewer
    administers."""
    administered = sorted(
        (i for i, roles in viewer.institution_roles.items() if roles & IMPORTERS), key=str
    )
    if requested is not None:
        if requested not in administered:
            raise Forbidden("only the institution's admins import on its behalf")
        return requested
    if len(administered) == 1:
        return administered[0]
    if not administered:
        raise Forbidden("only institution admins import enterprises")
    raise InvalidInput(
        "institutionId: you administer several institutions; name one", field="institutionId"
    )


# ------------------------------------------------------------------ writing a batch


@dataclass(slots=True)
class _Plan:
    """A batch's writes, set-wise."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    new_enterprises: list[dict[str, Any]] = field(default_factory=list)
    changed_enterprises: list[dict[str, Any]] = field(default_factory=list)
    new_statements: list[dict[str, Any]] = field(default_factory=list)
    changed_statements: list[dict[str, Any]] = field(default_factory=list)
    effects: dict[str, RowEffect] = field(default_factory=dict)


def _figures(statement: Statement) -> dict[str, Any]:
    return {name: getattr(statement, name) for name in _FIGURES}


def _seal(
    key: bytes, enterprise_id: uuid.UUID, values: Mapping[str, str | None]
) -> dict[str, str | None]:
    return {
        column: vault.seal(key, value, table=TABLE, column=column, row_id=enterprise_id)
        if value
        else None
        for column, value in values.items()
    }


def _open(key: bytes, row: Row[Any], column: str) -> str | None:
    sealed = getattr(row, column)
    if not sealed:
        return None
    try:
        return vault.unseal(key, sealed, table=TABLE, column=column, row_id=row.id)
    except SealBroken:
        return None  # unreadable: whatever the file says replaces it


class _Writer:
    def __init__(self, keys: KeyProvider, now: datetime) -> None:
        self.keys = keys
        self.now = now

    def _personal(self, group: Group) -> dict[str, str | None]:
        return {c: getattr(group.profile, c) for c in PERSONAL_COLUMNS}

    def _bidx(self, id_number: str | None) -> str | None:
        return (
            vault.blind_index(self.keys, id_number, column=ID_NUMBER_INDEX) if id_number else None
        )

    def create(self, plan: _Plan, group: Group) -> None:
        profile = group.profile
        enterprise_id = new_id()
        personal = self._personal(group)
        row: dict[str, Any] = {
            "id": enterprise_id,
            "owner_id": None,
            "created_at": self.now,
            "updated_at": self.now,
            "unified_social_credit_code": group.code,
            "name": profile.name,
            "industry": profile.industry,
            "region": profile.region,
            "founded_on": profile.founded_on,
            "employee_count": profile.employee_count or 0,
            "annual_revenue": profile.annual_revenue,
            "legal_representative_id_bidx": self._bidx(personal["legal_representative_id_number"]),
        }
        key_rows, plain = keystore.new_key_rows(self.keys, [(enterprise_id, "enterprise")])
        plan.keys.extend(key_rows)
        row.update(_seal(plain[enterprise_id], enterprise_id, personal))
        plan.new_enterprises.append(row)
        for statement in group.statements.values():
            plan.new_statements.append(self._statement_row(enterprise_id, statement))
        plan.effects[group.code] = RowEffect.CREATED

    def _statement_row(self, enterprise_id: uuid.UUID, statement: Statement) -> dict[str, Any]:
        return {
            "id": new_id(),
            "enterprise_id": enterprise_id,
            "created_at": self.now,
            "updated_at": self.now,
            **_figures(statement),
        }

    def update(
        self,
        plan: _Plan,
        group: Group,
        stored: Row[Any],
        key_row: Row[Any] | None,
        stored_statements: dict[int, Row[Any]],
    ) -> None:
        profile = group.profile
        changes: dict[str, Any] = {}
        for column in _PROFILE_COLUMNS:
            given = getattr(profile, column)
            if given is not None and given != getattr(stored, column):
                changes[column] = given
        personal = {c: v for c, v in self._personal(group).items() if v is not None}
        if personal:
            self._personal_changes(plan, group, stored, key_row, personal, changes)
        if changes:
            full = {c: getattr(stored, c) for c in (*_PROFILE_COLUMNS, *PERSONAL_COLUMNS)}
            full["legal_representative_id_bidx"] = stored.legal_representative_id_bidx
            plan.changed_enterprises.append(
                {"id": stored.id, **full, **changes, "updated_at": self.now}
            )
        restated = False
        for year, statement in group.statements.items():
            found = stored_statements.get(year)
            if found is None:
                plan.new_statements.append(self._statement_row(stored.id, statement))
                restated = True
            elif any(getattr(found, n) != v for n, v in _figures(statement).items()):
                # A restatement moves updated_at: the risk scan looks for it by this.
                plan.changed_statements.append(
                    {"id": found.id, **_figures(statement), "updated_at": self.now}
                )
                restated = True
        plan.effects[group.code] = RowEffect.UPDATED if changes or restated else RowEffect.UNCHANGED

    def _personal_changes(
        self,
        plan: _Plan,
        group: Group,
        stored: Row[Any],
        key_row: Row[Any] | None,
        personal: dict[str, str],
        changes: dict[str, Any],
    ) -> None:
        if key_row is not None and key_row.shredded_at is not None:
            group.last.note(
                Outcome.FLAGGED,
                "[E1] the enterprise was erased at its data subject's request; its personal "
                "values are not imported again",
            )
            return
        if key_row is None or key_row.wrapped is None:
            # Never given a key (written before keys existed): one is made now.
            key_rows, plain = keystore.new_key_rows(self.keys, [(stored.id, "enterprise")])
            plan.keys.extend(key_rows)
            key = plain[stored.id]
            opened: dict[str, str | None] = dict.fromkeys(PERSONAL_COLUMNS)
        else:
            key = vault.unwrap(self.keys, key_row.kid, key_row.wrapped, subject_id=stored.id)
            opened = {c: _open(key, stored, c) for c in PERSONAL_COLUMNS}
        differing = {c: v for c, v in personal.items() if opened[c] != v}
        if not differing:
            return
        changes.update(_seal(key, stored.id, differing))
        if "legal_representative_id_number" in differing:
            changes["legal_representative_id_bidx"] = self._bidx(
                differing["legal_representative_id_number"]
            )


async def _write_batch(
    session: AsyncSession, keys: KeyProvider, groups: Sequence[Group], now: datetime
) -> _Plan:
    plan = _Plan()
    if not groups:
        return plan
    stored = {
        r.unified_social_credit_code: r
        for r in await repo.enterprises_by_codes(session, [g.code for g in groups])
    }
    ids = [r.id for r in stored.values()]
    key_rows = {r.subject_id: r for r in await repo.data_keys_of(session, ids)} if ids else {}
    by_enterprise: dict[uuid.UUID, dict[int, Row[Any]]] = {}
    if ids:
        for s in await repo.statements_of(session, ids):
            by_enterprise.setdefault(s.enterprise_id, {})[s.fiscal_year] = s
    writer = _Writer(keys, now)
    for group in groups:
        found = stored.get(group.code)
        if found is None:
            writer.create(plan, group)
        else:
            writer.update(
                plan, group, found, key_rows.get(found.id), by_enterprise.get(found.id, {})
            )
    await repo.insert_data_keys(session, plan.keys)
    await repo.insert_enterprises(session, plan.new_enterprises)
    await repo.update_enterprises(session, plan.changed_enterprises)
    await repo.insert_statements(session, plan.new_statements)
    await repo.update_statements(session, plan.changed_statements)
    return plan


# ------------------------------------------------------------------ the pipeline


def _results(
    rows: Iterable[CleanRow], effects: dict[str, RowEffect], *, landed: bool
) -> list[RowResult]:
    results = []
    for row in rows:
        if row.outcome is Outcome.REJECTED:
            effect = RowEffect.NONE
        elif not landed:
            effect = RowEffect.FAILED
        else:
            effect = effects.get(row.code, RowEffect.NONE)
        results.append(RowResult(row.number, row.code, row.outcome, effect, tuple(row.notes)))
    return sorted(results, key=lambda r: r.number)


def _stored_rows(report: ImportReport, results: Sequence[RowResult]) -> list[dict[str, Any]]:
    """Rows worth a look (not plainly accepted, or lost with their batch), up to the cap."""
    notable = [
        r for r in results if r.outcome is not Outcome.ACCEPTED or r.effect is RowEffect.FAILED
    ]
    room = MAX_STORED_ROWS - report.stored_rows
    if len(notable) > room:
        report.truncated = True
        notable = notable[: max(room, 0)]
    report.stored_rows += len(notable)
    return [
        {
            "id": new_id(),
            "run_id": report.run_id,
            "row_number": r.number,
            "unified_social_credit_code": r.code[:32],
            "outcome": r.outcome,
            "effect": r.effect,
            "notes": [{"outcome": n.outcome.value, "text": n.text} for n in r.notes],
        }
        for r in notable
    ]


def _tally(report: ImportReport, results: Sequence[RowResult], batch: BatchRecord) -> None:
    report.outcomes.update(r.outcome for r in results)
    report.effects.update(r.effect for r in results if r.effect is not RowEffect.NONE)
    report.batches.append(batch)


async def import_enterprises(
    sessions: async_sessionmaker[AsyncSession],
    stream: BinaryIO,
    *,
    name: str,
    keys: KeyProvider,
    delimiter: str = ",",
    batch_size: int = DEFAULT_BATCH_SIZE,
    actor_id: uuid.UUID | None = None,
    institution_id: uuid.UUID | None = None,
    request_id: str | None = None,
    today: date | None = None,
    progress: Progress | None = None,
    on_row: Callable[[RowResult], None] | None = None,
    run_id: uuid.UUID | None = None,
) -> ImportReport:
    """Import a CSV or XLSX file of enterprises (and statements) from a seekable stream.

    Raises MalformedFile, having written nothing, when the file is not a usable table.
    ``run_id``: the run's id, when the caller named it before (a job, so its run can be
    found while it runs).
    """
    if batch_size < 1:
        raise InvalidInput("batch size must be at least 1")
    with TableFile(stream, name=name, delimiter=delimiter) as table:
        # A pass over the whole file: in a thread, so a server's other requests go on.
        check = await asyncio.to_thread(table.check)
        report = await _start(
            sessions, table, check, actor_id, institution_id, request_id, run_id or new_id()
        )
        if progress is not None:
            await progress(0, check.rows)
        await _import_rows(
            sessions,
            table,
            check,
            report,
            keys=keys,
            batch_size=batch_size,
            actor_id=actor_id,
            request_id=request_id,
            day=today or utcnow().date(),
            progress=progress,
            on_row=on_row,
        )
    return report


async def _import_rows(
    sessions: async_sessionmaker[AsyncSession],
    table: TableFile,
    check: FileCheck,
    report: ImportReport,
    *,
    keys: KeyProvider,
    batch_size: int,
    actor_id: uuid.UUID | None,
    request_id: str | None,
    day: date,
    progress: Progress | None,
    on_row: Callable[[RowResult], None] | None,
) -> None:
    batches = table.batches(batch_size)

    def prepare() -> tuple[list[RawRow], list[CleanRow]] | None:
        batch = next(batches, None)
        if batch is None:
            return None
        return batch, [
            rejected_row(raw.number, raw.values, raw.problem)
            if raw.problem
            else clean_row(raw.number, raw.values, today=day)
            for raw in batch
        ]

    # The next batch is read and cleaned in a thread while this one is written: the
    # database's share of the work (its own process, or SQLite's C code) runs meanwhile.
    upcoming = asyncio.ensure_future(asyncio.to_thread(prepare))
    done = 0
    pending: dict[str, list[CleanRow]] = {}
    try:
        index = 0
        while (prepared := await upcoming) is not None:
            upcoming = asyncio.ensure_future(asyncio.to_thread(prepare))
            batch, cleaned = prepared
            ready: list[list[CleanRow]] = []
            for row in cleaned:
                last = check.last_row_of.get(row.code)
                if last is not None and row.number < last:
                    pending.setdefault(row.code, []).append(row)
                else:
                    ready.append([*pending.pop(row.code, []), row])
            record_ = BatchRecord(index, batch[0].number, batch[-1].number, len(batch), True)
            results = await _land(sessions, keys, report, ready, record_, actor_id, request_id)
            if on_row is not None:
                for result in results:
                    on_row(result)
            done += len(batch)
            index += 1
            if progress is not None:
                await progress(done, check.rows)
        if pending:  # cannot happen when the file did not change between the passes
            raise RuntimeError("the file changed while it was imported")
    except Exception as exc:
        # The reading thread must be done with the file before the caller closes it.
        await asyncio.gather(upcoming, return_exceptions=True)
        report.status = ImportStatus.FAILED
        await _finish(sessions, report, error=f"{type(exc).__name__}: {exc}"[:1000])
        raise
    if report.batches_failed == 0:
        report.status = ImportStatus.COMPLETED
    elif report.batches_landed:
        report.status = ImportStatus.PARTIAL
    else:
        report.status = ImportStatus.FAILED
    await _finish(sessions, report, error=None)


async def _start(
    sessions: async_sessionmaker[AsyncSession],
    table: TableFile,
    check: FileCheck,
    actor_id: uuid.UUID | None,
    institution_id: uuid.UUID | None,
    request_id: str | None,
    run_id: uuid.UUID,
) -> ImportReport:
    report = ImportReport(
        run_id=run_id,
        source_name=table.name[:255],
        format=table.format,
        rows_total=check.rows,
        ignored_columns=check.ignored,
    )
    async with unit_of_work(sessions) as session:
        session.add(
            ImportRun(
                id=report.run_id,
                kind=KIND,
                source_name=report.source_name,
                format=table.format.value,
                status=ImportStatus.RUNNING,
                started_at=utcnow(),
                actor_id=actor_id,
                institution_id=institution_id,
                ignored_columns=list(check.ignored),
                **{k: v for k, v in report.run_values().items() if k != "status"},
            )
        )
        record(
            session,
            action="import.started",
            entity_type="import_run",
            entity_id=report.run_id,
            actor_id=actor_id,
            request_id=request_id,
            kind=KIND,
            source=report.source_name,
            rows=check.rows,
        )
    return report


async def _land(
    sessions: async_sessionmaker[AsyncSession],
    keys: KeyProvider,
    report: ImportReport,
    ready: list[list[CleanRow]],
    batch: BatchRecord,
    actor_id: uuid.UUID | None,
    request_id: str | None,
) -> list[RowResult]:
    """Write one batch in one transaction, with its record in the run; or record it failed."""
    groups = [g for rows in ready if (g := merge(rows)) is not None]
    rows = [row for rows in ready for row in rows]
    landed = report.copy()
    try:
        async with unit_of_work(sessions) as session:
            plan = await _write_batch(session, keys, groups, utcnow())
            results = _results(rows, plan.effects, landed=True)
            _tally(landed, results, batch)
            await repo.insert_row_results(session, _stored_rows(landed, results))
            await repo.update_run(session, report.run_id, landed.run_values())
            written = {
                "enterprises_created": len(plan.new_enterprises),
                "enterprises_updated": len(plan.changed_enterprises),
                "statements_written": len(plan.new_statements) + len(plan.changed_statements),
            }
            if any(written.values()):  # a batch that changed nothing leaves no trace
                record(
                    session,
                    action="import.batch_landed",
                    entity_type="import_run",
                    entity_id=report.run_id,
                    actor_id=actor_id,
                    request_id=request_id,
                    batch=batch.index,
                    **written,
                )
    except SQLAlchemyError as exc:
        failed = dataclasses.replace(batch, landed=False, error=_brief(exc))
        results = _results(rows, {}, landed=False)
        _tally(report, results, failed)
        async with unit_of_work(sessions) as session:
            await repo.insert_row_results(session, _stored_rows(report, results))
            await repo.update_run(session, report.run_id, report.run_values())
        return results
    _adopt(report, landed)
    return results


def _adopt(report: ImportReport, landed: ImportReport) -> None:
    report.outcomes, report.effects, report.batches = (
        landed.outcomes,
        landed.effects,
        landed.batches,
    )
    report.stored_rows, report.truncated = landed.stored_rows, landed.truncated


def _brief(exc: SQLAlchemyError) -> str:
    """The database's own words, without the statement and its parameters (which may
    hold sealed values and would swell the record)."""
    original = getattr(exc, "orig", None)
    return f"{type(exc).__name__}: {original or exc}".splitlines()[0][:500]


async def _finish(
    sessions: async_sessionmaker[AsyncSession], report: ImportReport, *, error: str | None
) -> None:
    async with unit_of_work(sessions) as session:
        await repo.update_run(
            session,
            report.run_id,
            {**report.run_values(), "finished_at": utcnow(), "error": error},
        )
