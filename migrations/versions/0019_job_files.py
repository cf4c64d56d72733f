"""jobs' files: uploads and outputs kept in the database, sealed, with a retention

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file. Institution admins follow the imports they start; analysts start reports;
# whoever reads a job reads the description of its files, and owners read the jobs they
# asked for (rows scoped in SQL). Downloading a file is reading JobFile.download, and
# revealing it when the file is sealed (it can hold personal data): auditors, loan
# officers and owners download no sealed file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "sme_owner", "*", "Job.*", "read", "allow"),
    ("p", "sme_owner", "*", "JobProgress.*", "read", "allow"),
    ("p", "sme_owner", "*", "JobFile.*", "read", "allow"),
    ("p", "loan_officer", "*", "JobFile.*", "read", "allow"),
    ("p", "institution_admin", "*", "Job.*", "read", "allow"),
    ("p", "institution_admin", "*", "JobProgress.*", "read", "allow"),
    ("p", "institution_admin", "*", "JobFile.*", "read", "allow"),
    ("p", "institution_admin", "*", "JobFile.download", "reveal", "allow"),
    ("p", "risk_officer", "*", "JobFile.*", "read", "allow"),
    ("p", "risk_officer", "*", "JobFile.download", "reveal", "allow"),
    ("p", "platform_risk_officer", "*", "JobFile.download", "reveal", "allow"),
    ("p", "risk_officer", "*", "Mutation.startPortfolioReport", "write", "allow"),
    ("p", "institution_admin", "*", "Mutation.startPortfolioReport", "write", "allow"),
    ("p", "platform_risk_officer", "*", "Mutation.startPortfolioReport", "write", "allow"),
]


def upgrade() -> None:
    op.create_table(
        "job_files",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "input",
                "output",
                name="filerole",
                native_enum=False,
                create_constraint=True,
                length=8,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("institution_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_job_files_institution_id_institutions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["job_runs.id"],
            name=op.f("fk_job_files_job_id_job_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_files")),
    )
    op.create_index(op.f("ix_job_files_expires_at"), "job_files", ["expires_at"], unique=False)
    op.create_index(op.f("ix_job_files_job_id_role"), "job_files", ["job_id", "role"], unique=False)
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    op.drop_index(op.f("ix_job_files_job_id_role"), table_name="job_files")
    op.drop_index(op.f("ix_job_files_expires_at"), table_name="job_files")
    op.drop_table("job_files")
