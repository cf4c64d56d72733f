"""Rating history, the PD in force, and how grades migrated between two dates.

An enterprise's rating is the grade of its latest non-shadow assessment; a rating row is
written only when that grade changes (or is the first). A rating takes the id of the
assessment that set it, as revision 0009's backfill does, so the history written as
assessments come in and the one rebuilt from them afterwards are the same rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.identity.viewer import Viewer
from domain.risk import repository
from domain.risk.models import CreditRating, RiskAssessment
from kernel.errors import InvalidInput
from scoring.scorecard import MasterScale

# What a rating copies from the assessment that set it.
_COPIED = ("grade", "probability_of_default", "score", "model_version")


def _changes(
    assessments: Iterable[Mapping[str, Any]], latest: dict[uuid.UUID, str]
) -> list[dict[str, Any]]:
    """Rating rows for the assessments (taken in order) that change their enterprise's grade.

    ``latest`` holds the grades in force before them and is moved on as they change.
    """
    rows = []
    for a in assessments:
        if a.get("shadow"):
            continue
        enterprise_id = a["enterprise_id"]
        previous = latest.get(enterprise_id)
        if previous == a["grade"]:
            continue
        rows.append(
            {
                "id": a["id"],
                "enterprise_id": enterprise_id,
                "assessment_id": a["id"],
                "previous_grade": previous,
                "rated_at": a["assessed_at"],
                **{name: a[name] for name in _COPIED},
            }
        )
        latest[enterprise_id] = a["grade"]
    return rows


async def record(session: AsyncSession, assessment: RiskAssessment) -> CreditRating | None:
    """What this (flushed) assessment changes: its enterprise's PD in force, and the
    rating it sets (None when the grade stays the same)."""
    if assessment.shadow:
        return None
    row = {
        "id": assessment.id,
        "enterprise_id": assessment.enterprise_id,
        "assessed_at": assessment.assessed_at,
        **{name: getattr(assessment, name) for name in _COPIED},
    }
    await repository.keep_pd_in_force(session, [row])
    latest = await repository.latest_grades(session, enterprise_ids=[assessment.enterprise_id])
    found = _changes([row], latest)
    if not found:
        return None
    rating = CreditRating(**found[0])
    session.add(rating)
    await session.flush()
    return rating


async def record_many(session: AsyncSession, assessments: Sequence[Mapping[str, Any]]) -> int:
    """``record`` for a batch of assessment rows (as inserted): one read, one insert.

    Within the batch an enterprise's assessments count in (assessed_at, id) order, the
    order the history is rebuilt in.
    """
    wanted = sorted(
        (a for a in assessments if not a.get("shadow")),
        key=lambda a: (a["assessed_at"], a["id"]),
    )
    if not wanted:
        return 0
    await repository.keep_pd_in_force(session, wanted)
    latest = await repository.latest_grades(
        session, enterprise_ids={a["enterprise_id"] for a in wanted}
    )
    rows = _changes(wanted, latest)
    await repository.insert_ratings(session, rows)
    return len(rows)


async def backfill(session: AsyncSession) -> int:
    """The history of every enterprise that has none yet, from its assessments (set-wise).

    For assessments written in bulk without passing through ``record``: the seed. The
    PDs in force are set from them too.
    """
    await repository.refresh_pd_in_force(session)
    return await repository.backfill_ratings(session)


# ------------------------------------------------------------------------ the matrix


@dataclass(frozen=True, slots=True)
class MigrationCell:
    from_grade: str
    to_grade: str
    count: int
    share: float  # of the enterprises that started in from_grade; 0 when none did


@dataclass(frozen=True, slots=True)
class Migration:
    start: date
    end: date
    grades: tuple[str, ...]  # best first
    cells: tuple[MigrationCell, ...]  # every (from, to) pair, row by row
    row_totals: tuple[tuple[str, int], ...]  # (from grade, enterprises), in grade order
    total: int  # enterprises rated at both dates
    upgrades: int
    downgrades: int
    unchanged: int
    newly_rated: int  # rated at the end, not yet at the start


def _end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


async def migration_matrix(
    session: AsyncSession,
    viewer: Viewer,
    *,
    start: date,
    end: date,
    institution_id: uuid.UUID | None = None,
    industry: str | None = None,
    region: str | None = None,
    scale: MasterScale | None = None,
) -> Migration:
    """How the grades in force at the end of ``start`` (UTC) stood at the end of ``end``.

    Counts are of the enterprises the viewer may see, rated at both dates; one grouped
    statement counts them whatever their number.
    """
    if start > end:
        raise InvalidInput(f"the start ({start}) must not be after the end ({end})")
    enterprises = repository.rated_enterprises(
        viewer, institution_id=institution_id, industry=industry, region=region
    )
    pairs = await repository.grade_migrations(
        session, enterprises=enterprises, start_before=_end_of(start), end_before=_end_of(end)
    )
    names = (scale or MasterScale()).names
    # A grade no longer on the scale (an older model's) still gets its row, last.
    strays = sorted({g for pair in pairs for g in pair[:2] if g is not None} - set(names))
    grades = (*names, *strays)
    rank = {grade: i for i, grade in enumerate(grades)}
    counts: dict[tuple[str, str], int] = {}
    row_totals = dict.fromkeys(grades, 0)
    newly_rated = upgrades = downgrades = unchanged = 0
    for from_grade, to_grade, n in pairs:
        if from_grade is None:
            newly_rated += n
            continue
        counts[(from_grade, to_grade)] = n
        row_totals[from_grade] += n
        if rank[to_grade] < rank[from_grade]:
            upgrades += n
        elif rank[to_grade] > rank[from_grade]:
            downgrades += n
        else:
            unchanged += n
    cells = tuple(
        MigrationCell(
            from_grade=f,
            to_grade=t,
            count=counts.get((f, t), 0),
            share=counts.get((f, t), 0) / row_totals[f] if row_totals[f] else 0.0,
        )
        for f in grades
        for t in grades
    )
    return Migration(
        start=start,
        end=end,
        grades=grades,
        cells=cells,
        row_totals=tuple(row_totals.items()),
        total=upgrades + downgrades + unchanged,
        upgrades=upgrades,
        downgrades=downgrades,
        unchanged=unchanged,
        newly_rated=newly_rated,
    )
