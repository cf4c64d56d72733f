"""The ledger's tables: accounts per institution, journal entries and their lines, and
per-day totals per account (what a trial balance reads instead of every line)."""

from __future__ import annotations

import enum
import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.ledger.chart import AccountCode
from kernel.base import Base, IdMixin, Money, StrEnum, TimestampMixin


class EntryKind(enum.Enum):
    DISBURSEMENT = "disbursement"
    REPAYMENT = "repayment"
    ACCRUAL = "accrual"
    CHARGE = "charge"
    WRITE_OFF = "write_off"
    RECOVERY = "recovery"
    AMENDMENT = "amendment"
    PROVISION = "provision"
    REVERSAL = "reversal"
    SALE = "sale"


class LedgerAccount(IdMixin, Base):
    """One account of one institution's chart (see ``domain.ledger.chart``)."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("institution_id", "code"),)

    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    code: Mapped[AccountCode] = mapped_column(StrEnum(AccountCode))
    gl_code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(80))


class JournalEntry(IdMixin, TimestampMixin, Base):
    """A balanced posting. Never updated nor deleted: a correction is a reversal."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        # What posted it ("repayment:<id>", "close:2026-11-30:accrual:<loan>"): the same
        # source posts once per institution, however often a job reruns.
        UniqueConstraint("institution_id", "source"),
        UniqueConstraint("reverses_id"),
        Index(None, "institution_id", "id"),
        Index(None, "loan_id", "id"),
        Index(None, "institution_id", "effective_on", "id"),
    )

    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    loan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("loans.id", ondelete="RESTRICT"))
    kind: Mapped[EntryKind] = mapped_column(StrEnum(EntryKind))
    effective_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(160))
    # Deferred (and so NO ACTION: SQLite applies RESTRICT at once even when deferred): a
    # journal emptied in one statement (a test's clean-up) is checked at the end, not row
    # by row in whatever order SQLite deletes. Nothing deletes entries otherwise.
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("journal_entries.id", deferrable=True, initially="DEFERRED")
    )
    memo: Mapped[str | None] = mapped_column(Text)
    posted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))


class JournalLine(IdMixin, Base):
    """One side of an entry: a debit or a credit to one account, never both."""

    __tablename__ = "journal_lines"
    __table_args__ = (
        CheckConstraint(
            "(debit > 0 AND credit = 0) OR (credit > 0 AND debit = 0)", name="one_side"
        ),
        Index(None, "entry_id"),
        # A loan's own balances (its sub-ledger), per account.
        Index(None, "loan_id", "account_id"),
    )

    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("journal_entries.id", ondelete="RESTRICT")
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ledger_accounts.id", ondelete="RESTRICT")
    )
    # The entry's loan, repeated so a loan's balances are one indexed aggregate.
    loan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("loans.id", ondelete="RESTRICT"))
    debit: Mapped[Decimal] = mapped_column(Money())
    credit: Mapped[Decimal] = mapped_column(Money())


class LedgerDayTotal(Base):
    """Debits and credits posted to an account with one effective day, kept as entries
    post: a trial balance sums a few rows per account instead of every line."""

    __tablename__ = "ledger_day_totals"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ledger_accounts.id", ondelete="RESTRICT"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    debit: Mapped[Decimal] = mapped_column(Money())
    credit: Mapped[Decimal] = mapped_column(Money())
