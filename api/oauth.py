"""The OAuth 2.0 token endpoint for partner systems: the client credentials grant.

RFC 6749 section 4.4: ``POST /oauth/token`` with ``grant_type=client_credentials``,
the client authenticated by HTTP Basic (preferred) or by ``client_id`` and
``client_secret`` in the form body, and an optional space-separated ``scope``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs, unquote

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse

from domain.identity import service
from domain.settings import Settings
from kernel.db import unit_of_work

MAX_BODY = 4096
_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def _error(code: str, description: str, status: int = 400) -> JSONResponse:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["www-authenticate"] = 'Basic realm="lendgraph"'
    return JSONResponse({"error": code, "error_description": description}, status, headers)


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None


def token_endpoint(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Any:
    async def token(request: Request) -> JSONResponse:
        if request.headers.get("content-type", "").split(";")[0].strip() != (
            "application/x-www-form-urlencoded"
        ):
            return _error("invalid_request", "send application/x-www-form-urlencoded")
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error("invalid_request", "the request is too large")
        form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return _error("unsupported_grant_type", "only client_credentials is supported")
        credentials = _basic(request.headers.get("authorization"))
        if credentials is None and "client_id" in form and "client_secret" in form:
            credentials = (form["client_id"], form["client_secret"])
        if credentials is None:
            return _error("invalid_client", "client authentication is required", 401)
        scope = form.get("scope")
        client = request.client
        origin = service.Origin(
            address=client.host if client else None,
            request_id=getattr(request.state, "request_id", None),
        )
        async with unit_of_work(sessions) as session:
            outcome = await service.client_credentials(
                session,
                settings,
                client_id=credentials[0],
                client_secret=credentials[1],
                scopes=scope.split() if scope else None,
                origin=origin,
            )
        if isinstance(outcome, service.Refused):
            if outcome.message == "invalid_scope":
                return _error("invalid_scope", "a scope asked for is not granted to the client")
            return _error("invalid_client", "unknown client or wrong secret", 401)
        return JSONResponse(
            {
                "access_token": outcome.access_token,
                "token_type": "Bearer",
                "expires_in": outcome.expires_in,
                "scope": " ".join(sorted(outcome.scopes)),
            },
            headers=_NO_STORE,
        )

    return token
