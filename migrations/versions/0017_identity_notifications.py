"""identity notifications: PostgreSQL tells every worker when who-may-do-what changed

A statement that changes accounts, login sessions, memberships, service accounts,
institutions, the authorization policy or the masking counter NOTIFYs the channel
``lendgraph_identity`` when it commits, whoever runs it (the service, the CLI, an
operator's SQL). Workers keep signed-in viewers for a short while and drop them when
told (api.viewers). SQLite has no NOTIFY: there every request reads its viewer.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 08:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "users",
    "auth_sessions",
    "memberships",
    "service_accounts",
    "institutions",
    "authz_rules",
    "authz_version",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION lendgraph_identity_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('lendgraph_identity', json_build_object('table', TG_TABLE_NAME)::text);
            RETURN NULL;
        END $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER lendgraph_identity_changed AFTER INSERT OR UPDATE OR DELETE "
            f"OR TRUNCATE ON {table} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION lendgraph_identity_changed()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER lendgraph_identity_changed ON {table}")
    op.execute("DROP FUNCTION lendgraph_identity_changed()")
