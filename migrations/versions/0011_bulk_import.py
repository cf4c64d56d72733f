"""bulk import of enterprises: runs and their row results

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "institution_admin", "*", "Mutation.importEnterprises", "write", "allow"),
    ("p", "institution_admin", "*", "ImportRun.*", "read", "allow"),
    ("p", "institution_admin", "*", "ImportBatch.*", "read", "allow"),
    ("p", "institution_admin", "*", "ImportRowResult.*", "read", "allow"),
    ("p", "institution_admin", "*", "ImportNote.*", "read", "allow"),
    ("p", "authenticated", "*", "MalformedImportFile.*", "read", "allow"),
]


def upgrade() -> None:
    op.create_table(
        "import_runs",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "running",
                "completed",
                "partial",
                "failed",
                name="importstatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("started_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("finished_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("institution_id", sa.Uuid(), nullable=True),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("fixed", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("batches_landed", sa.Integer(), nullable=False),
        sa.Column("batches_failed", sa.Integer(), nullable=False),
        sa.Column("batches", sa.JSON(), nullable=False),
        sa.Column("ignored_columns", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("row_results_truncated", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_import_runs_institution_id_institutions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_import_runs_institution_id_id"), ["institution_id", "id"], unique=False
        )

    op.create_table(
        "import_row_results",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("unified_social_credit_code", sa.String(length=32), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "accepted",
                "fixed",
                "flagged",
                "rejected",
                name="outcome",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "effect",
            sa.Enum(
                "created",
                "updated",
                "unchanged",
                "failed",
                "none",
                name="roweffect",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["import_runs.id"],
            name=op.f("fk_import_row_results_run_id_import_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_row_results")),
    )
    with op.batch_alter_table("import_row_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_import_row_results_run_id_row_number"),
            ["run_id", "row_number"],
            unique=False,
        )

    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    with op.batch_alter_table("import_row_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_row_results_run_id_row_number"))
    op.drop_table("import_row_results")
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_runs_institution_id_id"))
    op.drop_table("import_runs")
