"""TOTP secrets sealed: users.mfa_secret under each person's data key

A copy of the database (a backup, a replica, a dump on a laptop) held every staff
member's second factor in plaintext. The column is widened for the sealed form and
every plaintext secret sealed as domain.identity.people.set_mfa_secret seals it. A
secret whose person has no data key left (erased) is removed with its enrolment: that
person cannot sign in, and nothing is kept in the clear.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEALED_PREFIX = "v1."

users = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("mfa_secret", sa.String()),
    sa.column("mfa_enrolled_at", sa.DateTime()),
)
data_keys = sa.table(
    "data_keys",
    sa.column("subject_id", sa.Uuid()),
    sa.column("kid", sa.String()),
    sa.column("wrapped", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "mfa_secret",
            existing_type=sa.VARCHAR(length=64),
            type_=sa.String(length=400),
            existing_nullable=True,
        )
    _rewrite(seal=True)


def downgrade() -> None:
    _rewrite(seal=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "mfa_secret",
            existing_type=sa.String(length=400),
            type_=sa.VARCHAR(length=64),
            existing_nullable=True,
        )


def _rewrite(*, seal: bool) -> None:
    """Seal every plaintext secret (or, going down, open every sealed one)."""
    from domain.identity.people import MFA_SECRET
    from domain.settings import load_settings
    from privacy import vault

    bind = op.get_bind()
    rows = [
        r
        for r in bind.execute(
            sa.select(users.c.id, users.c.mfa_secret).where(users.c.mfa_secret.is_not(None))
        ).all()
        if r.mfa_secret.startswith(SEALED_PREFIX) is not seal
    ]
    if not rows:
        return
    keys = load_settings().keys()
    wrapped = {
        r.subject_id: r
        for r in bind.execute(
            sa.select(data_keys).where(data_keys.c.subject_id.in_([r.id for r in rows]))
        ).all()
    }
    for row in rows:
        found = wrapped.get(row.id)
        if found is None or found.kid is None:
            bind.execute(
                sa.update(users)
                .where(users.c.id == row.id)
                .values(mfa_secret=None, mfa_enrolled_at=None)
            )
            continue
        key = vault.unwrap(keys, found.kid, found.wrapped, subject_id=row.id)
        turn = vault.seal if seal else vault.unseal
        value = turn(key, row.mfa_secret, table="users", column=MFA_SECRET, row_id=row.id)
        bind.execute(sa.update(users).where(users.c.id == row.id).values(mfa_secret=value))
