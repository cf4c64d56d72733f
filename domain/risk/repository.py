"""Every SQL statement of the risk context."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Subquery, exists, false, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications import repository as applications
from domain.applications.models import Application, ApplicationStatus
from domain.enterprises.models import Enterprise
from domain.identity.viewer import Viewer
from domain.pagination import Keyset, first_n_per_group
from domain.risk.models import CreditRating, RiskAssessment

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
