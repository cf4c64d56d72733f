"""The rules for enterprise profiles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.base import utcnow
from domain.enterprises import repository as repo
from domain.enterprises.models import Enterprise
from domain.enterprises.uscc import is_valid_uscc
from domain.errors import Conflict, Forbidden, InvalidInput
from domain.identity.viewer import Viewer

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


def _check(profile: EnterpriseProfile, today: date) -> list[str]:
    problems = []
    if not 2 <= len(profile.name.strip()) <= 200:
        problems.append("name: needs 2 to 200 characters")
    if not is_valid_uscc(profile.unified_social_credit_code):
        problems.append("unifiedSocialCreditCode: not a valid code (GB 32100-2015 check digit)")
    for label, value in (("industry", profile.industry), ("region", profile.region)):
        if not 1 <= len(value.strip()) <= 64:
            problems.append(f"{label}: needs 1 to 64 characters")
    if profile.founded_on > today:
        problems.append("foundedOn: lies in the future")
    if not 0 <= profile.employee_count <= 1_000_000:
        problems.append("employeeCount: must be between 0 and 1,000,000")
    if profile.annual_revenue is not None and (
        profile.annual_revenue < 0
        or profile.annual_revenue != profile.annual_revenue.quantize(Decimal("0.01"))
    ):
        problems.append("annualRevenue: a non-negative amount with at most 2 decimals")
    optional: tuple[tuple[str, str | None, re.Pattern[str]], ...] = (
        ("legalRepresentativeIdNumber", profile.legal_representative_id_number, _RESIDENT_ID),
        ("contactPhone", profile.contact_phone, _MOBILE),
        ("contactEmail", profile.contact_email, _EMAIL),
        ("bankAccountNumber", profile.bank_account_number, _ACCOUNT),
    )
    for label, given, pattern in optional:
        if given is not None and not pattern.match(given):
            problems.append(f"{label}: not in the expected format")
    return problems


async def create_enterprise(
    session: AsyncSession, *, viewer: Viewer, profile: EnterpriseProfile, request_id: str | None
) -> Enterprise:
    """An SME owner registers an enterprise it owns."""
    if viewer.user_id is None:
        raise Forbidden("only a signed-in owner can register an enterprise")
    problems = _check(profile, utcnow().date())
    if problems:
        raise InvalidInput("; ".join(problems))
    if await repo.uscc_taken(session, profile.unified_social_credit_code):
        raise Conflict("an enterprise with this unified social credit code is registered")
    enterprise = Enterprise(
        owner_id=viewer.user_id,
        name=profile.name.strip(),
        unified_social_credit_code=profile.unified_social_credit_code,
        industry=profile.industry.strip(),
        region=profile.region.strip(),
        founded_on=profile.founded_on,
        employee_count=profile.employee_count,
        annual_revenue=profile.annual_revenue,
        legal_representative_name=profile.legal_representative_name,
        legal_representative_id_number=profile.legal_representative_id_number,
        contact_phone=profile.contact_phone,
        contact_email=profile.contact_email,
        bank_account_number=profile.bank_account_number,
    )
    session.add(enterprise)
    await session.flush()
    record(
        session,
        action="enterprise.created",
        entity_type="enterprise",
        entity_id=enterprise.id,
        actor_id=viewer.user_id,
        request_id=request_id,
    )
    return enterprise
