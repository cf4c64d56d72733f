"""``GET /jobs/files/{id}``: a job's file (a report, an upload), to whoever may read it.

The same decisions as a GraphQL field, from the same places: the bearer token is
authenticated by the view; the file is found only through the jobs' row scope (an
institution's staff, the requester, platform roles), so another tenant's file is
``NOT_FOUND`` exactly like a missing one; reading ``JobFile.download`` is asked of
``api.access.decide``, classified personal when the file is sealed, so a role that may
read but not reveal (an auditor) gets no sealed file. Each download is audited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from api.access import Access, decide
from api.context import Context
from api.guards import error_body
from api.relay import decode_global_id
from domain.audit.service import record
from domain.jobs import files as job_files
from domain.jobs import repository as repo
from kernel.db import unit_of_work
from kernel.errors import InvalidInput, Unauthenticated
from privacy.classification import Classification

if TYPE_CHECKING:
    from api.view import GraphQLView

OBJECT = "JobFile.download"
JSON = "application/json"


def _refusal(status: int, code: str, message: str, **headers: str) -> Response:
    return Response(error_body(message, code), status_code=status, media_type=JSON, headers=headers)


def _disposition(name: str) -> str:
    """An attachment (never shown in our origin), its name kept in UTF-8 (RFC 6266)."""
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return f"attachment; filename=\"{plain or 'file'}\"; filename*=UTF-8''{quote(name)}"


def file_endpoint(view: GraphQLView) -> Callable[[Request], Awaitable[Response]]:
    async def download(request: Request) -> Response:
        try:
            viewer = await view.authenticate(request.headers.get("authorization"))
        except Unauthenticated as exc:
            return _refusal(
                401, exc.code, exc.message, **{"www-authenticate": 'Bearer error="invalid_token"'}
            )
        if viewer.is_anonymous:
            return _refusal(
                401,
                "UNAUTHENTICATED",
                "sign in to download a file",
                **{"www-authenticate": "Bearer"},
            )
        try:
            file_id = decode_global_id(request.path_params["id"], expected="JobFile")[1]
        except InvalidInput as exc:
            return _refusal(400, exc.code, exc.message)
        request_id = str(request.state.request_id)
        context = Context(
            request=request,
            settings=view.settings,
            sessions=view.sessions,
            viewer=viewer,
            request_id=request_id,
            authorizer=view.authorizer,
            masking_rules=view.masking.rules,
        )
        keys = view.settings.keys()
        async with view.sessions() as session:
            row = await repo.file_for(session, viewer=viewer, file_id=file_id)
            if row is None:
                # The same answer whether the file is absent or hidden: ids leak nothing.
                return _refusal(404, "NOT_FOUND", "no such file")
            needed = Classification.PERSONAL if row.sealed else Classification.INTERNAL
            if decide(context, OBJECT, needed) is not Access.ALLOW:
                return _refusal(403, "FORBIDDEN", "you may not download this file")
            content = await job_files.read(session, keys, row)
        async with unit_of_work(view.sessions) as session:
            record(
                session,
                action="job_file.downloaded",
                entity_type="job_file",
                entity_id=row.id,
                actor_id=viewer.user_id or viewer.service_account_id,
                request_id=request_id,
                job=str(row.job_id),
                sha256=row.sha256,
            )
        return Response(
            content,
            media_type=row.content_type,
            headers={
                "content-disposition": _disposition(row.name),
                "x-content-type-options": "nosniff",
                "cache-control": "no-store",
                "x-content-sha256": row.sha256,
            },
        )

    return download
