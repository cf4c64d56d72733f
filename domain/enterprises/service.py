"""The rules for enterprise profiles."""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.enterprises import repository as repo
from domain.enterprises.models import SEALED_COLUMNS, Enterprise, FinancialStatement
from domain.enterprises.uscc import is_valid_uscc
from domain.identity.viewer import Viewer
from kernel.base import new_id, utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput
from privacy import keystore, vault
from privacy.keys import KeyProvider

ID_NUMBER_INDEX = "enterprises.legal_representative_id_number"

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_RESIDENT_ID = re.compile(r"^\d{17}[\dX]$")
_ACCOUNT = re.compile(r"^\d{8,32}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class EnterpriseProfile:
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


def _check(profile: EnterpriseProfile, today: date) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not 2 <= len(profile.name.strip()) <= 200:
        problems.append(("name", "needs 2 to 200 characters"))
    if not is_valid_uscc(profile.unified_social_credit_code):
        problems.append(("unifiedSocialCreditCode", "not a valid code (GB 32100-2015 check digit)"))
    for label, value in (("industry", profile.industry), ("region", profile.region)):
        if not 1 <= len(value.strip()) <= 64:
            problems.append((label, "needs 1 to 64 characters"))
    if profile.founded_on > today:
        problems.append(("foundedOn", "lies in the future"))
    if not 0 <= profile.employee_count <= 1_000_000:
        problems.append(("employeeCount", "must be between 0 and 1,000,000"))
    if profile.annual_revenue is not None and (
        profile.annual_revenue < 0
        or profile.annual_revenue != profile.annual_revenue.quantize(Decimal("0.01"))
    ):
        problems.append(("annualRevenue", "a non-negative amount with at most 2 decimals"))
    optional: tuple[tuple[str, str | None, re.Pattern[str]], ...] = (
        ("legalRepresentativeIdNumber", profile.legal_representative_id_number, _RESIDENT_ID),
        ("contactPhone", profile.contact_phone, _MOBILE),
        ("contactEmail", profile.contact_email, _EMAIL),
        ("bankAccountNumber", profile.bank_account_number, _ACCOUNT),
    )
    for label, given, pattern in optional:
        if given is not None and not pattern.match(given):
            problems.append((label, "not in the expected format"))
    return problems


async def create_enterprise(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    profile: EnterpriseProfile,
    request_id: str | None,
) -> Enterprise:
    """An SME owner registers an enterprise it owns; personal values are sealed."""
    if viewer.user_id is None:
        raise Forbidden("only a signed-in owner can register an enterprise")
    problems = _check(profile, utcnow().date())
    if problems:
        raise InvalidInput.of_problems(problems)
    if await repo.uscc_taken(session, profile.unified_social_credit_code):
        raise Conflict("an enterprise with this unified social credit code is registered")
    enterprise = await insert_enterprise(session, keys, owner_id=viewer.user_id, profile=profile)
    record(
        session,
        action="enterprise.created",
        entity_type="enterprise",
        entity_id=enterprise.id,
        actor_id=viewer.user_id,
        request_id=request_id,
    )
    return enterprise


async def insert_enterprise(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    owner_id: uuid.UUID | None,
    profile: EnterpriseProfile,
    created_at: datetime | None = None,
) -> Enterprise:
    """Write a checked profile: a fresh data key, personal values sealed under it."""
    enterprise_id = new_id()
    key = await keystore.create(session, keys, enterprise_id, "enterprise")
    sealed = {
        column: vault.seal(key, value, table="enterprises", column=column, row_id=enterprise_id)
        if value
        else None
        for column in SEALED_COLUMNS
        for value in [getattr(profile, column)]
    }
    id_number = profile.legal_representative_id_number
    enterprise = Enterprise(
        id=enterprise_id,
        owner_id=owner_id,
        created_at=created_at or utcnow(),
        name=profile.name.strip(),
        unified_social_credit_code=profile.unified_social_credit_code,
        industry=profile.industry.strip(),
        region=profile.region.strip(),
        founded_on=profile.founded_on,
        employee_count=profile.employee_count,
        annual_revenue=profile.annual_revenue,
        legal_representative_id_bidx=(
            vault.blind_index(keys, id_number, column=ID_NUMBER_INDEX) if id_number else None
        ),
        **sealed,
    )
    session.add(enterprise)
    await session.flush()
    return enterprise


def id_number_index(keys: KeyProvider, id_number: str) -> str:
    """The blind index an enterprise is written with, of its legal representative's id
    number."""
    return vault.blind_index(keys, id_number, column=ID_NUMBER_INDEX)


def id_number_indexes(keys: KeyProvider, id_number: str) -> tuple[str, ...]:
    """The blind indexes to find enterprises by that id number (one per live key)."""
    return vault.blind_indexes(keys, id_number, column=ID_NUMBER_INDEX)


@dataclass(frozen=True, slots=True)
class Statement:
    """One fiscal year of accounts, as the owner files it (CNY)."""

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


# Numeric(18, 2) holds 16 digits before the point; anything near that is a typing slip.
_LARGEST = Decimal("1e15")
_NON_NEGATIVE = (
    "revenue",
    "cost_of_sales",
    "interest_expense",
    "total_assets",
    "current_assets",
    "total_liabilities",
    "current_liabilities",
)


def _api_name(name: str) -> str:
    """A statement's attribute as its input field is called (cost_of_sales: costOfSales)."""
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def _check_statement(statement: Statement, founded_on: date, today: date) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for name in (f.name for f in dataclasses.fields(Statement) if f.name != "fiscal_year"):
        value: Decimal = getattr(statement, name)
        if not value.is_finite() or abs(value) >= _LARGEST:
            problems.append((_api_name(name), "an amount below 10^15 in size"))
        elif value != value.quantize(Decimal("0.01")):
            problems.append((_api_name(name), "an amount with at most 2 decimals"))
        elif name in _NON_NEGATIVE and value < 0:
            problems.append((_api_name(name), "not negative"))
    if problems:
        return problems
    if not founded_on.year <= statement.fiscal_year < today.year:
        problems.append(
            ("fiscalYear", f"from the founding year {founded_on.year} to the last closed year")
        )
    if statement.total_assets != statement.total_liabilities + statement.equity:
        problems.append(
            (
                "totalAssets",
                f"{statement.total_assets:,.2f} must equal liabilities plus equity "
                f"({statement.total_liabilities + statement.equity:,.2f})",
            )
        )
    if statement.current_assets > statement.total_assets:
        problems.append(("currentAssets", "more than totalAssets"))
    if statement.current_liabilities > statement.total_liabilities:
        problems.append(("currentLiabilities", "more than totalLiabilities"))
    return problems


async def submit_statement(
    session: AsyncSession,
    *,
    viewer: Viewer,
    enterprise_id: uuid.UUID,
    statement: Statement,
    request_id: str | None,
) -> FinancialStatement:
    """File (or restate) a year's accounts for an enterprise the viewer owns."""
    enterprise = await owned_enterprise(session, viewer, enterprise_id, doing="file statements")
    problems = _check_statement(statement, enterprise.founded_on, utcnow().date())
    if problems:
        raise InvalidInput.of_problems(problems)
    values = dataclasses.asdict(statement)
    row = await repo.statement_for_year(session, enterprise_id, statement.fiscal_year)
    restated = row is not None
    if row is None:
        row = FinancialStatement(enterprise_id=enterprise_id, **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    await session.flush()
    record(
        session,
        action="statement.restated" if restated else "statement.filed",
        entity_type="enterprise",
        entity_id=enterprise_id,
        actor_id=viewer.user_id,
        request_id=request_id,
        fiscal_year=statement.fiscal_year,
    )
    return row


async def owned_enterprise(
    session: AsyncSession, viewer: Viewer, enterprise_id: uuid.UUID, *, doing: str
) -> Enterprise:
    """The enterprise, when the viewer owns it; otherwise FORBIDDEN."""
    enterprise = await session.get(Enterprise, enterprise_id)
    if enterprise is None or viewer.user_id is None or enterprise.owner_id != viewer.user_id:
        raise Forbidden(f"only the enterprise's owner may {doing}")
    return enterprise
