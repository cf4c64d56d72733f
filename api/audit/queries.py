"""auditLog and auditIntegrity: what happened, and whether the record of it still holds."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.access import classified
from api.audit.types import AuditIntegrity, AuditLogEntry
from api.context import Context
from api.relay import Connection, ListingRequest, decode_pk, listed_for
from domain.audit import integrity
from domain.audit import repository as repo
from domain.audit.chain import SealKey
from kernel.errors import InvalidInput


@strawberry.input
class AuditLogFilter:
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = strawberry.field(
        default=None, description="The entity's key as the log keeps it: an external reference."
    )
    actor_id: strawberry.ID | None = strawberry.field(default=None, description="A User id.")
    since: datetime | None = strawberry.field(default=None, description="Inclusive.")
    until: datetime | None = strawberry.field(default=None, description="Exclusive.")

    def read(self) -> repo.AuditLogFilter:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise InvalidInput(f"{name}: give a time zone offset (e.g. 2026-11-01T09:00:00Z)")
        return repo.AuditLogFilter(
            action=self.action,
            entity_type=self.entity_type,
            entity_id=self.entity_id,
            actor_id=decode_pk(self.actor_id, "User", field="actorId"),
            since=self.since,
            until=self.until,
        )


@classified(public=["audit_log", "audit_integrity"])
@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="What happened, newest first. Platform roles only (auditors, privacy "
        "officers, ...): anyone else gets an empty page."
    )
    async def audit_log(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: AuditLogFilter | None = None,
    ) -> Connection[AuditLogEntry]:
        ctx = info.context
        request = ListingRequest.read(
            ctx.settings,
            keyset=repo.NEWEST,
            flt=(filter or AuditLogFilter()).read(),
            first=first,
            after=after,
        )
        return await listed_for(
            ctx.sessions,
            ctx.viewer,
            request,
            repo.audit_log,
            repo.count_audit_log,
            AuditLogEntry.from_row,
        )

    @strawberry.field(
        description="Every chain checked now: the audit and access logs' seals and "
        "signatures, their checkpoints, the consent ledger. With deep: true every sealed "
        "row is read and digested again (its cost grows with the logs). Platform roles "
        "only: null for anyone else."
    )
    async def audit_integrity(
        self, info: strawberry.Info[Context, None], deep: bool = False
    ) -> AuditIntegrity | None:
        ctx = info.context
        if not ctx.viewer.oversees_platform:
            return None
        settings = ctx.settings
        key = SealKey(settings.audit_signing_key())
        async with ctx.sessions() as session:
            found = await integrity.verify(
                session, key, checkpoint=settings.audit_checkpoint_file, rows=deep
            )
        return AuditIntegrity.of(found, rows_checked=deep)
