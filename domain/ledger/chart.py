"""The chart of accounts every institution's book opens with.

The accounts follow Apache Fineract's loan-product accounting (accrual based): a loan
portfolio and its receivables as assets, income by source, the loss allowance as a
contra-asset (credit-normal), write-offs and provisions as expenses. Each account has a
general-ledger code so an export to a general ledger lines up with the usual numbering:
1xxx assets, 2xxx liabilities, 4xxx income, 5xxx expenses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AccountCode(enum.Enum):
    CASH = "cash"
    LOANS_RECEIVABLE = "loans_receivable"
    INTEREST_RECEIVABLE = "interest_receivable"
    FEES_RECEIVABLE = "fees_receivable"
    PENALTIES_RECEIVABLE = "penalties_receivable"
    LOSS_ALLOWANCE = "loss_allowance"
    SUSPENSE = "suspense"
    INTEREST_INCOME = "interest_income"
    FEE_INCOME = "fee_income"
    PENALTY_INCOME = "penalty_income"
    RECOVERIES = "recoveries"
    WRITE_OFF_EXPENSE = "write_off_expense"
    PROVISION_EXPENSE = "provision_expense"


class AccountType(enum.Enum):
    ASSET = "asset"
    LIABILITY = "liability"
    INCOME = "income"
    EXPENSE = "expense"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    code: AccountCode
    gl_code: str
    name: str
    type: AccountType
    # True for accounts whose balance is naturally a credit (liabilities, income, and the
    # loss allowance, which offsets the loan assets).
    credit_normal: bool


CHART: tuple[AccountSpec, ...] = (
    AccountSpec(AccountCode.CASH, "1000", "Cash and settlement", AccountType.ASSET, False),
    AccountSpec(AccountCode.LOANS_RECEIVABLE, "1100", "Loans receivable", AccountType.ASSET, False),
    AccountSpec(
        AccountCode.INTEREST_RECEIVABLE, "1110", "Interest receivable", AccountType.ASSET, False
    ),
    AccountSpec(AccountCode.FEES_RECEIVABLE, "1120", "Fees receivable", AccountType.ASSET, False),
    AccountSpec(
        AccountCode.PENALTIES_RECEIVABLE, "1130", "Penalties receivable", AccountType.ASSET, False
    ),
    AccountSpec(AccountCode.LOSS_ALLOWANCE, "1190", "Loss allowance", AccountType.ASSET, True),
    AccountSpec(AccountCode.SUSPENSE, "2100", "Suspense", AccountType.LIABILITY, True),
    AccountSpec(AccountCode.INTEREST_INCOME, "4100", "Interest income", AccountType.INCOME, True),
    AccountSpec(AccountCode.FEE_INCOME, "4200", "Fee income", AccountType.INCOME, True),
    AccountSpec(AccountCode.PENALTY_INCOME, "4300", "Penalty income", AccountType.INCOME, True),
    AccountSpec(AccountCode.RECOVERIES, "4400", "Recoveries", AccountType.INCOME, True),
    AccountSpec(
        AccountCode.WRITE_OFF_EXPENSE, "5100", "Write-off expense", AccountType.EXPENSE, False
    ),
    AccountSpec(
        AccountCode.PROVISION_EXPENSE, "5200", "Provision expense", AccountType.EXPENSE, False
    ),
)

SPEC = {spec.code: spec for spec in CHART}
