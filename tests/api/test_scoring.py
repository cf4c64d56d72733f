"""Credit scoring through the API: assessments on submission, who sees what, models."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity.models import Role
from domain.risk import registry
from domain.risk.assessment import feature_rows, training_sample
from domain.risk.models import RiskAssessment
from domain.risk.registry import promote, register
from domain.settings import Settings
from kernel.db import session_factory
from scoring.features import EXTERNAL_FEATURES, PLATFORM_FEATURES
from scoring.training import fit
from seed.population import seed_population
from tests import factories as f
from tests.api.conftest import GraphQLClient, make_settings

SEED_DAY = date(2026, 11, 1)
QUICK = {"iterations": 60, "early_stopping_rounds": 20, "validation_folds": 3}

SUBMIT = """
mutation($input: SubmitApplicationInput!) {
  submitApplication(input: $input) { __typename ... on Application { id } }
}
"""
GRANT = """
mutation($input: GrantConsentInput!) { grantConsent(input: $input) { __typename } }
"""
ASSESSMENT = """
query($id: ID!) {
  node(id: $id) {
    ... on Application {
      riskAssessment { grade score probabilityOfDefault modelVersion reasons { feature text } }
    }
  }
}
"""
MODELS = "{ scoringModels { version status calibrator metrics features { name } } }"
MODEL_IDS = "{ scoringModels { id version } }"
MODEL_NODE = "query($id: ID!) { node(id: $id) { ... on ScoringModel { version status } } }"
PROMOTE = """
mutation($input: PromoteScoringModelInput!) {
  promoteScoringModel(input: $input) {
    __typename ... on ScoringModel { version status } ... on UserError { code message }
  }
}
"""
ASSESS = """
mutation($input: AssessApplicationInput!) {
  assessApplication(input: $input) {
    __typename ... on RiskAssessment { grade modelVersion } ... on UserError { code message }
  }
}
"""


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, model_dir=tmp_path / "models")


@dataclass
class Trained:
    version: str
    sample_size: int


async def _train(
    db: AsyncEngine,
    settings: Settings,
    *,
    promote_it: bool = True,
    calibrator: str = "auto",
    external: bool = False,
) -> Trained:
    factory = session_factory(db)
    async with factory() as s:
        sample = await training_sample(s, as_of=SEED_DAY)
    # A small seeded book holds too few defaults to learn from; these tests are about
    # the plumbing, so the model learns a stand-in outcome: the most indebted fifth.
    # (Model quality is measured on real outcomes in bench/ and tests/scoring.)
    ratios = sorted(r["debt_to_asset"] or 0.0 for r in sample.rows)
    cut = ratios[len(ratios) * 4 // 5]
    labels = [int((r["debt_to_asset"] or 0.0) > cut) for r in sample.rows]
    params = {**QUICK, "calibrator": calibrator}
    specs = (*PLATFORM_FEATURES, *EXTERNAL_FEATURES) if external else PLATFORM_FEATURES
    model = fit(sample.rows, labels, specs, seed=1, params=params)
    async with factory() as s, s.begin():
        row = await register(s, model, settings.model_dir, source="test sample")
        if promote_it:
            await promote(s, row.version)
    return Trained(version=row.version, sample_size=len(sample.rows))


@pytest.fixture
async def population(db: AsyncEngine) -> None:
    await seed_population(session_factory(db), enterprises=150, seed=21, keys=f.KEYS)


async def test_a_submitted_application_is_assessed_and_each_role_sees_its_part(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings, population: None
) -> None:
    # given: a champion trained on the seeded history, an owner about to apply. Platt:
    # the stand-in outcome is a cut of one ratio, which an isotonic map makes two steps,
    # and an applicant in the average loan's step has no reason (its PD is the average's)
    trained = await _train(db, settings, calibrator="platt")
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        tokens = [await f.access_token(s, settings, u) for u in (owner, officer)]
    as_owner, as_officer = (gql.as_(t) for t in tokens)
    enterprise_id = f.global_id("Enterprise", enterprise.id)
    await as_owner.data(
        GRANT,
        {
            "input": {
                "subjectId": enterprise_id,
                "purpose": "credit_assessment",
                "recipientInstitutionId": f.global_id("Institution", bank.id),
                "textVersion": "t1",
            }
        },
    )

    # when
    submitted = await as_owner.data(
        SUBMIT,
        {
            "input": {
                "enterpriseId": enterprise_id,
                "productId": f.global_id("Product", product.id),
                "amount": "200000.00",
                "termMonths": 12,
                "repaymentMethod": "ANNUITY",
                "purpose": "new oven line",
            }
        },
    )
    app_id = submitted["submitApplication"]["id"]
    seen_by_owner = await as_owner.post(ASSESSMENT, {"id": app_id})
    seen_by_officer = await as_officer.data(ASSESSMENT, {"id": app_id})

    # then: the applicant sees the grade and the reasons, staff the PD and points too
    staff = seen_by_officer["node"]["riskAssessment"]
    assert staff["modelVersion"] == trained.version
    assert 0.0 < staff["probabilityOfDefault"] < 1.0
    assert staff["grade"] in {"AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"}
    assert 1 <= len(staff["reasons"]) <= 4
    mine = seen_by_owner["data"]["node"]["riskAssessment"]
    assert mine["grade"] == staff["grade"]
    assert mine["reasons"] == staff["reasons"]
    assert mine["probabilityOfDefault"] is None
    assert mine["score"] is None
    denied = {tuple(e["path"][-1:]) for e in seen_by_owner["errors"]}
    assert denied == {("probabilityOfDefault",), ("score",), ("modelVersion",)}


async def test_training_and_scoring_see_the_same_features(
    db: AsyncEngine, settings: Settings, population: None
) -> None:
    # given: the training sample, built from the seeded loans
    factory = session_factory(db)
    async with factory() as s:
        sample = await training_sample(s, as_of=SEED_DAY)

    # when: the live path computes the features of the same applications
    some = sample.application_ids[:25]
    async with factory() as s:
        live = await feature_rows(s, some)

    # then: one code path, identical values
    assert len(sample.rows) > 50
    for application_id, row in zip(some, sample.rows, strict=False):
        assert live[application_id] == row
    # the external features are always there, missing (None) where nothing was fetched
    specs = (*PLATFORM_FEATURES, *EXTERNAL_FEATURES)
    assert set(sample.rows[0]) == {spec.name for spec in specs}
    assert all(row[spec.name] is None for row in sample.rows for spec in EXTERNAL_FEATURES)


async def test_risk_officers_read_the_models_and_promote_a_challenger(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings, population: None
) -> None:
    # given: a champion (Platt-scaled), and a newer, isotonic candidate
    first = await _train(db, settings, calibrator="platt")
    second = await _train(db, settings, promote_it=False, calibrator="isotonic")
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        risk = await f.user(s, roles=[(Role.PLATFORM_RISK_OFFICER, None)])
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        tokens = [await f.access_token(s, settings, u) for u in (risk, officer)]
        loan_application = await s.scalar(
            select(RiskAssessment.application_id).where(RiskAssessment.application_id.is_not(None))
        )
    as_risk, as_officer = (gql.as_(t) for t in tokens)

    # when
    listed = await as_risk.data(MODELS)
    hidden = await as_officer.post(MODELS)
    ids = {m["version"]: m["id"] for m in (await as_risk.data(MODEL_IDS))["scoringModels"]}
    by_id = await as_risk.data(MODEL_NODE, {"id": ids[first.version]})
    by_id_hidden = await as_officer.post(MODEL_NODE, {"id": ids[first.version]})
    promoted = await as_risk.data(PROMOTE, {"input": {"version": second.version}})
    again = await as_risk.data(PROMOTE, {"input": {"version": second.version}})
    reassessed = await as_risk.data(
        ASSESS, {"input": {"applicationId": f.global_id("Application", loan_application)}}
    )

    # then
    statuses = {m["version"]: m["status"] for m in listed["scoringModels"]}
    assert statuses == {first.version: "CHAMPION", second.version: "CANDIDATE"}
    calibrators = {m["version"]: m["calibrator"] for m in listed["scoringModels"]}
    assert calibrators == {first.version: "PLATT", second.version: "ISOTONIC"}
    assert listed["scoringModels"][0]["features"]
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert by_id["node"] == {"version": first.version, "status": "CHAMPION"}
    assert by_id_hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert promoted["promoteScoringModel"] == {
        "__typename": "ScoringModel",
        "version": second.version,
        "status": "CHAMPION",
    }
    assert again["promoteScoringModel"]["code"] == "BAD_USER_INPUT"
    assert reassessed["assessApplication"]["modelVersion"] == second.version
    async with session_factory(db)() as s:
        shadows = await s.scalar(
            select(func.count())
            .select_from(RiskAssessment)
            .where(
                RiskAssessment.application_id == loan_application,
                RiskAssessment.shadow.is_(True),
                RiskAssessment.model_version == first.version,
            )
        )
        served = (
            await s.scalars(
                select(RiskAssessment).where(
                    RiskAssessment.application_id == loan_application,
                    RiskAssessment.shadow.is_(False),
                    RiskAssessment.model_version == second.version,
                )
            )
        ).one()
        second_row = await registry.by_version(s, second.version)
    assert shadows == 1  # the old champion, now a challenger, scored in shadow
    # the isotonic champion's PD is its isotonic map's, not the sigmoid of its log-odds
    model = registry.load(second_row, settings.model_dir)
    assert model.isotonic is not None
    assert served.features is not None
    vector = model.vector(served.features)
    assert served.probability_of_default == pytest.approx(model.pd([vector])[0], abs=1e-9)
    stacked = model.stacked_log_odds([vector])
    assert float(model.isotonic.pd(stacked)[0]) == pytest.approx(served.probability_of_default)


async def test_a_missing_artifact_never_turns_an_applicant_away(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings, population: None
) -> None:
    # given: the champion's file is gone from the store
    trained = await _train(db, settings)
    shutil.rmtree(settings.model_dir / trained.version)
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        token = await f.access_token(s, settings, owner)
    as_owner = gql.as_(token)
    enterprise_id = f.global_id("Enterprise", enterprise.id)
    await as_owner.data(
        GRANT,
        {
            "input": {
                "subjectId": enterprise_id,
                "purpose": "credit_assessment",
                "recipientInstitutionId": f.global_id("Institution", bank.id),
                "textVersion": "t1",
            }
        },
    )

    # when
    submitted = await as_owner.data(
        SUBMIT,
        {
            "input": {
                "enterpriseId": enterprise_id,
                "productId": f.global_id("Product", product.id),
                "amount": "150000.00",
                "termMonths": 12,
                "repaymentMethod": "ANNUITY",
                "purpose": "delivery van",
            }
        },
    )
    seen = await as_owner.data(ASSESSMENT, {"id": submitted["submitApplication"]["id"]})

    # then: submitted, unassessed; nothing scored with an unverified model
    assert submitted["submitApplication"]["__typename"] == "Application"
    assert seen["node"]["riskAssessment"] is None


async def test_a_model_reading_external_data_is_promoted_and_scores(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings, population: None
) -> None:
    # given: a champion, and a candidate that also reads the external data features
    await _train(db, settings)
    challenger = await _train(db, settings, promote_it=False, external=True)
    async with session_factory(db)() as s, s.begin():
        risk = await f.user(s, roles=[(Role.PLATFORM_RISK_OFFICER, None)])
        token = await f.access_token(s, settings, risk)
        loan_application = await s.scalar(
            select(RiskAssessment.application_id).where(RiskAssessment.application_id.is_not(None))
        )
    as_risk = gql.as_(token)
    # when
    promoted = await as_risk.data(PROMOTE, {"input": {"version": challenger.version}})
    reassessed = await as_risk.data(
        ASSESS, {"input": {"applicationId": f.global_id("Application", loan_application)}}
    )
    # then: optional features are servable; the application is scored with them missing
    assert promoted["promoteScoringModel"]["status"] == "CHAMPION"
    assert reassessed["assessApplication"]["modelVersion"] == challenger.version
