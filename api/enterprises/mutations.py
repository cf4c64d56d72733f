from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Annotated

import strawberry

from api.access import mutation
from api.context import Context
from api.enterprises.types import Enterprise, FinancialStatement
from api.identity.types import InvalidInputError
from api.relay import decode_global_id
from domain.enterprises import service
from kernel.db import unit_of_work
from kernel.errors import Conflict, InvalidInput


@strawberry.input
class CreateEnterpriseInput:
    name: str
    unified_social_credit_code: str
    industry: str
    region: str
    founded_on: date
    employee_count: int
    annual_revenue: Decimal | None = None
    legal_representative_name: str | None = None
    legal_representative_id_number: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    bank_account_number: str | None = None


CreateEnterpriseResult = Annotated[
    Enterprise | InvalidInputError, strawberry.union("CreateEnterpriseResult")
]


@strawberry.type
class EnterpriseMutations:
    @mutation("createEnterprise", description="Register an enterprise you own.")
    async def create_enterprise(
        self, info: strawberry.Info[Context, None], input: CreateEnterpriseInput
    ) -> CreateEnterpriseResult:
        ctx = info.context
        profile = service.EnterpriseProfile(
            **{
                f.name: getattr(input, f.name)
                for f in dataclasses.fields(service.EnterpriseProfile)
            }
        )
        try:
            async with unit_of_work(ctx.sessions) as session:
                row = await service.create_enterprise(
                    session,
                    ctx.keys,
                    viewer=ctx.viewer,
                    profile=profile,
                    request_id=ctx.request_id,
                )
        except (InvalidInput, Conflict) as exc:
            return InvalidInputError.of(exc)
        return Enterprise.from_row(row)


@strawberry.input(
    description="One fiscal year of accounts, in CNY. Filing a year again restates it."
)
class SubmitFinancialStatementInput:
    enterprise_id: strawberry.ID
    fiscal_year: int
    revenue: Decimal
    cost_of_sales: Decimal
    operating_profit: Decimal
    interest_expense: Decimal
    net_profit: Decimal
    total_assets: Decimal
    current_assets: Decimal
    total_liabilities: Decimal
    current_liabilities: Decimal
    equity: Decimal
    operating_cash_flow: Decimal


SubmitFinancialStatementResult = Annotated[
    FinancialStatement | InvalidInputError, strawberry.union("SubmitFinancialStatementResult")
]


@strawberry.type
class StatementMutations:
    @mutation(
        "submitFinancialStatement",
        description="File a year's accounts for an enterprise you own; eligibility reads the "
        "latest year.",
    )
    async def submit_financial_statement(
        self, info: strawberry.Info[Context, None], input: SubmitFinancialStatementInput
    ) -> SubmitFinancialStatementResult:
        ctx = info.context
        statement = service.Statement(
            **{f.name: getattr(input, f.name) for f in dataclasses.fields(service.Statement)}
        )
        try:
            async with unit_of_work(ctx.sessions) as session:
                row = await service.submit_statement(
                    session,
                    viewer=ctx.viewer,
                    enterprise_id=decode_global_id(
                        input.enterprise_id, expected="Enterprise", field="enterpriseId"
                    )[1],
                    statement=statement,
                    request_id=ctx.request_id,
                )
        except InvalidInput as exc:
            return InvalidInputError.of(exc)
        return FinancialStatement.from_row(row)
