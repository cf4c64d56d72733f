"""Stored external data as optional scoring features: present only when fetched for
credit assessment, during the application's assessment, under consent in force."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.privacy import consent
from domain.providers.models import ExternalDataKind, ExternalDataRecord
from domain.risk.assessment import ASSESSMENT_WINDOW, feature_rows
from scoring.features import EXTERNAL_FEATURES, PLATFORM_FEATURES, external_features
from scoring.model import vectorise
from tests import factories as f

BUREAU = {
    "score": 640,
    "openCreditLines": 3,
    "overdueAccounts": 2,
    "maxDaysPastDue": 45,
    "enquiriesLast6Months": 5,
    "outstandingDebt": "120000.00",
}
REGISTRY = {
    "status": "active",
    "registeredCapital": "500000.00",
    "establishedOn": "2015-03-01",
    "insuredEmployees": 20,
    "nameMatches": True,
    "foundedOnMatches": True,
    "legalRepresentativeMatches": None,
}
STATEMENTS = {
    "months": 12,
    "averageMonthlyInflow": "200000.00",
    "averageMonthlyOutflow": "190000.00",
    "lowestEndingBalance": "-38000.00",
    "inflowVariation": 0.21,
}
NAMES = [s.name for s in EXTERNAL_FEATURES]


def test_external_features_are_missing_without_records_and_read_from_facts() -> None:
    # when
    none = external_features(None)
    some = external_features({"credit_bureau": BUREAU, "bank_statement": STATEMENTS})
    registry = external_features({"business_registry": {**REGISTRY, "nameMatches": False}})
    # then
    assert list(none) == NAMES
    assert all(v is None for v in none.values())
    assert some["bureau_score"] == 640.0
    assert some["bureau_max_dpd"] == 45.0
    assert some["bureau_overdue_accounts"] == 2.0
    assert some["balance_to_outflow"] == -0.2  # overdrawn by a fifth of a month's outflow
    assert some["inflow_variation"] == 0.21
    assert some["registry_status"] is None  # not fetched
    assert registry["registry_status"] == "active"
    assert registry["registry_agrees"] == 0.0
    # and a model reading them sees a missing value, never a stand-in
    vector = vectorise(EXTERNAL_FEATURES, none)
    assert vector[NAMES.index("registry_status")] == "missing"


async def _record(
    session: AsyncSession,
    enterprise_id: object,
    kind: ExternalDataKind,
    facts: dict[str, object],
    *,
    purpose: str = "credit_assessment",
    late: bool = False,
) -> None:
    fetched = f.FIXED_NOW + (ASSESSMENT_WINDOW + timedelta(days=1) if late else timedelta(days=2))
    session.add(
        ExternalDataRecord(
            enterprise_id=enterprise_id,
            kind=kind,
            source="simulated",
            as_of=fetched.date(),
            fetched_at=fetched,
            content_hash="0" * 64,
            facts=facts,
            personal=None,
            purpose=purpose,
        )
    )
    await session.flush()


async def test_feature_rows_read_stored_records_only_under_consent(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: four applicants to one bank; the bureau answered about each
    async with sessions() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        as_owner = Viewer(user_id=owner.id)
        apps = {}
        for name in ("consented", "silent", "other purpose", "late"):
            enterprise = await f.enterprise(s, owner_id=owner.id)
            apps[name] = await f.application(s, enterprise_id=enterprise.id, product_row=product)
            late = name == "late"
            purpose = "product_recommendation" if name == "other purpose" else "credit_assessment"
            await _record(
                s, enterprise.id, ExternalDataKind.CREDIT_BUREAU, BUREAU, purpose=purpose, late=late
            )
            if name != "silent":
                await consent.grant(
                    s,
                    viewer=as_owner,
                    subject_id=enterprise.id,
                    purpose="credit_assessment",
                    recipient_institution_id=bank.id,
                    expires_at=None,
                    text_version="t1",
                    channel="web",
                )
        await _record(
            s, apps["consented"].enterprise_id, ExternalDataKind.BUSINESS_REGISTRY, REGISTRY
        )
    # when
    async with sessions() as s:
        rows = await feature_rows(s, [a.id for a in apps.values()])
    by_name = {name: rows[a.id] for name, a in apps.items()}
    # then: every row holds the platform's and the external features
    for row in by_name.values():
        assert {s.name for s in (*PLATFORM_FEATURES, *EXTERNAL_FEATURES)} <= set(row)
    assert by_name["consented"]["bureau_score"] == 640.0
    assert by_name["consented"]["registry_status"] == "active"
    assert by_name["consented"]["inflow_variation"] is None  # no statements fetched
    # no consent, fetched for another purpose, or fetched after the assessment: missing
    for name in ("silent", "other purpose", "late"):
        assert all(by_name[name][n] is None for n in NAMES), name

    # when: the owner withdraws the consent
    async with sessions() as s, s.begin():
        await consent.withdraw(
            s,
            viewer=as_owner,
            subject_id=apps["consented"].enterprise_id,
            purpose="credit_assessment",
            recipient_institution_id=bank.id,
            channel="web",
        )
    async with sessions() as s:
        withdrawn = (await feature_rows(s, [apps["consented"].id]))[apps["consented"].id]
    # then: its stored records no longer score it
    assert all(withdrawn[n] is None for n in NAMES)
