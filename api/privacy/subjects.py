"""Data-subject requests (export, erasure) and the access log, for privacy officers."""

# No postponed annotations: Strawberry reads strawberry.Private from the evaluated annotation.

import uuid
from datetime import datetime
from typing import Annotated, Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.access import classified, mutation
from api.context import Context
from api.identity.types import InvalidInputError, User, UserError, person
from api.relay import Connection, connection, decode_after, decode_global_id, page_size
from domain.privacy import subjects as service
from domain.privacy.models import AccessLogEntry as AccessLogRow
from kernel.db import unit_of_work
from kernel.errors import Conflict, InvalidInput, NotFound
from kernel.pagination import Page

SUBJECT_TYPES = ("Enterprise", "User")
VIEWER_TYPES = ("User", "ServiceAccount")


def _gid(type_name: str, pk: uuid.UUID) -> strawberry.ID:
    return strawberry.ID(relay.to_base64(type_name, str(pk)))


# ------------------------------------------------------------------------ types


@classified(
    internal=[
        "id",
        "at",
        "viewer_id",
        "viewer",
        "viewer_kind",
        "institution_codes",
        "subject_id",
        "field",
        "purpose",
        "request_id",
    ]
)
@strawberry.type(description="One personal value revealed (not masked) to a viewer.")
class AccessLogEntry(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    at: datetime
    viewer_id: strawberry.ID | None = strawberry.field(
        description="The User (or ServiceAccount) that saw the value: a ServiceAccount is "
        "no User, so the id stays beside the viewer relation."
    )
    viewer_pk: strawberry.Private[uuid.UUID | None]
    viewer_kind: str = strawberry.field(description="user or service.")
    institution_codes: list[str] = strawberry.field(
        description="The institutions the viewer worked for at the time."
    )
    subject_id: strawberry.ID = strawberry.field(
        description="The Enterprise or User whose value it was."
    )
    field: str = strawberry.field(
        description="Type.field revealed, e.g. Enterprise.contactPhone (Enterprise.*: export)."
    )
    purpose: str
    request_id: str | None = strawberry.field(
        description="The request's id, as in the logs and X-Request-ID: an external reference."
    )

    @strawberry.field(
        description="The User that saw the value; null for a ServiceAccount, or if you may "
        "not see them."
    )
    async def viewer(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.viewer_pk)

    @classmethod
    def from_row(cls, row: AccessLogRow) -> Self:
        subject_type = row.object.split(".", 1)[0]
        viewer_type = "ServiceAccount" if row.viewer_kind == "service" else "User"
        return cls(
            pk=row.id,
            at=row.at,
            viewer_id=_gid(viewer_type, row.viewer_id) if row.viewer_id else None,
            viewer_pk=None if row.viewer_kind == "service" else row.viewer_id,
            viewer_kind=row.viewer_kind,
            institution_codes=[c for c in row.institution_codes.split(",") if c],
            subject_id=_gid(subject_type, row.subject_id),
            field=row.object,
            purpose=row.purpose,
            request_id=row.request_id,
        )


@classified(internal=["subject_id", "exported_at"], sensitive=["data"])
@strawberry.type(description="A copy of everything held about a subject.")
class SubjectExport:
    subject_id: strawberry.ID
    exported_at: datetime
    data: JSON = strawberry.field(
        description="The document: profile (decrypted), statements, applications, "
        "loans, consents and access log."
    )


@classified(internal=["id", "subject_id", "erased_at", "removed", "kept"])
@strawberry.type(description="What an erasure removed, and what the lender keeps.")
class ErasureReceipt:
    id: strawberry.ID = strawberry.field(
        description="The audit entry recording the erasure: an external reference (the audit "
        "log's own key, a UUID), not a node."
    )
    subject_id: strawberry.ID
    erased_at: datetime
    removed: list[str] = strawberry.field(description="Columns emptied, as table.column.")
    kept: list[str] = strawberry.field(
        description="Records kept (legal retention), as table: count."
    )

    @classmethod
    def from_receipt(cls, receipt: service.ErasureReceipt) -> Self:
        return cls(
            id=strawberry.ID(str(receipt.id)),
            subject_id=_gid("Enterprise", receipt.subject_id),
            erased_at=receipt.erased_at,
            removed=list(receipt.removed),
            kept=[f"{table}: {n}" for table, n in receipt.kept.items()],
        )


@classified(public=["message", "code"])
@strawberry.type(
    description="The subject cannot be erased now: ERASURE_REFUSED (the lender must keep "
    "it, e.g. an active loan) or CONFLICT (already erased)."
)
class ErasureRefused(UserError):
    pass


ExportSubjectDataResult = Annotated[
    SubjectExport | InvalidInputError, strawberry.union("ExportSubjectDataResult")
]
EraseSubjectResult = Annotated[
    ErasureReceipt | ErasureRefused | InvalidInputError, strawberry.union("EraseSubjectResult")
]


# ----------------------------------------------------------------------- inputs


@strawberry.input
class AccessLogFilter:
    subject_id: strawberry.ID | None = strawberry.field(
        default=None, description="An Enterprise or User id."
    )
    viewer_id: strawberry.ID | None = strawberry.field(
        default=None, description="A User (or ServiceAccount) id."
    )
    since: datetime | None = strawberry.field(default=None, description="Inclusive.")
    until: datetime | None = strawberry.field(default=None, description="Exclusive.")


@strawberry.input
class ExportSubjectDataInput:
    subject_id: strawberry.ID = strawberry.field(description="An Enterprise id.")


@strawberry.input
class EraseSubjectInput:
    subject_id: strawberry.ID = strawberry.field(description="An Enterprise id.")
    reason: str = strawberry.field(description="Why (at least 10 characters); audited.")


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(f"{name}: give a time zone offset (e.g. 2026-11-01T09:00:00Z)")
    return value


# ---------------------------------------------------------------------- queries


@classified(public=["access_log"])
@strawberry.type
class SubjectsQueries:
    @strawberry.field(
        description="Personal values revealed, newest first. Platform roles only: "
        "anyone else gets an empty page."
    )
    async def access_log(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: AccessLogFilter | None = None,
    ) -> Connection[AccessLogEntry]:
        ctx = info.context
        size = page_size(first, ctx.settings.page_size_max)
        after_key = decode_after(service.NEWEST, after)
        flt = filter or AccessLogFilter()
        subject_id = (
            decode_global_id(flt.subject_id, expected=SUBJECT_TYPES)[1]
            if flt.subject_id is not None
            else None
        )
        viewer_id = (
            decode_global_id(flt.viewer_id, expected=VIEWER_TYPES)[1]
            if flt.viewer_id is not None
            else None
        )
        since, until = _aware(flt.since, "since"), _aware(flt.until, "until")
        if not ctx.viewer.sees_all_tenants:
            # The log says who looked at whom across every institution: not theirs to read.
            async def nothing() -> int:
                return 0

            empty: Page[AccessLogRow] = Page(rows=[], has_next=False)
            return connection(
                empty,
                keyset=service.NEWEST,
                to_node=AccessLogEntry.from_row,
                count=nothing,
                after=after,
            )
        async with ctx.sessions() as session:
            page = await service.access_log(
                session,
                subject_id=subject_id,
                viewer_id=viewer_id,
                since=since,
                until=until,
                first=size,
                after=after_key,
            )

        async def count() -> int:
            async with ctx.sessions() as session:
                return await service.count_access_log(
                    session, subject_id=subject_id, viewer_id=viewer_id, since=since, until=until
                )

        return connection(
            page,
            keyset=service.NEWEST,
            to_node=AccessLogEntry.from_row,
            count=count,
            after=after,
        )


# -------------------------------------------------------------------- mutations


@strawberry.type
class SubjectsMutations:
    @mutation(
        "exportSubjectData",
        description="A copy of everything held about an enterprise (a data-subject "
        "request); logged as an access and audited.",
    )
    async def export_subject_data(
        self, info: strawberry.Info[Context, None], input: ExportSubjectDataInput
    ) -> ExportSubjectDataResult:
        ctx = info.context
        try:
            _, subject_id = decode_global_id(
                input.subject_id, expected="Enterprise", field="subjectId"
            )
            async with unit_of_work(ctx.sessions) as session:
                document = await service.export_subject(session, ctx.keys, subject_id=subject_id)
                service.record_export(
                    session,
                    viewer=ctx.viewer,
                    subject_id=subject_id,
                    request_id=ctx.request_id,
                )
        except (InvalidInput, NotFound) as exc:
            return InvalidInputError.of(exc, field="subjectId")
        return SubjectExport(
            subject_id=input.subject_id,
            exported_at=datetime.fromisoformat(document["exportedAt"]),
            data=cast(JSON, document),
        )

    @mutation(
        "eraseSubject",
        description="Erase an enterprise's personal data (crypto-shredding); what the "
        "lender must keep stays. Refused while it has an active loan.",
    )
    async def erase_subject(
        self, info: strawberry.Info[Context, None], input: EraseSubjectInput
    ) -> EraseSubjectResult:
        ctx = info.context
        try:
            _, subject_id = decode_global_id(
                input.subject_id, expected="Enterprise", field="subjectId"
            )
            async with unit_of_work(ctx.sessions) as session:
                receipt = await service.erase_subject(
                    session,
                    ctx.keys,
                    viewer=ctx.viewer,
                    subject_id=subject_id,
                    reason=input.reason,
                    request_id=ctx.request_id,
                )
        except Conflict as exc:  # ERASURE_REFUSED, or CONFLICT when already erased
            return ErasureRefused(message=exc.message, code=exc.code)
        except InvalidInput as exc:
            return InvalidInputError.of(exc)
        except NotFound as exc:
            return InvalidInputError.of(exc, field="subjectId")
        return ErasureReceipt.from_receipt(receipt)
