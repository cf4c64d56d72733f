"""Loans and their repayment history, simulated month by month up to ``as_of``.

A performing borrower pays each instalment on time or, with a chance that grows with
its payment slack and its PD, late. Whether it defaults on the loan is drawn once from
its PD (see ``seed.credit``); a defaulter stops paying at one instalment and sometimes
cures later by paying all arrears. Payments settle
the oldest amounts first, fee then interest then principal, as lenders allocate them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from domain.lending.delinquency import bucket_for, days_past_due
from domain.lending.models import DelinquencyBucket, LoanStatus
from domain.lending.schedule import ScheduledInstallment, add_months
from domain.risk.models import AlertSeverity, AlertStatus
from domain.risk.scan import SLA
from seed.applications import LoanPlan
from seed.catalog import Staff, moment, row_id
from seed.credit import late_chance, sigmoid

Row = dict[str, Any]
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
# A stopped borrower pays all its arrears at a later due date with this chance.
CURE_CHANCE = 0.02
# A defaulter stops at one of its loan's first instalments: trouble shows early.
DEFAULT_HORIZON = 6
PARTIAL_CHANCE = 0.4
WRITE_OFF_AFTER_DAYS = 180
_ALERT_RULES = {
    DelinquencyBucket.DPD_31_60: ("DPD_30", AlertSeverity.MEDIUM),
    DelinquencyBucket.DPD_61_90: ("DPD_60", AlertSeverity.HIGH),
    DelinquencyBucket.DPD_90_PLUS: ("DPD_90", AlertSeverity.CRITICAL),
}
_ALERT_STATUSES = (
    (AlertStatus.OPEN,) * 5
    + (AlertStatus.ACKNOWLEDGED,) * 2
    + (
        AlertStatus.IN_PROGRESS,
        AlertStatus.IN_PROGRESS,
        AlertStatus.ESCALATED,
    )
)


@dataclass(slots=True)
class _Due:
    """One instalment while payments are applied: what is owed and what came in."""

    plan: ScheduledInstallment
    fee_paid: Decimal = ZERO
    interest_paid: Decimal = ZERO
    principal_paid: Decimal = ZERO
    settled_on: date | None = None

    @property
    def owed(self) -> Decimal:
        return (
            self.plan.fee
            - self.fee_paid
            + self.plan.interest
            - self.interest_paid
            + self.plan.principal
            - self.principal_paid
        )


@dataclass(slots=True)
class LoanRows:
    loan: Row
    installments: list[Row] = field(default_factory=list)
    repayments: list[Row] = field(default_factory=list)
    alerts: list[Row] = field(default_factory=list)
    snapshots: list[Row] = field(default_factory=list)


def _month_ends(first: date, before: date) -> list[date]:
    """The last day of every month from ``first``'s on, those before ``before``."""
    found: list[date] = []
    month = first.replace(day=1)
    while True:
        following = add_months(month, 1)
        end = following - timedelta(days=1)
        if end >= before:
            return found
        found.append(end)
        month = following


def _snapshots(loan: Row, dues: list[_Due], repayments: list[Row], *, as_of: date) -> list[Row]:
    """The loan at each month end it was on the book, as the ageing job would have kept it.

    Derived from the payments simulated (no random draw). Payments settle the oldest
    instalment first, so the instalments settled by a day are always the first ones.
    """
    left_on = loan["closed_on"] or loan["written_off_on"]
    rows: list[Row] = []
    unpaid = paid = 0
    principal_paid = ZERO
    for month_end in _month_ends(loan["disbursed_on"], as_of):
        if left_on is not None and left_on <= month_end:
            break
        while unpaid < len(dues) and (dues[unpaid].settled_on or as_of) <= month_end:
            unpaid += 1
        while paid < len(repayments) and repayments[paid]["paid_on"] <= month_end:
            principal_paid += repayments[paid]["principal_part"]
            paid += 1
        oldest = dues[unpaid].plan.due_on if unpaid < len(dues) else month_end
        dpd = (month_end - oldest).days if oldest < month_end else 0
        rows.append(
            {
                "loan_id": loan["id"],
                "month_end": month_end,
                "institution_id": loan["institution_id"],
                "delinquency_bucket": bucket_for(dpd),
                "days_past_due": dpd,
                "outstanding_principal": loan["principal"] - principal_paid,
            }
        )
    return rows


def _allocate(dues: list[_Due], amount: Decimal, paid_on: date) -> tuple[Decimal, ...]:
    """Oldest first; within an instalment fee, then interest, then principal."""
    fee = interest = principal = ZERO
    remaining = amount
    for due in dues:
        if remaining == 0:
            break
        if due.settled_on is not None:
            continue
        take = min(remaining, due.plan.fee - due.fee_paid)
        due.fee_paid += take
        fee += take
        remaining -= take
        take = min(remaining, due.plan.interest - due.interest_paid)
        due.interest_paid += take
        interest += take
        remaining -= take
        take = min(remaining, due.plan.principal - due.principal_paid)
        due.principal_paid += take
        principal += take
        remaining -= take
        if due.owed == 0:
            due.settled_on = paid_on
    return fee, interest, principal


def _payment_events(
    rng: random.Random, schedule: list[ScheduledInstallment], plan: LoanPlan, as_of: date
) -> list[tuple[date, Decimal]]:
    """(paid_on, amount) the borrower pays, in the order they are decided.

    Whether the borrower defaults on this loan is drawn once, up front, with its PD (the
    chance of default within a year, and a loan's trouble shows early); a defaulter
    stops at one of the first ``min(term, DEFAULT_HORIZON)`` instalments, uniformly.
    Until then (and on a loan it keeps paying) each instalment is late with
    ``seed.credit.late_chance``.
    """
    horizon = min(len(schedule), DEFAULT_HORIZON)
    defaults = rng.random() < sigmoid(plan.logit)
    stop_at = rng.randrange(horizon) if defaults else len(schedule)
    chance_late = late_chance(plan.borrower.slack, plan.logit)
    events: list[tuple[date, Decimal]] = []
    stopped = False
    arrears = ZERO
    for index, item in enumerate(schedule):
        if item.due_on >= as_of:
            break
        owed = item.principal + item.interest + item.fee
        if stopped:
            if rng.random() < CURE_CHANCE:
                events.append((item.due_on + timedelta(days=rng.randint(0, 5)), arrears + owed))
                stopped, arrears = False, ZERO
            else:
                arrears += owed
            continue
        if index == stop_at:
            stopped, arrears = True, owed
            if rng.random() < PARTIAL_CHANCE:
                part = (owed * Decimal(rng.uniform(0.2, 0.7))).quantize(CENT)
                if part > 0:
                    events.append((item.due_on + timedelta(days=rng.randint(0, 15)), part))
                    arrears -= part
            continue
        if rng.random() < chance_late:
            lateness = 1 + min(int(rng.expovariate(1 / 10)), 75)
        else:
            lateness = -rng.randint(0, 3)
        events.append((item.due_on + timedelta(days=lateness), owed))
    return [(paid_on, amount) for paid_on, amount in events if paid_on < as_of]


def build_loan(
    rng: random.Random, plan: LoanPlan, *, staff: Staff, chinese: bool, as_of: date
) -> LoanRows:
    # Booked as signed, the way the lending service books a disbursement: the contract's
    # amounts, falling due monthly from the day the money was paid out.
    schedule: list[ScheduledInstallment] = []
    balance = plan.amount
    for sequence, (principal, interest, fee) in enumerate(plan.instalments, start=1):
        due_on = add_months(plan.disbursed_on, sequence)
        schedule.append(
            ScheduledInstallment(
                sequence, due_on, principal, interest, fee, balance, balance - principal
            )
        )
        balance -= principal
    loan_id = row_id(rng, plan.disbursed_at)
    dues = [_Due(item) for item in schedule]
    events = _payment_events(rng, schedule, plan, as_of)
    events.sort(key=lambda event: event[0])
    rows = LoanRows(loan={})
    for number, (paid_on, amount) in enumerate(events, start=1):
        fee_part, interest_part, principal_part = _allocate(dues, amount, paid_on)
        paid = fee_part + interest_part + principal_part
        if paid == 0:
            continue
        at = moment(rng, paid_on)
        rows.repayments.append(
            {
                "id": row_id(rng, at),
                "loan_id": loan_id,
                "idempotency_key": f"seed-{number:04d}",
                "amount": paid,
                "paid_on": paid_on,
                "principal_part": principal_part,
                "interest_part": interest_part,
                "fee_part": fee_part,
                "created_at": at,
            }
        )
    for due in dues:
        rows.installments.append(
            {
                "id": row_id(rng, plan.disbursed_at),
                "loan_id": loan_id,
                "sequence": due.plan.sequence,
                "due_on": due.plan.due_on,
                "principal_due": due.plan.principal,
                "interest_due": due.plan.interest,
                "fee_due": due.plan.fee,
                "principal_paid": due.principal_paid,
                "interest_paid": due.interest_paid,
                "fee_paid": due.fee_paid,
                "settled_on": due.settled_on,
            }
        )

    unpaid = [due for due in dues if due.settled_on is None]
    dpd = days_past_due((due.plan.due_on for due in unpaid), as_of=as_of)
    bucket = bucket_for(dpd)
    closed_on = max(d.settled_on for d in dues if d.settled_on) if not unpaid else None
    written_off_on = None
    if not unpaid:
        status = LoanStatus.CLOSED
    elif dpd > WRITE_OFF_AFTER_DAYS and rng.random() < 0.6:
        status = LoanStatus.WRITTEN_OFF
        # Written off the day it went past the threshold (no draw: the seed stays the same).
        written_off_on = unpaid[0].plan.due_on + timedelta(days=WRITE_OFF_AFTER_DAYS + 1)
    else:
        status = LoanStatus.ACTIVE
    rows.loan = {
        "id": loan_id,
        "application_id": plan.application_id,
        "enterprise_id": plan.borrower.id,
        "institution_id": plan.product.institution_id,
        "product_id": plan.product.id,
        "principal": plan.amount,
        "annual_rate": plan.annual_rate,
        "term_months": plan.term_months,
        "repayment_method": plan.method,
        "disbursed_on": plan.disbursed_on,
        "maturity_on": schedule[-1].due_on,
        "status": status,
        "outstanding_principal": plan.amount - sum((d.principal_paid for d in dues), ZERO),
        "days_past_due": dpd,
        "delinquency_bucket": bucket,
        "closed_on": closed_on,
        "written_off_on": written_off_on,
        # Days past due above are counted to as_of: the ageing is up to date.
        "aged_on": as_of,
        "version": 1,
        "created_at": plan.disbursed_at,
        # Last touched by the nightly ageing of as_of, which runs as the day begins: never
        # after now, even when as_of is today (a later time would look like a change to
        # the next incremental risk scan). No draw: the seed stays repeatable.
        "updated_at": datetime.combine(as_of, time(0, 0), tzinfo=UTC),
    }
    rows.snapshots = _snapshots(rows.loan, dues, rows.repayments, as_of=as_of)
    if status is LoanStatus.ACTIVE and bucket in _ALERT_RULES:
        rule, severity = _ALERT_RULES[bucket]
        oldest = unpaid[0].plan
        opened_at = moment(rng, oldest.due_on + timedelta(days=30))
        alert_status = rng.choice(_ALERT_STATUSES)
        rows.alerts.append(
            {
                "id": row_id(rng, opened_at),
                "institution_id": plan.product.institution_id,
                "loan_id": loan_id,
                "enterprise_id": plan.borrower.id,
                "rule_code": rule,
                "severity": severity,
                "status": alert_status,
                "title": f"贷款逾期{dpd}天" if chinese else f"Loan {dpd} days past due",
                "detail": (
                    f"第{oldest.sequence}期（应还日{oldest.due_on}）未结清。"  # noqa: RUF001 - Chinese punctuation
                    if chinese
                    else f"Instalment {oldest.sequence} due {oldest.due_on} is unpaid."
                ),
                "assignee_id": None if alert_status is AlertStatus.OPEN else staff.risk_officer,
                "opened_at": opened_at,
                "due_at": opened_at + SLA[severity],
                "resolved_at": None,
            }
        )
    return rows
