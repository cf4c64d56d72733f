"""An institution's staff, for its admins; one's own open sessions."""

from __future__ import annotations

import strawberry

from api.access import classified
from api.accounts.types import LoginSession, StaffMember
from api.context import Context
from api.relay import Connection, ListingRequest, connection, decode_global_id
from domain.identity import accounts
from domain.identity import repository as repo


@classified(public=["institution_staff", "my_sessions"])
@strawberry.type
class AccountQueries:
    @strawberry.field(
        description="The people holding a role in the institution: for its admins and "
        "platform roles (empty for anyone else)."
    )
    async def institution_staff(
        self,
        info: strawberry.Info[Context, None],
        institution_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[StaffMember]:
        ctx = info.context
        institution = decode_global_id(
            institution_id, expected="Institution", field="institutionId"
        )[1]
        request = ListingRequest.read(
            ctx.settings, keyset=accounts.STAFF_ORDER, flt=institution, first=first, after=after
        )
        async with ctx.sessions() as session:
            page = await repo.staff_page(
                session,
                viewer=ctx.viewer,
                institution_id=institution,
                keyset=request.keyset,
                first=request.first,
                after=request.after,
            )
            held = await repo.memberships_in(
                session, user_ids=[row.id for row in page.rows], institution_id=institution
            )

        async def count() -> int:
            async with ctx.sessions() as session:
                return await repo.count_staff(
                    session, viewer=ctx.viewer, institution_id=institution
                )

        return connection(
            page,
            keyset=request.keyset,
            to_node=lambda row: StaffMember.from_row(
                row, [(role, institution, code) for uid, role, code in held if uid == row.id]
            ),
            count=count,
            after=after,
        )

    @strawberry.field(description="Your sign-ins that have not ended, newest first (at most 50).")
    async def my_sessions(self, info: strawberry.Info[Context, None]) -> list[LoginSession]:
        ctx = info.context
        async with ctx.sessions() as session:
            rows = await accounts.own_sessions(session, viewer=ctx.viewer)
        return [LoginSession.from_row(row, current=ctx.viewer.session_id) for row in rows]
