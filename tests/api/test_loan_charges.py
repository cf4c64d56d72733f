"""Charges and interest through the API: product terms, accrual, the waterfall, reversal."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity.models import Role
from domain.ledger import loans as books
from domain.lending.schedule import add_months
from domain.products.models import DayCount
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient
from tests.api.test_catalog_admin import CREATE, terms

CHARGE_TERMS = (
    "dayCount graceDays lateFeeAmount lateFeeRate lateFeeCapAmount penaltyRate penaltyCapRate"
)
CREATE_WITH_TERMS = CREATE.replace("... on Product {", "... on Product { " + CHARGE_TERMS + " ")
ACCRUE = """
mutation($input: AccrueInterestInput!) {
  accrueInterest(input: $input) {
    __typename
    ... on AccrualRun { asOf loans accruedInterest penaltyInterest lateFees lateFeesCharged }
    ... on UserError { code message }
  }
}
"""
LOAN = """
query($id: ID!) {
  node(id: $id) {
    ... on Loan {
      accruedThrough accruedInterest
      charges { kind sequence chargedOn amount amountPaid }
      schedule { sequence lateFeeDue lateFeePaid penaltyDue penaltyPaid }
    }
  }
}
"""
REPAY = """
mutation($input: RecordRepaymentInput!) {
  recordRepayment(input: $input) {
    __typename
    ... on RepaymentRecorded { repayment { amount feePart lateFeePart penaltyPart } }
    ... on UserError { code message }
  }
}
"""
REVERSE = """
mutation($input: ReverseRepaymentInput!) {
  reverseRepayment(input: $input) { __typename ... on UserError { code message } }
}
"""


async def test_an_admin_sets_a_products_charge_terms_and_bad_ones_are_refused(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        token = await f.access_token(s, settings, admin)
    client = gql.as_(token)
    institution = f.global_id("Institution", bank.id)
    given = terms(
        dayCount="ACT_360",
        graceDays=5,
        lateFeeAmount="25.00",
        lateFeeRate="0.020000",
        lateFeeCapAmount="40.00",
        penaltyRate="0.180000",
        penaltyCapRate="1.000000",
    )

    # when
    made = (
        await client.data(
            CREATE_WITH_TERMS,
            {"input": {"institutionId": institution, "code": "LATE", "terms": given}},
        )
    )["createProduct"]
    plain = (
        await client.data(
            CREATE_WITH_TERMS,
            {"input": {"institutionId": institution, "code": "PLAIN", "terms": terms()}},
        )
    )["createProduct"]
    bad = (
        await client.data(
            CREATE_WITH_TERMS,
            {
                "input": {
                    "institutionId": institution,
                    "code": "BAD",
                    "terms": terms(graceDays=-1, penaltyRate="1.500000"),
                }
            },
        )
    )["createProduct"]

    # then
    assert {k: made[k] for k in CHARGE_TERMS.split()} == {
        "dayCount": "ACT_360",
        "graceDays": 5,
        "lateFeeAmount": "25.00",
        "lateFeeRate": "0.020000",
        "lateFeeCapAmount": "40.00",
        "penaltyRate": "0.180000",
        "penaltyCapRate": "1.000000",
    }
    # the defaults: today's terms, nothing charged for lateness
    assert {k: plain[k] for k in CHARGE_TERMS.split()} == {
        "dayCount": "THIRTY_360",
        "graceDays": 0,
        "lateFeeAmount": "0.00",
        "lateFeeRate": "0.000000",
        "lateFeeCapAmount": None,
        "penaltyRate": "0.000000",
        "penaltyCapRate": None,
    }
    assert bad["code"] == "BAD_USER_INPUT"
    assert bad["field"] == "input.terms.graceDays"
    assert "penaltyRate" in bad["message"]


async def test_accrual_charges_late_fees_once_payments_clear_them_and_reversal_restores(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a loan two instalments in arrears on a product with late charges
    today = utcnow().date()
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        product.day_count = DayCount.ACT_365F
        product.grace_days = 3
        product.late_fee_fixed = Decimal("20.00")
        product.late_fee_cap = Decimal("30.00")
        product.late_fee_rate = Decimal("0.010000")
        product.penalty_rate = Decimal("0.365000")
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        application = await f.application(s, enterprise_id=enterprise.id, product_row=product)
        loan = await f.booked_loan(
            s, application_row=application, disbursed_on=add_months(today, -2) - timedelta(10)
        )
        await books.disbursed(
            s,
            institution_id=bank.id,
            loan_id=loan.id,
            principal=loan.principal,
            on=loan.disbursed_on,
            actor_id=None,
        )
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        tokens = [await f.access_token(s, settings, u) for u in (officer, owner)]
    staff, borrower = (gql.as_(t) for t in tokens)
    run = {"input": {"institutionId": f.global_id("Institution", bank.id)}}
    loan_id = f.global_id("Loan", loan.id)

    # when: the accrual runs twice for today, and the borrower tries it too
    first = (await staff.data(ACCRUE, run))["accrueInterest"]
    again = (await staff.data(ACCRUE, run))["accrueInterest"]
    refused = await borrower.post(ACCRUE, run)
    charged = (await borrower.data(LOAN, {"id": loan_id}))["node"]

    # then: each overdue instalment has its late fee (20 + 1% of about 17,000, at most 30)
    assert first["__typename"] == "AccrualRun"
    assert (first["loans"], first["lateFeesCharged"], first["lateFees"]) == (1, 2, "60.00")
    assert Decimal(first["penaltyInterest"]) > 0
    assert Decimal(first["accruedInterest"]) > 0
    assert (again["loans"], again["lateFeesCharged"], again["lateFees"]) == (0, 0, "0.00")
    assert refused.get("data") is None or refused["data"].get("accrueInterest") is None
    assert charged["accruedThrough"] == today.isoformat()
    fees = [c for c in charged["charges"] if c["kind"] == "LATE_FEE"]
    assert [(c["sequence"], c["amount"], c["amountPaid"]) for c in fees] == [
        (1, "30.00", "0.00"),
        (2, "30.00", "0.00"),
    ]
    penalty = sum(
        (Decimal(c["amount"]) for c in charged["charges"] if c["kind"] == "PENALTY_INTEREST"),
        Decimal(0),
    )
    assert penalty == Decimal(first["penaltyInterest"])

    # when: a payment of 100.00 today, then reversed
    paid = (
        await staff.data(
            REPAY, {"input": {"loanId": loan_id, "idempotencyKey": "p1", "amount": "100.00"}}
        )
    )["recordRepayment"]
    after_payment = (await staff.data(LOAN, {"id": loan_id}))["node"]
    reversed_ = (
        await staff.data(
            REVERSE, {"input": {"loanId": loan_id, "idempotencyKey": "p1", "reason": "bounced"}}
        )
    )["reverseRepayment"]
    after_reversal = (await staff.data(LOAN, {"id": loan_id}))["node"]

    # then: the oldest instalment's late fee first, then its penalty interest
    line_one = charged["schedule"][0]
    assert paid["repayment"]["lateFeePart"] == "30.00"
    assert Decimal(line_one["penaltyDue"]) > Decimal("70.00")
    assert paid["repayment"]["penaltyPart"] == "70.00"
    assert paid["repayment"]["feePart"] == "100.00"
    assert after_payment["schedule"][0]["lateFeePaid"] == "30.00"
    assert reversed_["__typename"] == "RepaymentReversed"
    assert after_reversal["schedule"] == charged["schedule"]
    assert after_reversal["charges"] == charged["charges"]
