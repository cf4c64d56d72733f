"""Sign-in details for a few seeded accounts, made when the demo population is seeded.

Seeded accounts have no password. For the demo, a handful get a fresh random
password (printed once, never stored in the repository), and staff among them a
TOTP secret already enrolled, so the second factor works from the printed secret
(`python -c "import pyotp; print(pyotp.TOTP('SECRET').now())"` or any authenticator).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.identity import people, security
from domain.identity.models import Institution, Membership, Role
from kernel.base import utcnow
from privacy.keys import KeyProvider
from seed.catalog import DEMO_DOMAIN


@dataclass(frozen=True, slots=True)
class DemoLogin:
    email: str
    password: str
    role: str
    totp_secret: str | None


async def demo_logins(
    sessions: async_sessionmaker[AsyncSession], keys: KeyProvider
) -> list[DemoLogin]:
    async with sessions() as session, session.begin():
        first_code = await session.scalar(select(Institution.code).order_by(Institution.code))
        handle = (first_code or "").lower()
        # One login per role. Alerts are worked by the staff of the loan's institution,
        # so the institution's risk officer is the one who works them; the platform's
        # keeps the rules, the warning system and the models.
        wanted = [
            (f"owner0001@{DEMO_DOMAIN}", Role.SME_OWNER),
            (f"officer1.{handle}@{DEMO_DOMAIN}", Role.LOAN_OFFICER),
            (f"risk.{handle}@{DEMO_DOMAIN}", Role.RISK_OFFICER),
            (f"admin.{handle}@{DEMO_DOMAIN}", Role.INSTITUTION_ADMIN),
            (f"risk@{DEMO_DOMAIN}", Role.PLATFORM_RISK_OFFICER),
            (f"privacy@{DEMO_DOMAIN}", Role.PRIVACY_OFFICER),
            (f"auditor@{DEMO_DOMAIN}", Role.AUDITOR),
            (f"admin@{DEMO_DOMAIN}", Role.PLATFORM_ADMIN),
            (f"verification@{DEMO_DOMAIN}", Role.VERIFICATION_OFFICER),
        ]
        logins = []
        for email, role in wanted:
            user = await people.find_by_email(session, keys, email)
            if user is None:
                continue
            held = await session.scalar(
                select(Membership.id).where(Membership.user_id == user.id, Membership.role == role)
            )
            if held is None:
                continue
            password = secrets.token_urlsafe(12)
            user.password_hash = security.hash_password(password)
            secret = None
            if role is not Role.SME_OWNER:
                secret = security.new_totp_secret()
                await people.set_mfa_secret(session, keys, user, secret)
                user.mfa_enrolled_at = utcnow()
            label = f"{role.value} ({first_code})" if role in _IN_INSTITUTION else role.value
            logins.append(DemoLogin(email, password, label, secret))
        return logins


_IN_INSTITUTION = frozenset({Role.LOAN_OFFICER, Role.RISK_OFFICER, Role.INSTITUTION_ADMIN})
