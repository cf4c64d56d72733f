"""job queue: procrastinate's schema (PostgreSQL), job records and chunk markers

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.util import await_only

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file. Staff follow the jobs of their institution (rows scoped in SQL);
# platform roles read every one through their "*" rules.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "loan_officer", "*", "Job.*", "read", "allow"),
    ("p", "loan_officer", "*", "JobProgress.*", "read", "allow"),
    ("p", "risk_officer", "*", "Job.*", "read", "allow"),
    ("p", "risk_officer", "*", "JobProgress.*", "read", "allow"),
    ("p", "platform_risk_officer", "*", "Mutation.startRiskScan", "write", "allow"),
    ("p", "platform_risk_officer", "*", "Mutation.trainScoringModel", "write", "allow"),
]

# Everything procrastinate's schema creates is named procrastinate_*; its schema file
# ships no DROP script, so the downgrade finds its objects by that prefix.
_DROP_PROCRASTINATE = r"""
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT tablename FROM pg_tables
           WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate\_%' LOOP
    EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.tablename);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\_%' LOOP
    EXECUTE 'DROP FUNCTION IF EXISTS ' || r.sig || ' CASCADE';
  END LOOP;
  FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = current_schema() AND t.typtype = 'e'
             AND t.typname LIKE 'procrastinate\_%' LOOP
    EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname);
  END LOOP;
END $$;
"""


def _apply_procrastinate_schema() -> None:
    """procrastinate's own schema file, as the installed version ships it.

    It is many statements with PL/pgSQL bodies, which a prepared statement (how
    SQLAlchemy's asyncpg adapter runs every query) cannot hold: it goes to the driver's
    simple-query path on the migration's own connection, inside its transaction. A later
    procrastinate release adds a revision that applies its files under
    ``SchemaManager.get_migrations_path()``; pyproject pins the minor version.
    """
    from procrastinate.schema import SchemaManager

    driver = op.get_bind().connection.driver_connection
    await_only(driver.execute(SchemaManager.get_schema()))  # type: ignore[union-attr]


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "queued",
                "running",
                "succeeded",
                "failed",
                name="jobstate",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("institution_id", sa.Uuid(), nullable=True),
        sa.Column("queue_job_id", sa.BigInteger(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("started_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("finished_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_job_runs_institution_id_institutions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index(
        op.f("ix_job_runs_institution_id_id"), "job_runs", ["institution_id", "id"], unique=False
    )
    op.create_table(
        "job_chunks",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("finished_at", kernel.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["job_runs.id"],
            name=op.f("fk_job_chunks_job_id_job_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_job_chunks")),
    )
    add_rules(NEW_RULES)
    if op.get_bind().dialect.name == "postgresql":
        _apply_procrastinate_schema()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_DROP_PROCRASTINATE)
    remove_rules(NEW_RULES)
    op.drop_table("job_chunks")
    op.drop_index(op.f("ix_job_runs_institution_id_id"), table_name="job_runs")
    op.drop_table("job_runs")
