"""The demo logins printed at first start really sign in, staff with their TOTP secret."""

from __future__ import annotations

from datetime import date

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.identity import service
from domain.settings import load_settings
from seed import seed_population
from seed.demo import demo_logins
from tests import factories as f


async def test_every_demo_login_signs_in(sessions: async_sessionmaker[AsyncSession]) -> None:
    # given
    await seed_population(sessions, enterprises=20, seed=5, keys=f.KEYS, as_of=date(2026, 11, 1))
    settings = load_settings(secret_key="demo-test-key-" + "d" * 32, **f.KEYS.env_values())

    # when
    logins = await demo_logins(sessions, f.KEYS)
    outcomes = []
    async with sessions() as session, session.begin():
        for login in logins:
            first = await service.login(
                session,
                settings,
                email=login.email,
                password=login.password,
                origin=service.Origin(),
            )
            if isinstance(first, service.MfaChallenge):
                assert login.totp_secret is not None
                first = await service.verify_mfa(
                    session,
                    settings,
                    mfa_token=first.mfa_token,
                    code=pyotp.TOTP(login.totp_secret).now(),
                    recovery_code=None,
                    origin=service.Origin(),
                )
            outcomes.append(type(first).__name__)

    # then
    assert {login.role.split(" ")[0] for login in logins} == {
        "sme_owner",
        "loan_officer",
        "risk_officer",
        "institution_admin",
        "platform_risk_officer",
        "privacy_officer",
        "auditor",
        "platform_admin",
        "verification_officer",
    }
    assert outcomes == ["Tokens"] * len(logins)
    assert [login.totp_secret is None for login in logins].count(True) == 1  # the owner
