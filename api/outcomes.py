"""The expected refusals of the lending lifecycle, as union members, and one way to run
a mutation that may meet them.

A service raises a :class:`~kernel.errors.DomainError`; :func:`perform` runs the service
in one transaction and turns the refusals its mutation declares into their union
member. A lost optimistic-locking race (the row's version moved under us) becomes
``Conflict``. Anything undeclared (``FORBIDDEN``, ``NOT_FOUND``) stays a GraphQL error
with its code, like everywhere else in the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError
from strawberry import relay

from api.access import classified
from api.context import Context
from api.identity.types import InvalidInputError, UserError
from api.relay import decode_global_id
from domain.applications import errors
from domain.applications.models import ApplicationStatus
from domain.applications.service import Actor
from domain.lending.repayment import Overpayment
from kernel.db import unit_of_work
from kernel.errors import Conflict, DomainError, InvalidInput

T = TypeVar("T")


@classified(public=["message", "code", "current_status", "target_status"])
@strawberry.type(description="The application's state machine has no such move.")
class InvalidTransition(UserError):
    current_status: ApplicationStatus
    target_status: ApplicationStatus | None


@classified(public=["message", "code", "reasons"])
@strawberry.type(description="The enterprise does not meet the product's rules.")
class NotEligible(UserError):
    reasons: list[str]


@classified(public=["message", "code", "purpose", "institution_id"])
@strawberry.type(
    description="The receiving institution needs the enterprise's consent first: grant it "
    "with grantConsent for this purpose and institution, then try again."
)
class ConsentRequired(UserError):
    purpose: str
    institution_id: strawberry.ID


@classified(public=["message", "code"])
@strawberry.type(
    name="Conflict",
    description="Someone changed the record since you read it; reload and try again.",
)
class ConflictError(UserError):
    pass


@classified(public=["message", "code"])
@strawberry.type(description="Four eyes: a second, different officer has to act.")
class FourEyesRequired(UserError):
    pass


@classified(public=["message", "code"])
@strawberry.type(description="The terms accepted are not the terms on offer.")
class TermsChanged(UserError):
    pass


@classified(public=["message", "code", "payoff_amount"])
@strawberry.type(name="Overpayment", description="More than the loan's payoff amount was offered.")
class OverpaymentError(UserError):
    payoff_amount: Decimal


def refusal(error: DomainError) -> Any:
    """The union member for an expected refusal."""
    if isinstance(error, errors.InvalidTransition):
        return InvalidTransition(
            message=error.message,
            code=error.code,
            current_status=error.current,
            target_status=error.target,
        )
    if isinstance(error, errors.NotEligible):
        return NotEligible(message=error.message, code=error.code, reasons=list(error.reasons))
    if isinstance(error, errors.ConsentMissing):
        return ConsentRequired(
            message=error.message,
            code=error.code,
            purpose=error.purpose,
            institution_id=strawberry.ID(
                str(relay.GlobalID("Institution", str(error.institution_id)))
            ),
        )
    if isinstance(error, errors.FourEyes):
        return FourEyesRequired(message=error.message, code=error.code)
    if isinstance(error, errors.TermsChanged):
        return TermsChanged(message=error.message, code=error.code)
    if isinstance(error, Overpayment):
        return OverpaymentError(
            message=error.message, code=error.code, payoff_amount=error.payoff_amount
        )
    if isinstance(error, Conflict):
        return ConflictError(message=error.message, code=error.code)
    return InvalidInputError.of(error)


EXPECTED = (
    errors.InvalidTransition,
    errors.NotEligible,
    errors.ConsentMissing,
    errors.FourEyes,
    errors.TermsChanged,
    Conflict,
    InvalidInput,
)


async def perform(
    info: strawberry.Info[Context, None],
    work: Callable[[AsyncSession, Actor], Awaitable[T]],
) -> T | Any:
    """Run ``work`` in one transaction as the viewer; refusals come back as members."""
    ctx = info.context
    actor = Actor(
        viewer=ctx.viewer,
        keys=ctx.keys,
        request_id=ctx.request_id,
        scoring=ctx.scoring,
        authorizer=ctx.authorizer,
    )
    try:
        async with unit_of_work(ctx.sessions) as session:
            return await work(session, actor)
    except EXPECTED as exc:
        return refusal(exc)
    except StaleDataError:
        return ConflictError(
            message="someone else changed this at the same moment; reload it and try again",
            code=Conflict.code,
        )


def pk_of(value: strawberry.ID, type_name: str, *, field: str | None = None) -> uuid.UUID:
    return decode_global_id(value, expected=type_name, field=field)[1]
