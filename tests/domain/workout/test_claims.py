"""The entry a debt sale posts (domain.workout.claims.sale_legs), for any balances."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.ledger.chart import AccountCode
from domain.workout.claims import RECEIVABLES, sale_legs

CENTS = st.integers(min_value=0, max_value=10**11).map(lambda c: Decimal(c) / 100)
SIGNED = st.integers(min_value=-(10**7), max_value=10**11).map(lambda c: Decimal(c) / 100)


@settings(max_examples=300, deadline=None)
@given(
    principal=CENTS,
    interest=SIGNED,
    fees=CENTS,
    penalties=CENTS,
    allowance=CENTS,
    price=CENTS,
)
def test_a_sale_balances_and_takes_the_loan_off_the_books(
    principal: Decimal,
    interest: Decimal,
    fees: Decimal,
    penalties: Decimal,
    allowance: Decimal,
    price: Decimal,
) -> None:
    # given: a loan's sub-ledger (debit minus credit; the allowance is a credit)
    balances = {
        AccountCode.LOANS_RECEIVABLE: principal,
        AccountCode.INTEREST_RECEIVABLE: interest,
        AccountCode.FEES_RECEIVABLE: fees,
        AccountCode.PENALTIES_RECEIVABLE: penalties,
        AccountCode.LOSS_ALLOWANCE: -allowance,
    }
    carried = principal + interest + fees + penalties

    # when
    booked = sale_legs(balances, price)

    # then: legs in cents, none negative, debits equal to credits
    debits = sum((leg.debit_amount for leg in booked.legs), Decimal(0))
    credits = sum((leg.credit_amount for leg in booked.legs), Decimal(0))
    assert debits == credits
    for leg in booked.legs:
        for amount in (leg.debit_amount, leg.credit_amount):
            assert amount >= 0
            assert amount == amount.quantize(Decimal("0.01"))
    # every receivable is cleared; the allowance released is what was held, up to the
    # carrying amount; the result is the price against the carrying amount net of it
    after = dict(balances)
    for leg in booked.legs:
        after[leg.account] = after.get(leg.account, Decimal(0)) + leg.debit_amount
        after[leg.account] -= leg.credit_amount
    assert all(after[code] == 0 for code in RECEIVABLES)
    released = min(allowance, max(carried, Decimal(0)))
    assert booked.allowance == released
    assert after[AccountCode.LOSS_ALLOWANCE] == -(allowance - released)
    assert booked.result == price - (carried - released)
    assert after[AccountCode.CASH] == price
    loss = after.get(AccountCode.WRITE_OFF_EXPENSE, Decimal(0))
    gain = -after.get(AccountCode.RECOVERIES, Decimal(0))
    assert gain - loss == booked.result
    assert min(loss, gain) == 0
