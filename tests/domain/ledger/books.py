"""A loan disbursed through the ledger, and the servicing figures its books must equal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications.service import Actor
from domain.identity.models import Institution, Role, User
from domain.identity.viewer import Viewer
from domain.ledger import loans as books
from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.lending import charges
from domain.lending.models import Installment, Loan, LoanStatus
from domain.products.models import DayCount, Product
from tests import factories as f

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Booked:
    loan_id: uuid.UUID
    institution_id: uuid.UUID
    officer: Actor


async def lent(
    s: AsyncSession,
    bank: Institution,
    *,
    on: date,
    amount: str = "12000.00",
    term: int = 12,
    fee: str = "0.00",
    charged: bool = False,
    counted: bool = False,
) -> tuple[Loan, User]:
    """A loan of ``bank`` booked as ``disburse`` books it, its disbursement posted; and the
    borrower's owner. ``charged``: its product charges late fees and penalty interest.
    ``counted``: its schedule counts its periods by the product's day count, as a
    contract signed today would (else 30/360, as loans booked before day counts were)."""
    product = await f.product(s, institution_id=bank.id)
    if charged:
        product.day_count = DayCount.ACT_365F
        product.grace_days = 5
        product.late_fee_fixed = Decimal("25.00")
        product.late_fee_rate = Decimal("0.020000")
        product.late_fee_cap = Decimal("40.00")
        product.penalty_rate = Decimal("0.180000")
        product.penalty_cap_multiple = Decimal("0.050000")
    owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
    enterprise = await f.enterprise(s, owner_id=owner.id)
    application = await f.application(
        s, enterprise_id=enterprise.id, product_row=product, amount=amount
    )
    application.term_months = term
    loan = await f.booked_loan(
        s,
        application_row=application,
        disbursed_on=on,
        fee=fee,
        day_count=product.day_count if counted else DayCount.THIRTY_360,
    )
    await books.disbursed(
        s,
        institution_id=bank.id,
        loan_id=loan.id,
        principal=loan.principal,
        on=on,
        actor_id=None,
    )
    return loan, owner


async def disbursed_loan(
    s: AsyncSession,
    *,
    on: date,
    amount: str = "12000.00",
    term: int = 12,
    fee: str = "0.00",
    charged: bool = False,
) -> Booked:
    """A loan as ``lent`` makes it, and a risk officer of its institution (who may take
    payments and write off)."""
    bank = await f.institution(s)
    loan, _ = await lent(s, bank, on=on, amount=amount, term=term, fee=fee, charged=charged)
    officer = await f.user(s, roles=[(Role.RISK_OFFICER, bank.id)])
    viewer = Viewer(
        user_id=officer.id,
        institution_roles={bank.id: frozenset({Role.RISK_OFFICER, Role.LOAN_OFFICER})},
    )
    return Booked(
        loan_id=loan.id, institution_id=bank.id, officer=Actor(viewer=viewer, keys=f.KEYS)
    )


async def servicing_balances(s: AsyncSession, loan_id: uuid.UUID) -> dict[AccountCode, Decimal]:
    """What the loan's own records say it owes, as the ledger should hold it."""
    loan = await s.get(Loan, loan_id, populate_existing=True)
    assert loan is not None
    if loan.status is LoanStatus.WRITTEN_OFF:
        return {}
    rows = (await s.scalars(select(Installment).where(Installment.loan_id == loan_id))).all()
    unpaid = sum((r.principal_due - r.principal_paid for r in rows), ZERO)
    assert unpaid == loan.outstanding_principal
    product = await s.get_one(Product, loan.product_id)
    found = {AccountCode.LOANS_RECEIVABLE: loan.outstanding_principal}
    found |= charges.expected(
        [charges.row_of(r) for r in rows],
        disbursed_on=loan.disbursed_on,
        through=loan.accrued_through,
        day_count=product.day_count,
    )
    return {code: amount for code, amount in found.items() if amount}


async def receivables(s: AsyncSession, loan_id: uuid.UUID) -> dict[AccountCode, Decimal]:
    """The loan's sub-ledger, its asset accounts only (income and cash are the bank's)."""
    held = (await ledger.loan_balances(s, [loan_id]))[loan_id]
    kept = {
        AccountCode.LOANS_RECEIVABLE,
        AccountCode.INTEREST_RECEIVABLE,
        AccountCode.FEES_RECEIVABLE,
        AccountCode.PENALTIES_RECEIVABLE,
    }
    return {code: amount for code, amount in held.items() if code in kept}
