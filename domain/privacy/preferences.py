"""A person's privacy preferences, and the conditions every feature that uses the data
asks of them.

Four switches, each with a default chosen so that nothing starts without the person:

- ``marketing`` (off until switched on): the platform's marketing mail (a new product
  published) is queued in the outbox only for people who switched it on;
- ``product_recommendations`` (on): ``recommendedProducts`` ranks products for an
  enterprise only while its owner allows it;
- ``share_with_institutions`` (on): an owner's consents to institutions count only
  while it is on (``domain.privacy.consent.active_grants``), so institution staff see the
  enterprise's personal values masked unless another lawful basis holds, and a new
  application asks for consent again;
- ``share_with_providers`` (on): partner systems (service-account tokens) see the
  enterprise only while it is on (``domain.enterprises.repository.visible``).

The switches are the person's, applied to every enterprise they own. Each change is
written to the audit log with the values before and after.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from domain.audit.service import record as audit
from domain.identity import people
from domain.identity.models import User, UserStatus
from domain.identity.viewer import Viewer
from domain.privacy.models import PrivacyPreference
from kernel.base import utcnow
from kernel.errors import Forbidden, InvalidInput
from privacy.keys import KeyProvider


@dataclass(frozen=True, slots=True)
class Preferences:
    marketing: bool = False
    product_recommendations: bool = True
    share_with_institutions: bool = True
    share_with_providers: bool = True
    updated_at: datetime | None = None  # None: never changed, the defaults

    @classmethod
    def of(cls, row: PrivacyPreference | None) -> Preferences:
        if row is None:
            return cls()
        return cls(
            marketing=row.marketing,
            product_recommendations=row.product_recommendations,
            share_with_institutions=row.share_with_institutions,
            share_with_providers=row.share_with_providers,
            updated_at=row.updated_at,
        )

    def switches(self) -> dict[str, bool]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "updated_at"}


SWITCHES = frozenset(Preferences().switches())


async def of_user(session: AsyncSession, user_id: uuid.UUID) -> Preferences:
    return Preferences.of(await session.get(PrivacyPreference, user_id))


async def change(
    session: AsyncSession,
    *,
    viewer: Viewer,
    changes: Mapping[str, bool],
    request_id: str | None = None,
) -> Preferences:
    """Set some of the signed-in person's switches; the others keep their values."""
    if viewer.user_id is None:
        raise Forbidden("only a person has privacy preferences")
    unknown = set(changes) - SWITCHES
    if unknown:
        raise InvalidInput(f"no preference {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    row = await session.get(PrivacyPreference, viewer.user_id, with_for_update=True)
    before = Preferences.of(row)
    if row is None:
        row = PrivacyPreference(user_id=viewer.user_id, **before.switches())
        session.add(row)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    await session.flush()
    after = Preferences.of(row)
    audit(
        session,
        action="privacy.preferences_changed",
        entity_type="User",
        entity_id=viewer.user_id,
        actor_id=viewer.user_id,
        request_id=request_id,
        before=before.switches(),
        after=after.switches(),
    )
    return after


def switched_off(
    switch: str, owner: InstrumentedAttribute[uuid.UUID] | InstrumentedAttribute[uuid.UUID | None]
) -> ColumnElement[bool]:
    """True where the person ``owner`` names switched ``switch`` (on by default) off: the
    condition the features that honour it put in their SQL."""
    row = aliased(PrivacyPreference)
    return exists().where(row.user_id == owner, getattr(row, switch).is_(False))


async def allows(session: AsyncSession, user_id: uuid.UUID | None, switch: str) -> bool:
    """Whether a person's switch is on (their defaults when they never changed it)."""
    if user_id is None:  # an enterprise with no owner account: the defaults
        return bool(getattr(Preferences(), switch))
    return bool(getattr(await of_user(session, user_id), switch))


async def send_marketing(
    session: AsyncSession, keys: KeyProvider, *, subject: str, body: str
) -> int:
    """Queue a marketing mail for every active person who switched marketing on; how many."""
    stmt = (
        select(User)
        .join(PrivacyPreference, PrivacyPreference.user_id == User.id)
        .where(PrivacyPreference.marketing.is_(True), User.status == UserStatus.ACTIVE)
        .order_by(User.id)
    )
    recipients = (await session.scalars(stmt)).all()
    for user in recipients:
        address = (await people.opened(session, keys, user)).get("email")
        if address is not None:
            await people.send_mail(session, keys, user, to=address, subject=subject, body=body)
    return len(recipients)
