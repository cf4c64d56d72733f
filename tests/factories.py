"""Typed factories that insert real rows; each returns the ORM object it created."""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from domain.contracts.models import LoanTermination, TerminationKind
from domain.contracts.termination import seal_reason
from domain.enterprises import service as enterprise_service
from domain.enterprises.service import EnterpriseProfile
from domain.identity import people, security
from domain.lending.schedule import add_months, build_schedule
from domain.models import (
    Application,
    ApplicationStatus,
    AuthSession,
    DelinquencyBucket,
    Enterprise,
    Installment,
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
from domain.products.models import DayCount
from domain.providers.models import ExternalDataKind, ExternalDataRecord
from domain.settings import Settings
from domain.verification.models import VerificationLevel
from kernel.base import utcnow
from privacy import keystore
from privacy.keys import parse_env

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
    """An active user holding ``roles`` (institution None: platform-wide).

    Its email and name are sealed like any person's; ``email_of(row)`` gives the email.
    """
    n = next(_seq)
    address = email or f"user{n}@example.test"
    row = await people.new_user(
        session,
        KEYS,
        email=address,
        display_name=display_name_for(address),
        status=UserStatus.ACTIVE,
        password_hash=security.hash_password(password) if password else None,
    )
    if mfa_secret is not None:
        await people.set_mfa_secret(session, KEYS, row, mfa_secret)
    row.mfa_enrolled_at = FIXED_NOW if mfa_secret else None
    row.created_at = FIXED_NOW
    _EMAILS[row.id] = address
    for role, institution_id in roles:
        session.add(Membership(user_id=row.id, institution_id=institution_id, role=role))
    await session.flush()
    return row


_EMAILS: dict[uuid.UUID, str] = {}


def display_name_for(email: str) -> str:
    """The display name a factory user with this email has."""
    return email.split("@")[0].title()


def email_of(row: User) -> str:
    """The email a factory user was made with (the row holds it sealed)."""
    return _EMAILS[row.id]


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


# Fixed test keys: every test database's personal values are sealed under them.
TEST_MASTER_KEYS = "test-1:" + base64.b64encode(bytes(range(32))).decode()
TEST_BLIND_INDEX_KEY = base64.b64encode(bytes(range(32, 64))).decode()
KEYS = parse_env(TEST_MASTER_KEYS, TEST_BLIND_INDEX_KEY)

# The personal values every factory enterprise holds (sealed in the database).
PERSONAL = {
    "legal_representative_name": "Zhang Wei",
    "legal_representative_id_number": "110101199003071234",
    "contact_phone": "13812345678",
    "bank_account_number": "6222020200112233445",
}


def contact_email(name: str) -> str:
    """The contact email a factory enterprise of this name holds."""
    return f"contact.{name.lower().replace(' ', '-')}@example.test"


async def enterprise(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID | None = None,
    name: str | None = None,
    level: VerificationLevel = VerificationLevel.VERIFIED,
) -> Enterprise:
    """An enterprise whose personal values are sealed, as the service writes them.

    Verified unless told otherwise: what a test of lending takes for granted (a verified
    borrower signs); the tests of verification ask for the level they start from.
    """
    n = next(_seq)
    name = name or f"Enterprise {n}"
    profile = EnterpriseProfile(
        name=name,
        unified_social_credit_code=f"91330100{n:09d}X"[:18],
        industry="manufacturing",
        region="Zhejiang",
        founded_on=date(2015, 3, 1),
        employee_count=25,
        annual_revenue=Decimal("3200000.00"),
        contact_email=contact_email(name),
        **PERSONAL,
    )
    row = await enterprise_service.insert_enterprise(
        session, KEYS, owner_id=owner_id, profile=profile, created_at=FIXED_NOW
    )
    row.verification_level = level
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


async def termination(
    session: AsyncSession,
    loan_row: Loan,
    *,
    kind: TerminationKind = TerminationKind.ACCELERATION,
    on: date = date(2026, 5, 1),
    amount: str = "0.00",
    reason: str | None = None,
) -> LoanTermination:
    """A loan's termination as the service stores it: the reason sealed under the
    enterprise's data key, bound to the row."""
    row_id = uuid.uuid4()
    sealed = None
    if reason is not None:
        key = (await keystore.unwrap_many(session, KEYS, [loan_row.enterprise_id]))[
            loan_row.enterprise_id
        ]
        assert key is not None
        sealed = seal_reason(key, reason, row_id=row_id)
    row = LoanTermination(
        id=row_id,
        application_id=loan_row.application_id,
        loan_id=loan_row.id,
        institution_id=loan_row.institution_id,
        enterprise_id=loan_row.enterprise_id,
        kind=kind,
        on=on,
        amount=Decimal(amount),
        reason=sealed,
        at=FIXED_NOW,
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


async def booked_loan(
    session: AsyncSession,
    *,
    application_row: Application,
    disbursed_on: date,
    annual_rate: str = "0.060000",
    fee: str = "0.00",
    day_count: DayCount = DayCount.THIRTY_360,
) -> Loan:
    """A loan with its schedule booked as disbursement books it, on a day in the past
    (its periods counted by ``day_count``: pass the product's to match its contract)."""
    schedule = build_schedule(
        principal=application_row.amount,
        annual_rate=Decimal(annual_rate),
        term_months=application_row.term_months,
        method=application_row.repayment_method,
        first_due_on=add_months(disbursed_on, 1),
        fee=Decimal(fee),
        day_count=day_count,
        start_on=disbursed_on,
    )
    row = await loan(session, application_row=application_row)
    row.annual_rate = Decimal(annual_rate)
    row.disbursed_on = disbursed_on
    row.maturity_on = schedule[-1].due_on
    row.aged_on = disbursed_on
    application_row.status = ApplicationStatus.DISBURSED
    session.add_all(
        Installment(
            loan_id=row.id,
            sequence=i.sequence,
            due_on=i.due_on,
            principal_due=i.principal,
            interest_due=i.interest,
            fee_due=i.fee,
            principal_paid=Decimal("0.00"),
            interest_paid=Decimal("0.00"),
            fee_paid=Decimal("0.00"),
        )
        for i in schedule
    )
    await session.flush()
    return row


async def external_data(session: AsyncSession, *, enterprise_id: uuid.UUID) -> ExternalDataRecord:
    """A credit bureau's answer about the enterprise, as the service keeps it."""
    row = ExternalDataRecord(
        enterprise_id=enterprise_id,
        kind=ExternalDataKind.CREDIT_BUREAU,
        source="Enterprise credit bureau (test)",
        as_of=FIXED_NOW.date(),
        fetched_at=FIXED_NOW,
        content_hash="0" * 64,
        facts={"score": 700, "overdueAccounts": 0},
        personal=None,
        purpose="credit_assessment",
    )
    session.add(row)
    await session.flush()
    return row
