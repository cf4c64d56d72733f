"""ledger: a chart of accounts per institution, journal entries and lines, day totals

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 13:04:39
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here; the same lines are in the default policy file. An institution's book is
# read by its risk officers and admins (rows scoped in SQL); platform roles read every
# book through their "*" rules.
NEW_RULES: list[tuple[str, ...]] = [
    *(
        ("p", role, "*", f"{type_name}.*", "read", "allow")
        for role in ("risk_officer", "institution_admin")
        for type_name in ("JournalEntry", "JournalLine", "TrialBalance", "LedgerAccountBalance")
    ),
    # A bounced payment is reversed by whoever takes payments.
    ("p", "loan_officer", "*", "Mutation.reverseRepayment", "write", "allow"),
    ("p", "loan_officer", "*", "RepaymentReversed.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "Mutation.reverseRepayment", "write", "allow"),
    ("p", "scope:loans:write", "*", "RepaymentReversed.*", "read", "allow"),
]

# Entries are append-only: PostgreSQL refuses to change or delete one (TRUNCATE, which
# only tests and restores use, fires no row trigger). SQLite, the embedded default,
# relies on the ledger's code alone.
_APPEND_ONLY = """
CREATE FUNCTION lendgraph_journal_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'journal entries are append-only: post a reversal instead';
END $$ LANGUAGE plpgsql
"""
_JOURNAL_TABLES = ("journal_entries", "journal_lines")


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column(
            "code",
            sa.Enum(
                "cash",
                "loans_receivable",
                "interest_receivable",
                "fees_receivable",
                "penalties_receivable",
                "loss_allowance",
                "suspense",
                "interest_income",
                "fee_income",
                "penalty_income",
                "recoveries",
                "write_off_expense",
                "provision_expense",
                name="accountcode",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("gl_code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_ledger_accounts_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint(
            "institution_id", "code", name=op.f("uq_ledger_accounts_institution_id_code")
        ),
    )
    op.create_table(
        "ledger_day_totals",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("debit", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("credit", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_day_totals_account_id_ledger_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("account_id", "day", name=op.f("pk_ledger_day_totals")),
    )
    op.create_table(
        "journal_entries",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("loan_id", sa.Uuid(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "disbursement",
                "repayment",
                "accrual",
                "charge",
                "write_off",
                "recovery",
                "amendment",
                "provision",
                "reversal",
                name="entrykind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=160), nullable=False),
        sa.Column("reverses_id", sa.Uuid(), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("posted_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_journal_entries_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_journal_entries_loan_id_loans"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["posted_by"],
            ["users.id"],
            name=op.f("fk_journal_entries_posted_by_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["journal_entries.id"],
            name=op.f("fk_journal_entries_reverses_id_journal_entries"),
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint(
            "institution_id", "source", name=op.f("uq_journal_entries_institution_id_source")
        ),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_journal_entries_reverses_id")),
    )
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_journal_entries_institution_id_effective_on_id"),
            ["institution_id", "effective_on", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_journal_entries_institution_id_id"),
            ["institution_id", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_journal_entries_loan_id_id"), ["loan_id", "id"], unique=False
        )

    op.create_table(
        "journal_lines",
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("loan_id", sa.Uuid(), nullable=True),
        sa.Column("debit", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("credit", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "(debit > 0 AND credit = 0) OR (credit > 0 AND debit = 0)",
            name=op.f("ck_journal_lines_one_side"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_journal_lines_account_id_ledger_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_journal_lines_entry_id_journal_entries"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_journal_lines_loan_id_loans"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_lines")),
    )
    with op.batch_alter_table("journal_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journal_lines_entry_id"), ["entry_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_journal_lines_loan_id_account_id"),
            ["loan_id", "account_id"],
            unique=False,
        )

    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("before", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("reversed_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("reversal_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reversed_by", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_repayments_reversed_by_users"),
            "users",
            ["reversed_by"],
            ["id"],
            ondelete="SET NULL",
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_APPEND_ONLY)
        for table in _JOURNAL_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION lendgraph_journal_append_only()"
            )
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_repayments_reversed_by_users"), type_="foreignkey")
        for column in ("reversed_by", "reversal_reason", "reversed_on", "before"):
            batch_op.drop_column(column)
    if op.get_bind().dialect.name == "postgresql":
        for table in _JOURNAL_TABLES:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION lendgraph_journal_append_only()")
    with op.batch_alter_table("journal_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_lines_loan_id_account_id"))
        batch_op.drop_index(batch_op.f("ix_journal_lines_entry_id"))

    op.drop_table("journal_lines")
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_entries_loan_id_id"))
        batch_op.drop_index(batch_op.f("ix_journal_entries_institution_id_id"))
        batch_op.drop_index(batch_op.f("ix_journal_entries_institution_id_effective_on_id"))

    op.drop_table("journal_entries")
    op.drop_table("ledger_day_totals")
    op.drop_table("ledger_accounts")
