"""Typed factories that insert real rows; each returns the ORM object it created."""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from domain.base import utcnow
from domain.identity import security
from domain.models import (
    Application,
    ApplicationStatus,
    AuthSession,
    DelinquencyBucket,
    Enterprise,
    Institution,
    InstitutionKind,
    Loan,
    LoanStatus,
    Membership,
    Product,
    ProductStatus,
    ProductType,
    RepaymentMethod,
    Role,
    User,
    UserStatus,
)
from domain.settings import Settings

FIXED_NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
_seq = itertools.count(1)


async def institution(session: AsyncSession, *, code: str | None = None) -> Institution:
    n = next(_seq)
    row = Institution(
        code=code or f"IN{n:04d}",
        name=f"Test Bank {n}",
        kind=InstitutionKind.BANK,
        region="Zhejiang",
        four_eyes_threshold=Decimal("500000.00"),
        created_at=FIXED_NOW,
    )
    session.add(row)
    await session.flush()
    return row


async def user(
    session: AsyncSession,
    *,
    email: str | None = None,
    password: str | None = None,
    roles: Sequence[tuple[Role, uuid.UUID | None]] = (),
    mfa_secret: str | None = None,
) -> User:
    """An active user holding ``roles`` (institution None: platform-wide)."""
    n = next(_seq)
    row = User(
        email=email or f"user{n}@example.test",
        display_name=f"User {n}",
        status=UserStatus.ACTIVE,
        password_hash=security.hash_password(password) if password else None,
        mfa_secret=mfa_secret,
        mfa_enrolled_at=FIXED_NOW if mfa_secret else None,
        created_at=FIXED_NOW,
    )
    session.add(row)
    await session.flush()
    for role, institution_id in roles:
        session.add(Membership(user_id=row.id, institution_id=institution_id, role=role))
    await session.flush()
    return row


async def access_token(session: AsyncSession, settings: Settings, user_row: User) -> str:
    """A signed-in session for ``user_row``, as login would leave it (MFA passed)."""
    auth = AuthSession(user_id=user_row.id)
    session.add(auth)
    await session.flush()
    return security.mint_token(
        settings.signing_key(),
        subject=str(user_row.id),
        type="access",
        now=utcnow(),
        ttl=settings.access_token_ttl,
        session_id=auth.id,
    )


async def product(
    session: AsyncSession,
    *,
    institution_id: uuid.UUID,
    type_: ProductType = ProductType.TERM_LOAN,
    status: ProductStatus = ProductStatus.PUBLISHED,
    min_amount: str = "10000.00",
    max_amount: str = "1000000.00",
    min_rate: str = "0.045000",
    min_term: int = 6,
    max_term: int = 36,
) -> Product:
    n = next(_seq)
    row = Product(
        institution_id=institution_id,
        code=f"P{n:05d}",
        name=f"Product {n}",
        type=type_,
        status=status,
        description="",
        min_amount=Decimal(min_amount),
        max_amount=Decimal(max_amount),
        min_term_months=min_term,
        max_term_months=max_term,
        min_rate=Decimal(min_rate),
        max_rate=Decimal(min_rate) + Decimal("0.05"),
        origination_fee_rate=Decimal("0.005"),
        repayment_methods=[RepaymentMethod.ANNUITY.value],
        collateral_required=False,
        eligibility={"industries": [], "regions": [], "min_years_in_business": 1},
        published_at=FIXED_NOW if status is ProductStatus.PUBLISHED else None,
        created_at=FIXED_NOW,
    )
    session.add(row)
    await session.flush()
    return row


async def enterprise(
    session: AsyncSession, *, owner_id: uuid.UUID | None = None, name: str | None = None
) -> Enterprise:
    n = next(_seq)
    row = Enterprise(
        owner_id=owner_id,
        unified_social_credit_code=f"91330100{n:09d}X"[:18],
        name=name or f"Enterprise {n}",
        industry="manufacturing",
        region="Zhejiang",
        founded_on=date(2015, 3, 1),
        employee_count=25,
        annual_revenue=Decimal("3200000.00"),
        legal_representative_name="Zhang Wei",
        legal_representative_id_number="110101199003071234",
        contact_phone="13812345678",
        contact_email=f"contact{n}@example.test",
        bank_account_number="6222020200112233445",
        created_at=FIXED_NOW,
    )
    session.add(row)
    await session.flush()
    return row


async def application(
    session: AsyncSession,
    *,
    enterprise_id: uuid.UUID,
    product_row: Product,
    status: ApplicationStatus = ApplicationStatus.SUBMITTED,
    amount: str = "200000.00",
) -> Application:
    row = Application(
        enterprise_id=enterprise_id,
        product_id=product_row.id,
        institution_id=product_row.institution_id,
        amount=Decimal(amount),
        term_months=12,
        repayment_method=RepaymentMethod.ANNUITY,
        purpose="working capital",
        status=status,
        submitted_at=None if status is ApplicationStatus.DRAFT else FIXED_NOW,
        created_at=FIXED_NOW,
    )
    session.add(row)
    await session.flush()
    return row


async def loan(session: AsyncSession, *, application_row: Application) -> Loan:
    row = Loan(
        application_id=application_row.id,
        enterprise_id=application_row.enterprise_id,
        institution_id=application_row.institution_id,
        product_id=application_row.product_id,
        principal=application_row.amount,
        annual_rate=Decimal("0.060000"),
        term_months=application_row.term_months,
        repayment_method=application_row.repayment_method,
        disbursed_on=date(2026, 1, 15),
        maturity_on=date(2026, 1, 15) + timedelta(days=365),
        status=LoanStatus.ACTIVE,
        outstanding_principal=application_row.amount,
        days_past_due=0,
        delinquency_bucket=DelinquencyBucket.CURRENT,
        created_at=FIXED_NOW,
    )
    session.add(row)
    await session.flush()
    return row


def global_id(type_name: str, pk: uuid.UUID) -> str:
    """The Relay global id the API gives a row."""
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()
