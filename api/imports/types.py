"""Bulk import runs over GraphQL: the run, its batches, and the rows worth a look."""

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Self
from weakref import WeakKeyDictionary

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from api.access import classified
from api.context import Context
from api.identity.types import UserError
from domain.imports import repository as repo
from domain.imports.cleaning import Outcome
from domain.imports.errors import FileProblem
from domain.imports.models import ImportRowResult as RowResultRow
from domain.imports.models import ImportRun as ImportRunRow
from domain.imports.models import ImportStatus, RowEffect

ImportStatusGQL = strawberry.enum(ImportStatus, name="ImportStatus")
ImportOutcomeGQL = strawberry.enum(Outcome, name="ImportOutcome")
ImportRowEffectGQL = strawberry.enum(RowEffect, name="ImportRowEffect")
ImportFileProblemGQL = strawberry.enum(FileProblem, name="ImportFileProblem")

DEFAULT_ROW_RESULTS = 50
MAX_ROW_RESULTS = 500


@classified(internal=["outcome", "text"])
@strawberry.type(description="One cleaning rule that touched a row: what it did, and why.")
class ImportNote:
    outcome: Outcome
    text: str = strawberry.field(
        description="Led by the rule's code, e.g. [F1]; names fields, never a personal value."
    )


@classified(internal=["row", "unified_social_credit_code", "outcome", "effect", "notes"])
@strawberry.type(description="A row that was fixed, flagged, rejected, or lost with its batch.")
class ImportRowResult:
    row: int = strawberry.field(description="The file's row (CSV line, sheet row); header: 1.")
    unified_social_credit_code: str
    outcome: Outcome
    effect: RowEffect
    notes: list[ImportNote]

    @classmethod
    def from_row(cls, row: RowResultRow) -> Self:
        return cls(
            row=row.row_number,
            unified_social_credit_code=row.unified_social_credit_code,
            outcome=row.outcome,
            effect=row.effect,
            notes=[ImportNote(outcome=Outcome(n["outcome"]), text=n["text"]) for n in row.notes],
        )


@classified(internal=["index", "first_row", "last_row", "rows", "landed", "error"])
@strawberry.type(description="One batch of rows, written in one transaction (or not at all).")
class ImportBatch:
    index: int
    first_row: int
    last_row: int
    rows: int
    landed: bool
    error: str | None


_RowKey = tuple[uuid.UUID, int]
# One loader per request: the context is the request's, and is dropped with it.
_row_loaders: "WeakKeyDictionary[Context, DataLoader[_RowKey, list[RowResultRow]]]" = (
    WeakKeyDictionary()
)


def row_results_loader(ctx: Context) -> DataLoader[_RowKey, list[RowResultRow]]:
    """The first N stored row results of each run, for a page of runs in one query per N."""
    loader = _row_loaders.get(ctx)
    if loader is None:

        async def load(keys: list[_RowKey]) -> list[list[RowResultRow]]:
            by_limit: dict[int, list[uuid.UUID]] = defaultdict(list)
            for run_id, limit in keys:
                by_limit[limit].append(run_id)
            found: dict[_RowKey, list[RowResultRow]] = defaultdict(list)
            async with ctx.sessions() as session:
                for limit, run_ids in by_limit.items():
                    rows = await repo.row_results_of_runs(session, run_ids=run_ids, limit=limit)
                    for row in rows:
                        found[(row.run_id, limit)].append(row)
            return [found[key] for key in keys]

        loader = _row_loaders[ctx] = DataLoader(load_fn=load)
    return loader


@classified(
    public=["id"],
    internal=[
        "source_name",
        "format",
        "status",
        "started_at",
        "finished_at",
        "rows_total",
        "accepted",
        "fixed",
        "flagged",
        "rejected",
        "created",
        "updated",
        "unchanged",
        "failed",
        "batches_landed",
        "batches_failed",
        "batches",
        "ignored_columns",
        "error",
        "row_results_truncated",
        "row_results",
    ],
)
@strawberry.type(
    description="One bulk import of enterprises and their statements. Row counts are by "
    "cleaning outcome (accepted, fixed, flagged, rejected) and by what the row did "
    "(created, updated, unchanged, failed: lost with its batch)."
)
class ImportRun(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    source_name: str
    format: str = strawberry.field(description="csv or xlsx.")
    status: ImportStatus
    started_at: datetime
    finished_at: datetime | None
    rows_total: int
    accepted: int
    fixed: int
    flagged: int
    rejected: int
    created: int
    updated: int
    unchanged: int
    failed: int
    batches_landed: int
    batches_failed: int
    batches: list[ImportBatch]
    ignored_columns: list[str] = strawberry.field(
        description="Header columns that are not ours, and were not read."
    )
    error: str | None
    row_results_truncated: bool = strawberry.field(
        description="More rows were worth a look than are stored (the CLI's report has all)."
    )

    @strawberry.field(
        description="The rows that are not plainly accepted, in file order (first: up to 500)."
    )
    async def row_results(
        self, info: strawberry.Info[Context, None], first: int = DEFAULT_ROW_RESULTS
    ) -> list[ImportRowResult]:
        limit = max(1, min(first, MAX_ROW_RESULTS))
        rows = await row_results_loader(info.context).load((self.pk, limit))
        return [ImportRowResult.from_row(r) for r in rows]

    @classmethod
    def from_row(cls, row: ImportRunRow) -> Self:
        return cls(
            pk=row.id,
            source_name=row.source_name,
            format=row.format,
            status=row.status,
            started_at=row.started_at,
            finished_at=row.finished_at,
            rows_total=row.rows_total,
            accepted=row.accepted,
            fixed=row.fixed,
            flagged=row.flagged,
            rejected=row.rejected,
            created=row.created,
            updated=row.updated,
            unchanged=row.unchanged,
            failed=row.failed,
            batches_landed=row.batches_landed,
            batches_failed=row.batches_failed,
            batches=[_batch(b) for b in row.batches],
            ignored_columns=list(row.ignored_columns),
            error=row.error,
            row_results_truncated=row.row_results_truncated,
        )


def _batch(data: dict[str, object]) -> ImportBatch:
    return ImportBatch(
        index=int(str(data["index"])),
        first_row=int(str(data["first_row"])),
        last_row=int(str(data["last_row"])),
        rows=int(str(data["rows"])),
        landed=data["status"] == "landed",
        error=None if data.get("error") is None else str(data["error"]),
    )


@classified(public=["message", "code", "problem"])
@strawberry.type(description="The file is not a readable table; nothing was imported.")
class MalformedImportFile(UserError):
    problem: FileProblem
