"""From stored rows to credit assessments: the one place the database meets the scoring code.

Features are computed by ``scoring.features.features`` for training and for live
scoring alike; this module only gathers what that function reads, set-wise (a handful
of statements for any number of applications), as it was known when each application
was submitted: statements of earlier fiscal years, loans disbursed before it.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications.models import Application
from domain.enterprises.models import Enterprise, FinancialStatement
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.lending.models import Installment, Loan, LoanStatus
from domain.privacy.consent import consented
from domain.products.models import Product
from domain.providers.models import ExternalDataRecord
from domain.providers.service import STAFF_PURPOSE
from domain.risk import ratings, registry
from domain.risk.models import RiskAssessment
from domain.risk.registry import ModelCache
from kernel.base import new_id, utcnow
from kernel.errors import Forbidden, InvalidInput, NotFound
from scoring import features as feat
from scoring.inference import Scorer
from scoring.model import ModelMismatch
from scoring.models import ModelStatus, ScoringModelRecord
from scoring.scorecard import MasterScale, Scorecard

log = logging.getLogger("lendgraph.scoring")

# Who may ask for a fresh assessment: the institution's credit staff, platform risk.
ASSESSORS = frozenset(
    {Role.LOAN_OFFICER, Role.RISK_OFFICER, Role.INSTITUTION_ADMIN, Role.PARTNER_SERVICE}
)
# A loan counts as defaulted once 90 days past due or written off (Basel's definition).
DEFAULT_DAYS = 90
# Loans younger than this have not had time to show how they perform.
SEASONED = timedelta(days=180)
# External data counts for an application when fetched by this long after it was
# submitted (while it was being assessed): a bureau report pulled later, after the loan
# went bad, would tell a model the outcome it is meant to predict.
ASSESSMENT_WINDOW = timedelta(days=30)


@dataclass
class Scoring:
    """The process's scoring: the models in service, each loaded once per version."""

    store: Path
    scorecard: Scorecard = field(default_factory=Scorecard)
    scale: MasterScale = field(default_factory=MasterScale)
    cache: ModelCache = field(init=False)

    def __post_init__(self) -> None:
        self.cache = ModelCache(self.store)

    async def scorers(self, session: AsyncSession) -> list[tuple[ScoringModelRecord, Scorer]]:
        """The champion first, then the challengers; empty when no model is in service.

        A model whose artifact is missing or altered is left out and logged: an applicant
        is never turned away because a file went astray, and nothing scores with a model
        that is not the one registered.
        """
        found = []
        for row in await registry.in_service(session):
            try:
                model = self.cache.get(row)
            except (registry.ArtifactMismatch, ModelMismatch):
                log.exception("scoring model %s cannot be loaded; not scoring with it", row.version)
                continue
            found.append((row, Scorer(model, self.scorecard, self.scale, version=row.version)))
        return found

    async def scorer_of(self, session: AsyncSession, version: str) -> Scorer:
        """A scorer of one registered version, whatever its status (a split job scores
        with the champion of when it started, to the last chunk)."""
        row = await registry.by_version(session, version)
        return Scorer(self.cache.get(row), self.scorecard, self.scale, version=row.version)


_PROCESS_SCORING: dict[Path, Scoring] = {}


def scoring_for(store: Path) -> Scoring:
    """One Scoring per model store per process: models are read from disk once."""
    found = _PROCESS_SCORING.get(store)
    if found is None:
        found = _PROCESS_SCORING[store] = Scoring(store)
    return found


# ------------------------------------------------------------------------------ features


@dataclass(frozen=True, slots=True)
class FeatureInputs:
    """What ``scoring.features.features`` reads for one application, as of its submission."""

    profile: feat.Profile
    statements: tuple[feat.Statement, ...]
    request: feat.Request
    history: feat.History | None
    as_of: date
    # Facts of the newest usable external record of each kind (see ``feature_inputs``).
    external: dict[str, dict[str, Any]] | None = None

    def row(self, request: feat.Request | None = None) -> dict[str, Any]:
        """The model row; with ``request``, the row had the application asked for that.
        It always holds EXTERNAL_FEATURES too (None where unknown): a model trained
        without them reads none of them."""
        return {
            **feat.features(
                self.profile,
                self.statements,
                request or self.request,
                self.history,
                as_of=self.as_of,
            ),
            **feat.external_features(self.external),
        }


async def feature_inputs(
    session: AsyncSession, application_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, FeatureInputs]:
    """Each application's feature inputs as they stood when it was submitted; five statements."""
    ids = list(dict.fromkeys(application_ids))
    if not ids:
        return {}
    applications = (await session.scalars(select(Application).where(Application.id.in_(ids)))).all()
    enterprise_ids = {a.enterprise_id for a in applications}
    enterprises = {
        e.id: e
        for e in (
            await session.scalars(select(Enterprise).where(Enterprise.id.in_(enterprise_ids)))
        ).all()
    }
    statements: dict[uuid.UUID, list[FinancialStatement]] = defaultdict(list)
    for s in (
        await session.scalars(
            select(FinancialStatement)
            .where(FinancialStatement.enterprise_id.in_(enterprise_ids))
            .order_by(FinancialStatement.enterprise_id, FinancialStatement.fiscal_year.desc())
        )
    ).all():
        statements[s.enterprise_id].append(s)
    products = {
        pk: (kind, institution_id)
        for pk, kind, institution_id in (
            await session.execute(
                select(Product.id, Product.type, Product.institution_id).where(
                    Product.id.in_({a.product_id for a in applications})
                )
            )
        ).all()
    }
    history = await _histories(session, enterprise_ids)
    external = await _external_records(session, enterprise_ids)
    found = {}
    for application in applications:
        moment = application.submitted_at or application.created_at
        as_of = moment.date()
        enterprise = enterprises[application.enterprise_id]
        found[application.id] = FeatureInputs(
            profile=_profile(enterprise),
            statements=tuple(
                _statement(s) for s in statements[enterprise.id] if s.fiscal_year < as_of.year
            ),
            request=feat.Request(
                amount=application.amount,
                term_months=application.term_months,
                product_type=products[application.product_id][0].value,
                repayment_method=application.repayment_method.value,
            ),
            history=_history_before(history.get(enterprise.id, []), as_of, application.id),
            as_of=as_of,
            external=_external_for(
                external.get(enterprise.id), products[application.product_id][1], moment
            ),
        )
    return found


@dataclass(frozen=True, slots=True)
class _External:
    records: list[ExternalDataRecord]  # fetched for credit assessment, oldest first
    consented_to: frozenset[uuid.UUID | None]  # recipients (None: any institution)


async def _external_records(
    session: AsyncSession, enterprise_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, _External]:
    """Each enterprise's external records fetched for credit assessment, and to whom
    its consent to credit assessment is in force now (a withdrawal stops their use)."""
    ids = list(enterprise_ids)
    rows = (
        await session.scalars(
            select(ExternalDataRecord)
            .where(
                ExternalDataRecord.enterprise_id.in_(ids),
                ExternalDataRecord.purpose == STAFF_PURPOSE,
            )
            .order_by(ExternalDataRecord.id)
        )
    ).all()
    if not rows:
        return {}
    consents = await consented(session, subject_ids=ids, purpose=STAFF_PURPOSE, now=utcnow())
    grouped: dict[uuid.UUID, list[ExternalDataRecord]] = defaultdict(list)
    for record in rows:
        grouped[record.enterprise_id].append(record)
    return {e: _External(found, consents.get(e, frozenset())) for e, found in grouped.items()}


def _external_for(
    known: _External | None, institution_id: uuid.UUID, submitted: datetime
) -> dict[str, dict[str, Any]] | None:
    """The facts of the newest record of each kind fetched by ``ASSESSMENT_WINDOW``
    after submission, when consent to credit assessment by the application's
    institution (or any) is in force; None when there are none."""
    if known is None or not ({None, institution_id} & known.consented_to):
        return None
    until = submitted + ASSESSMENT_WINDOW
    found = {r.kind.value: r.facts for r in known.records if r.fetched_at <= until}
    return found or None


async def enterprise_feature_inputs(
    session: AsyncSession, enterprise: Enterprise, *, as_of: date, request: feat.Request
) -> FeatureInputs:
    """An enterprise's inputs as of a day for a request it has not made (pre-scoring):
    what ``feature_inputs`` reads for an application, with no application."""
    statements = (
        await session.scalars(
            select(FinancialStatement)
            .where(
                FinancialStatement.enterprise_id == enterprise.id,
                FinancialStatement.fiscal_year < as_of.year,
            )
            .order_by(FinancialStatement.fiscal_year.desc())
        )
    ).all()
    history = await _histories(session, [enterprise.id])
    return FeatureInputs(
        profile=_profile(enterprise),
        statements=tuple(_statement(s) for s in statements),
        request=request,
        history=_history_before(history.get(enterprise.id, []), as_of, None),
        as_of=as_of,
    )


async def feature_rows(
    session: AsyncSession, application_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Each application's features as they stood when it was submitted; five statements."""
    inputs = await feature_inputs(session, application_ids)
    return {application_id: given.row() for application_id, given in inputs.items()}


@dataclass(frozen=True, slots=True)
class _PastLoan:
    application_id: uuid.UUID
    disbursed_on: date
    # (due, settled) of each instalment: enough to replay the loan as of any day.
    instalments: tuple[tuple[date, date | None], ...]


async def _histories(
    session: AsyncSession, enterprise_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[_PastLoan]]:
    """Every loan of these enterprises with its instalments' due and settlement days."""
    stmt = (
        select(
            Loan.enterprise_id,
            Loan.id,
            Loan.application_id,
            Loan.disbursed_on,
            Installment.due_on,
            Installment.settled_on,
        )
        .join(Installment, Installment.loan_id == Loan.id)
        .where(Loan.enterprise_id.in_(list(enterprise_ids)))
        .order_by(Loan.id, Installment.sequence)
    )
    grouped: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, date, list[tuple[date, date | None]]]]
    grouped = {}
    for enterprise_id, loan_id, application_id, disbursed_on, due, settled in (
        await session.execute(stmt)
    ).all():
        entry = grouped.setdefault(loan_id, (enterprise_id, application_id, disbursed_on, []))
        entry[3].append((due, settled))
    found: dict[uuid.UUID, list[_PastLoan]] = defaultdict(list)
    for enterprise_id, application_id, disbursed_on, lines in grouped.values():
        found[enterprise_id].append(_PastLoan(application_id, disbursed_on, tuple(lines)))
    return found


def _history_before(
    loans: list[_PastLoan], as_of: date, application_id: uuid.UUID | None
) -> feat.History | None:
    """The enterprise's record with earlier loans as it stood on ``as_of``: nothing that
    happened later may leak into what a model learns or scores."""
    earlier = [
        loan
        for loan in loans
        if loan.disbursed_on < as_of and loan.application_id != application_id
    ]
    if not earlier:
        return None
    worst, late = 0, 0
    for loan in earlier:
        for due, settled in loan.instalments:
            if due >= as_of:
                continue
            if settled is None or settled >= as_of:  # still unpaid on that day
                worst = max(worst, (as_of - due).days)
            elif settled > due:  # paid, late
                late += 1
                worst = max(worst, (settled - due).days)
    return feat.History(max_days_past_due=worst, late_instalments=late, loans_before=len(earlier))


def _profile(enterprise: Enterprise) -> feat.Profile:
    return feat.Profile(
        industry=enterprise.industry,
        region=enterprise.region,
        founded_on=enterprise.founded_on,
        employee_count=enterprise.employee_count,
        annual_revenue=enterprise.annual_revenue,
    )


def _statement(row: FinancialStatement) -> feat.Statement:
    return feat.Statement(**{f.name: getattr(row, f.name) for f in fields(feat.Statement)})


# ---------------------------------------------------------------------------- assessing


async def assess_application(
    session: AsyncSession, application: Application, scoring: Scoring
) -> RiskAssessment | None:
    """Score with the champion (stored as the assessment) and challengers (in shadow).

    None when no model is in service: the application goes on without an assessment.
    """
    scorers = await scoring.scorers(session)
    if not scorers:
        return None
    row = (await feature_rows(session, [application.id]))[application.id]
    now = utcnow()
    stored: list[RiskAssessment] = []
    for model, scorer in scorers:
        result = scorer.assess(row, with_reasons=True)
        stored.append(
            RiskAssessment(
                application_id=application.id,
                enterprise_id=application.enterprise_id,
                probability_of_default=result.pd,
                score=result.score,
                grade=result.grade,
                reasons=list(result.reasons),
                model_version=model.version,
                assessed_at=now,
                shadow=model.status is not ModelStatus.CHAMPION,
                features=_jsonable(row),
            )
        )
    session.add_all(stored)
    await session.flush()
    champion = next((a for a in stored if not a.shadow), None)
    if champion is not None:
        await ratings.record(session, champion)
    return champion


async def reassess(
    session: AsyncSession, actor: Any, application_id: uuid.UUID, *, scoring: Scoring
) -> RiskAssessment:
    """An officer asks for a fresh assessment (new statements filed, a new champion)."""
    from domain.applications import repository as applications

    viewer: Viewer = actor.viewer
    application = await applications.application_for_change(
        session, viewer=viewer, application_id=application_id
    )
    if application is None:
        raise NotFound("no such application")
    if not (
        viewer.institution_roles.get(application.institution_id, frozenset()) & ASSESSORS
        or Role.PLATFORM_RISK_OFFICER in viewer.platform_roles
    ):
        raise Forbidden("only the institution's credit staff or platform risk officers assess")
    assessed = await assess_application(session, application, scoring)
    if assessed is None:
        raise InvalidInput(
            "no scoring model is in service: train one (`lendgraph model train`) and promote it"
        )
    return assessed


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v if isinstance(v, str | int | float) or v is None else str(v)) for k, v in row.items()
    }


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True, slots=True)
class Sample:
    rows: list[dict[str, Any]]
    labels: list[int]
    application_ids: list[uuid.UUID]
    as_of: date


async def training_sample(session: AsyncSession, *, as_of: date | None = None) -> Sample:
    """Every seasoned loan with its outcome: 1 when it defaulted (90+ days past due or
    written off), else 0; features as they stood when its application was submitted."""
    day = as_of or utcnow().date()
    stmt = select(Loan.application_id, Loan.status, Loan.days_past_due).where(
        Loan.disbursed_on <= day - SEASONED
    )
    outcomes = {
        application_id: int(status is LoanStatus.WRITTEN_OFF or dpd >= DEFAULT_DAYS)
        for application_id, status, dpd in (await session.execute(stmt)).all()
    }
    ids = sorted(outcomes)
    rows: dict[uuid.UUID, dict[str, Any]] = {}
    for start in range(0, len(ids), 2000):
        rows.update(await feature_rows(session, ids[start : start + 2000]))
    return Sample(
        rows=[rows[i] for i in ids],
        labels=[outcomes[i] for i in ids],
        application_ids=ids,
        as_of=day,
    )


async def score_portfolio(
    session: AsyncSession,
    scoring: Scoring,
    *,
    chunk: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Re-score every active loan's application with the champion, in chunks, in this
    process (the ``portfolio_scoring`` job splits the same work among workers).

    Only the ids are held; features, scores and inserts go chunk by chunk. The new
    assessments become each application's latest, and the ratings of the enterprises
    whose grade they change.
    """
    scorers = await scoring.scorers(session)
    if not scorers:
        raise InvalidInput("no scoring model is in service: train one and promote it")
    model, scorer = scorers[0]
    ids = await active_loans(session)
    now = utcnow()
    done = 0
    for start in range(0, len(ids), chunk):
        done += await score_loans(session, ids[start : start + chunk], model.version, scorer, now)
        if progress is not None:
            progress(done, len(ids))
    return done


async def active_loans(
    session: AsyncSession, *, after: uuid.UUID | None = None, upto: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """The ids of the active loans, in id order; with bounds, those in (after, upto]."""
    stmt = select(Loan.id).where(Loan.status == LoanStatus.ACTIVE).order_by(Loan.id)
    if after is not None:
        stmt = stmt.where(Loan.id > after)
    if upto is not None:
        stmt = stmt.where(Loan.id <= upto)
    return list((await session.scalars(stmt)).all())


async def score_loans(
    session: AsyncSession,
    loan_ids: Sequence[uuid.UUID],
    version: str,
    scorer: Scorer,
    assessed_at: datetime,
) -> int:
    """Assess these loans' applications with one model, as one column batch with its
    reasons; insert the assessments and the rating changes. The number scored."""
    if not loan_ids:
        return 0
    loans = (
        await session.execute(
            select(Loan.application_id, Loan.enterprise_id)
            .where(Loan.id.in_(list(loan_ids)))
            .order_by(Loan.id)
        )
    ).all()
    application_ids = [application_id for application_id, _ in loans]
    rows = await feature_rows(session, application_ids)
    ordered = [rows[i] for i in application_ids]
    scores = scorer.score_columns(scorer.columns(ordered), with_reasons=True)
    assert scores.reasons is not None
    grades = scores.grades()
    values = [
        {
            "id": new_id(),
            "application_id": application_id,
            "enterprise_id": enterprise_id,
            "probability_of_default": pd,
            "score": points,
            "grade": grade,
            "reasons": reasons,
            "model_version": version,
            "assessed_at": assessed_at,
            "shadow": False,
            "features": _jsonable(row),
        }
        for (application_id, enterprise_id), row, pd, points, grade, reasons in zip(
            loans,
            ordered,
            scores.pd.tolist(),
            scores.score.tolist(),
            grades,
            scores.reasons,
            strict=True,
        )
    ]
    await session.execute(insert(RiskAssessment), values)
    await ratings.record_many(session, values)
    return len(values)


async def scored_by(session: AsyncSession, version: str, assessed_at: datetime) -> int:
    """How many assessments one re-scoring wrote: its model's, at its one time."""
    stmt = select(func.count()).where(
        RiskAssessment.model_version == version,
        RiskAssessment.assessed_at == assessed_at,
        RiskAssessment.shadow.is_(False),
    )
    return int(await session.scalar(stmt) or 0)
