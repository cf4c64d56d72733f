"""People's personal values: sealed under each person's own data key, found by blind index."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from domain.identity import repository as repo
from domain.identity.models import USER_SEALED_COLUMNS, OutboxMessage, User, UserStatus
from kernel.base import new_id
from privacy import keystore, vault
from privacy.keys import KeyProvider

EMAIL_INDEX = "users.email"
MFA_SECRET = "mfa_secret"  # noqa: S105 - a column name, not a secret


def email_index(keys: KeyProvider, email: str) -> str:
    return vault.blind_index(keys, email.strip().lower(), column=EMAIL_INDEX)


def email_indexes(keys: KeyProvider, email: str) -> tuple[str, ...]:
    return vault.blind_indexes(keys, email.strip().lower(), column=EMAIL_INDEX)


async def find_by_email(session: AsyncSession, keys: KeyProvider, email: str) -> User | None:
    return await repo.user_by_email_index(session, email_indexes(keys, email))


async def new_user(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    email: str,
    display_name: str,
    status: UserStatus,
    password_hash: str | None = None,
) -> User:
    user_id = new_id()
    key = await keystore.create(session, keys, user_id, "user")
    user = User(
        id=user_id,
        email=vault.seal(key, email, table="users", column="email", row_id=user_id),
        email_bidx=email_index(keys, email),
        display_name=vault.seal(
            key, display_name, table="users", column="display_name", row_id=user_id
        ),
        status=status,
        password_hash=password_hash,
    )
    session.add(user)
    await session.flush()
    return user


async def set_display_name(
    session: AsyncSession, keys: KeyProvider, user: User, display_name: str
) -> None:
    key = (await keystore.unwrap_many(session, keys, [user.id]))[user.id]
    if key is not None:
        user.display_name = vault.seal(
            key, display_name, table="users", column="display_name", row_id=user.id
        )


async def opened(session: AsyncSession, keys: KeyProvider, user: User) -> dict[str, str]:
    """The person's own values, for the rules that need them (mail, password policy)."""
    key = (await keystore.unwrap_many(session, keys, [user.id]))[user.id]
    if key is None:
        return {}
    return {
        column: vault.unseal(
            key, getattr(user, column), table="users", column=column, row_id=user.id
        )
        for column in USER_SEALED_COLUMNS
    }


async def set_mfa_secret(session: AsyncSession, keys: KeyProvider, user: User, secret: str) -> None:
    """Keep a TOTP secret sealed under the person's data key, bound to their row."""
    key = (await keystore.unwrap_many(session, keys, [user.id]))[user.id]
    if key is None:
        raise ValueError("an erased person has no second factor")
    user.mfa_secret = vault.seal(key, secret, table="users", column=MFA_SECRET, row_id=user.id)


async def mfa_secret(session: AsyncSession, keys: KeyProvider, user: User) -> str | None:
    """The person's TOTP secret, opened; None if none was set or the person was erased."""
    if user.mfa_secret is None:
        return None
    key = (await keystore.unwrap_many(session, keys, [user.id]))[user.id]
    if key is None:
        return None
    return vault.unseal(key, user.mfa_secret, table="users", column=MFA_SECRET, row_id=user.id)


def seal_rows(keys: KeyProvider, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Bulk writes (the seed): seal each user row in place; the data key rows to insert."""
    key_rows, plain = keystore.new_key_rows(
        keys, [(row["id"], "user") for row in rows if isinstance(row["id"], uuid.UUID)]
    )
    for row in rows:
        row_id = row["id"]
        assert isinstance(row_id, uuid.UUID)
        email, name = str(row["email"]), str(row["display_name"])
        row["email_bidx"] = email_index(keys, email)
        row["email"] = vault.seal(
            plain[row_id], email, table="users", column="email", row_id=row_id
        )
        row["display_name"] = vault.seal(
            plain[row_id], name, table="users", column="display_name", row_id=row_id
        )
    return key_rows


async def send_mail(
    session: AsyncSession, keys: KeyProvider, user: User, *, to: str, subject: str, body: str
) -> None:
    """Queue a mail to a person, its address and body sealed under their data key."""
    key = (await keystore.unwrap_many(session, keys, [user.id]))[user.id]
    if key is None:  # the person was erased: no mail
        return
    message_id = new_id()
    session.add(
        OutboxMessage(
            id=message_id,
            user_id=user.id,
            recipient=vault.seal(key, to, table="outbox", column="recipient", row_id=message_id),
            subject=subject,
            body=vault.seal(key, body, table="outbox", column="body", row_id=message_id),
        )
    )


async def read_mail(
    session: AsyncSession, keys: KeyProvider, messages: list[OutboxMessage]
) -> list[tuple[str, str]]:
    """(recipient, body) of each message, opened; ("", "") when its person was erased."""
    owners = [m.user_id for m in messages if m.user_id is not None]
    opened = await keystore.unwrap_many(session, keys, owners)
    result = []
    for message in messages:
        key = opened.get(message.user_id) if message.user_id else None
        if key is None:
            result.append(("", ""))
            continue
        result.append(
            tuple(  # type: ignore[arg-type]
                vault.unseal(
                    key, getattr(message, column), table="outbox", column=column, row_id=message.id
                )
                for column in ("recipient", "body")
            )
        )
    return result
