"""Every SQL statement of the risk context."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Select,
    Subquery,
    Table,
    bindparam,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ScalarSelect

from domain.applications import repository as applications
from domain.applications.models import Application, ApplicationStatus
from domain.enterprises import repository as enterprises
from domain.enterprises.models import Enterprise
from domain.identity.viewer import Viewer
from domain.risk.models import CreditRating, RiskAssessment
from kernel.pagination import Keyset, first_n_per_group

LATEST = Keyset("latest", (RiskAssessment.assessed_at, RiskAssessment.id), descending=True)


async def latest_assessments_by_application_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[RiskAssessment]:
    """The newest assessment of each application the caller already holds."""
    stmt = first_n_per_group(
        select(RiskAssessment).where(
            RiskAssessment.application_id.in_(ids), RiskAssessment.shadow.is_(False)
        ),
        entity=RiskAssessment,
        partition_by=RiskAssessment.application_id,
        keyset=LATEST,
        limit=1,
    )
    return (await session.scalars(stmt)).all()


async def assessments_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[RiskAssessment]:
    """Assessments whose application the viewer may see."""
    visible = applications.scoped(select(Application.id), viewer)
    stmt = select(RiskAssessment).where(
        RiskAssessment.id.in_(ids), RiskAssessment.application_id.in_(visible)
    )
    return (await session.scalars(stmt)).all()


# ------------------------------------------------------------------------ rating history

NEWEST_RATING = Keyset("newest_rating", (CreditRating.rated_at, CreditRating.id), descending=True)


async def latest_ratings_by_enterprise_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[CreditRating]:
    """The rating in force of each enterprise the caller already holds."""
    stmt = first_n_per_group(
        select(CreditRating).where(CreditRating.enterprise_id.in_(ids)),
        entity=CreditRating,
        partition_by=CreditRating.enterprise_id,
        keyset=NEWEST_RATING,
        limit=1,
    )
    return (await session.scalars(stmt)).all()


async def ratings_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[CreditRating]:
    """Ratings of the enterprises the viewer may see (a rating is seen with its rated)."""
    visible = enterprises.scoped(select(Enterprise.id), viewer)
    stmt = select(CreditRating).where(
        CreditRating.id.in_(ids), CreditRating.enterprise_id.in_(visible)
    )
    return (await session.scalars(stmt)).all()


async def ratings_by_enterprise_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[CreditRating]:
    """Every rating of the enterprises the caller already holds, newest first."""
    stmt = select(CreditRating).where(CreditRating.enterprise_id.in_(ids))
    order = [c.desc() for c in NEWEST_RATING.columns]
    return (await session.scalars(stmt.order_by(CreditRating.enterprise_id, *order))).all()


async def latest_grades(
    session: AsyncSession, *, enterprise_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Each enterprise's grade in force; enterprises never rated are left out."""
    if not enterprise_ids:
        return {}
    ranked = (
        select(
            CreditRating.enterprise_id,
            CreditRating.grade,
            _newest_first(CreditRating.enterprise_id).label("rn"),
        )
        .where(CreditRating.enterprise_id.in_(list(enterprise_ids)))
        .subquery()
    )
    stmt = select(ranked.c.enterprise_id, ranked.c.grade).where(ranked.c.rn == 1)
    return dict((await session.execute(stmt)).all())


# ------------------------------------------------------------------ the PD in force


def pd_in_force(
    enterprise_id: Any, before: datetime | None, *, column: Any = None
) -> ScalarSelect[Any]:
    """The newest champion (non-shadow) PD of ``enterprise_id`` assessed before ``before``
    (None: the newest), or ``column`` of that assessment: one probe of the champion-PD
    index (``ix_risk_assessments_champion_pd``) per borrower."""
    ra = RiskAssessment
    stmt = select(ra.probability_of_default if column is None else column).where(
        ra.enterprise_id == enterprise_id, ra.shadow.is_(False)
    )
    if before is not None:
        stmt = stmt.where(ra.assessed_at < before)
    return stmt.order_by(ra.assessed_at.desc(), ra.id.desc()).limit(1).scalar_subquery()


_ENTERPRISES = cast(Table, Enterprise.__table__)
# Not a profile change: the enterprise's change stamp is kept as it was.
_KEEP_STAMP = {"updated_at": _ENTERPRISES.c.updated_at}


async def keep_pd_in_force(session: AsyncSession, assessments: Sequence[Mapping[str, Any]]) -> None:
    """Each enterprise's newest champion assessment among ``assessments`` (rows as
    inserted) becomes its PD in force, unless one made later already is: the condition
    is checked again on the locked row, so concurrent assessments settle on the newest."""
    newest: dict[uuid.UUID, Mapping[str, Any]] = {}
    for a in assessments:
        if a.get("shadow"):
            continue
        held = newest.get(a["enterprise_id"])
        if held is None or (held["assessed_at"], held["id"]) < (a["assessed_at"], a["id"]):
            newest[a["enterprise_id"]] = a
    if not newest:
        return
    e = _ENTERPRISES
    stmt = (
        update(e)
        .where(
            e.c.id == bindparam("eid"),
            or_(e.c.pd_assessed_at.is_(None), e.c.pd_assessed_at < bindparam("at")),
        )
        .values(pd_in_force=bindparam("pd"), pd_assessed_at=bindparam("at"), **_KEEP_STAMP)
    )
    params = [
        {"eid": eid, "pd": a["probability_of_default"], "at": a["assessed_at"]}
        for eid, a in newest.items()
    ]
    await (await session.connection()).execute(stmt, params)


async def refresh_pd_in_force(session: AsyncSession) -> int:
    """Every enterprise's PD in force, from its assessments (set-wise): for assessments
    written in bulk without passing through ``keep_pd_in_force`` (the seed)."""
    e = _ENTERPRISES
    stmt = update(e).values(
        pd_in_force=pd_in_force(e.c.id, None),
        pd_assessed_at=pd_in_force(e.c.id, None, column=RiskAssessment.assessed_at),
        **_KEEP_STAMP,
    )
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


async def insert_ratings(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        await session.execute(insert(CreditRating), list(rows))


async def backfill_ratings(session: AsyncSession) -> int:
    """Rating history of the enterprises that have none, from their assessments.

    The same statement as revision 0009's backfill: a rating wherever the grade of an
    enterprise's next non-shadow assessment changed, keyed by that assessment.
    """
    ra = RiskAssessment
    graded = (
        select(
            ra.id,
            ra.enterprise_id,
            ra.grade,
            ra.probability_of_default,
            ra.score,
            ra.model_version,
            ra.assessed_at,
            func.lag(ra.grade)
            .over(partition_by=ra.enterprise_id, order_by=(ra.assessed_at, ra.id))
            .label("previous_grade"),
        )
        .where(
            ra.shadow.is_(False),
            ~exists().where(CreditRating.enterprise_id == ra.enterprise_id),
        )
        .subquery()
    )
    changed = select(
        graded.c.id,
        graded.c.enterprise_id,
        graded.c.id.label("assessment_id"),
        graded.c.grade,
        graded.c.previous_grade,
        graded.c.probability_of_default,
        graded.c.score,
        graded.c.model_version,
        graded.c.assessed_at,
    ).where(or_(graded.c.previous_grade.is_(None), graded.c.previous_grade != graded.c.grade))
    stmt = insert(CreditRating).from_select(
        [
            "id",
            "enterprise_id",
            "assessment_id",
            "grade",
            "previous_grade",
            "probability_of_default",
            "score",
            "model_version",
            "rated_at",
        ],
        changed,
    )
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


def _newest_first(partition: Any) -> Any:
    order = [c.desc() for c in NEWEST_RATING.columns]
    return func.row_number().over(partition_by=partition, order_by=order)


def rated_enterprises(
    viewer: Viewer,
    *,
    institution_id: uuid.UUID | None = None,
    industry: str | None = None,
    region: str | None = None,
) -> Select[uuid.UUID] | None:
    """The enterprises whose ratings the viewer may count, as a subquery of ids (None: all).

    Platform roles count every enterprise; institution staff those that applied (past
    a draft) to one of their institutions. A filter on an institution narrows that and
    never widens it: staff asking about another institution count nothing.
    """
    stmt = select(Enterprise.id)
    if viewer.sees_all_tenants and (institution_id, industry, region) == (None, None, None):
        return None
    if industry is not None:
        stmt = stmt.where(Enterprise.industry == industry)
    if region is not None:
        stmt = stmt.where(Enterprise.region == region)
    institutions: frozenset[uuid.UUID] | None = (
        None if viewer.sees_all_tenants else viewer.institution_ids
    )
    if institution_id is not None:
        wanted = frozenset({institution_id})
        institutions = wanted if institutions is None else institutions & wanted
    if institutions is None:
        return stmt
    if not institutions:
        return stmt.where(false())
    return stmt.where(
        exists().where(
            Application.enterprise_id == Enterprise.id,
            Application.institution_id.in_(institutions),
            Application.status != ApplicationStatus.DRAFT,
        )
    )


def _grades_before(cutoff: datetime, enterprises: Select[uuid.UUID] | None) -> Subquery:
    """(enterprise_id, grade): each enterprise's newest grade rated before ``cutoff``."""
    stmt = select(
        CreditRating.enterprise_id,
        CreditRating.grade,
        _newest_first(CreditRating.enterprise_id).label("rn"),
    ).where(CreditRating.rated_at < cutoff)
    if enterprises is not None:
        stmt = stmt.where(CreditRating.enterprise_id.in_(enterprises))
    ranked = stmt.subquery()
    return select(ranked.c.enterprise_id, ranked.c.grade).where(ranked.c.rn == 1).subquery()


async def grade_migrations(
    session: AsyncSession,
    *,
    enterprises: Select[uuid.UUID] | None,
    start_before: datetime,
    end_before: datetime,
) -> list[tuple[str | None, str, int]]:
    """(grade at start or None when not yet rated, grade at end, enterprises), grouped.

    Every enterprise rated by the start is rated by the end (``start_before`` comes
    first), so the end's grades, joined to the start's, hold every pair.
    """
    at_start = _grades_before(start_before, enterprises)
    at_end = _grades_before(end_before, enterprises)
    stmt = (
        select(at_start.c.grade, at_end.c.grade, func.count())
        .select_from(at_end.outerjoin(at_start, at_start.c.enterprise_id == at_end.c.enterprise_id))
        .group_by(at_start.c.grade, at_end.c.grade)
    )
    return [(start, end, int(n)) for start, end, n in (await session.execute(stmt)).all()]
