"""fetchExternalData: consent checked, the provider called with no transaction open,
then one transaction writes what was answered (or, on failure, only an audit entry)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from api.access import mutation
from api.context import Context
from api.identity.types import InvalidInputError
from api.providers.types import (
    DataConsentRequired,
    ExternalDataRecord,
    NoProviderRecord,
    ProviderMalformedAnswer,
    ProviderUnavailable,
)
from api.relay import decode_global_id
from domain.providers import errors, service
from domain.providers.models import ExternalDataKind
from kernel.base import utcnow
from kernel.db import unit_of_work
from kernel.errors import DomainError, InvalidInput


@strawberry.input
class FetchExternalDataInput:
    enterprise_id: strawberry.ID
    kind: ExternalDataKind


# The refusals a fetch can meet, as union members: what the client shows, by code.
FetchExternalDataResult = Annotated[
    ExternalDataRecord
    | DataConsentRequired
    | ProviderUnavailable
    | ProviderMalformedAnswer
    | NoProviderRecord
    | InvalidInputError,
    strawberry.union("FetchExternalDataResult"),
]


def _refusal(error: DomainError) -> FetchExternalDataResult:
    if isinstance(error, errors.DataConsentMissing):
        return DataConsentRequired(
            message=error.message,
            code=error.code,
            purpose=error.purpose,
            institution_id=(
                None
                if error.institution_id is None
                else strawberry.ID(str(relay.GlobalID("Institution", str(error.institution_id))))
            ),
        )
    if isinstance(error, errors.ProviderUnavailable):
        return ProviderUnavailable(
            message=error.message,
            code=error.code,
            retry_after_seconds=error.retry_after_seconds,
        )
    if isinstance(error, errors.ProviderMalformed):
        return ProviderMalformedAnswer(message=error.message, code=error.code)
    if isinstance(error, errors.NoProviderRecord):
        return NoProviderRecord(message=error.message, code=error.code)
    return InvalidInputError.of(error)


_PROVIDER_FAILURES = (errors.ProviderUnavailable, errors.ProviderMalformed, errors.NoProviderRecord)


@strawberry.type
class ProviderMutations:
    @mutation(
        "fetchExternalData",
        description=(
            "Fetch registry, bureau or bank-statement data about an enterprise from its "
            "provider, with the enterprise's consent; kept with its source, date and hash."
        ),
    )
    async def fetch_external_data(
        self, info: strawberry.Info[Context, None], input: FetchExternalDataInput
    ) -> FetchExternalDataResult:
        ctx = info.context
        kind = input.kind
        try:
            enterprise_id = decode_global_id(
                input.enterprise_id, expected="Enterprise", field="enterpriseId"
            )[1]
            async with ctx.sessions() as session:
                plan = await service.prepare(
                    session, viewer=ctx.viewer, enterprise_id=enterprise_id, kind=kind, now=utcnow()
                )
        except (errors.DataConsentMissing, InvalidInput) as exc:
            return _refusal(exc)
        try:
            fetched = await ctx.providers.fetch(kind, plan.code)
            async with unit_of_work(ctx.sessions) as session:
                row = await service.store(
                    session,
                    viewer=ctx.viewer,
                    keys=ctx.keys,
                    plan=plan,
                    fetched=fetched,
                    now=utcnow(),
                    request_id=ctx.request_id,
                )
        except _PROVIDER_FAILURES as exc:
            async with unit_of_work(ctx.sessions) as session:
                service.record_failure(
                    session, viewer=ctx.viewer, plan=plan, error=exc, request_id=ctx.request_id
                )
            return _refusal(exc)
        except errors.DataConsentMissing as exc:
            return _refusal(exc)
        return ExternalDataRecord.from_row(row)
