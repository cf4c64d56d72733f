"""Satisfaction and support figures by institution and period, for portfolioSummary and
the portfolio report. Scores and times only: no comment or message is read."""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from domain.analytics.service import PortfolioFilter, analysable_institutions, resolve_period
from domain.feedback import repository as repo
from domain.identity.repository import institutions_by_ids
from domain.identity.viewer import Viewer

SCORES = (1, 2, 3, 4, 5)


@dataclass(frozen=True, slots=True)
class InstitutionFeedback:
    institution_id: uuid.UUID
    institution_code: str
    ratings: int  # given in the period
    average_score: float | None  # None: no rating
    distribution: tuple[int, ...]  # ratings of score 1, 2, 3, 4, 5
    tickets_opened: int  # in the period
    tickets_closed: int  # in the period (closed now)
    median_hours_to_first_answer: float | None  # of the tickets opened in the period


async def feedback_by_institution(
    session: AsyncSession, viewer: Viewer, flt: PortfolioFilter
) -> tuple[InstitutionFeedback, ...]:
    """One line per institution with a rating or a ticket in the period, in the viewer's
    scope (refused as every portfolio figure is to whoever may not analyse)."""
    institutions = analysable_institutions(viewer)
    period = resolve_period(flt)
    counts = await repo.score_counts(
        session,
        institutions=institutions,
        institution_id=flt.institution_id,
        since=period.since,
        until=period.until,
    )
    times = await repo.ticket_times(
        session,
        institutions=institutions,
        institution_id=flt.institution_id,
        since=period.since,
        until=period.until,
    )
    by_score: dict[uuid.UUID, dict[int, int]] = defaultdict(dict)
    for institution, score, n in counts:
        by_score[institution][score] = n
    opened: dict[uuid.UUID, int] = defaultdict(int)
    closed: dict[uuid.UUID, int] = defaultdict(int)
    waits: dict[uuid.UUID, list[float]] = defaultdict(list)
    for institution, opened_at, answered_at, closed_at in times:
        if period.since <= opened_at < period.until:
            opened[institution] += 1
            if answered_at is not None:
                waits[institution].append((answered_at - opened_at).total_seconds() / 3600)
        if closed_at is not None and period.since <= closed_at < period.until:
            closed[institution] += 1
    named = {*by_score, *opened, *closed}
    codes = {i.id: i.code for i in await institutions_by_ids(session, ids=list(named))}
    lines = []
    for institution in sorted(named, key=lambda i: codes.get(i, str(i))):
        scores = by_score.get(institution, {})
        distribution = tuple(scores.get(s, 0) for s in SCORES)
        total = sum(distribution)
        average = (
            sum(s * n for s, n in zip(SCORES, distribution, strict=True)) / total if total else None
        )
        wait = waits.get(institution)
        lines.append(
            InstitutionFeedback(
                institution_id=institution,
                institution_code=codes.get(institution, str(institution)),
                ratings=total,
                average_score=None if average is None else round(average, 2),
                distribution=distribution,
                tickets_opened=opened.get(institution, 0),
                tickets_closed=closed.get(institution, 0),
                median_hours_to_first_answer=(round(statistics.median(wait), 2) if wait else None),
            )
        )
    return tuple(lines)
