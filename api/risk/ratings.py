import uuid
from datetime import date, datetime
from typing import Self

import strawberry
from strawberry import relay

from api.access import classified
from api.context import Context
from api.relay import decode_pk
from domain.risk import ratings
from domain.risk.models import CreditRating as CreditRatingRow


@classified(
    public=["id", "grade", "previous_grade", "rated_at"],
    internal=["probability_of_default", "score", "model_version"],
)
@strawberry.type(description="An enterprise's grade as an assessment set it; kept per change.")
class CreditRating(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    grade: str = strawberry.field(description="Rating grade, AAA (best) to C.")
    previous_grade: str | None = strawberry.field(
        description="The grade it replaced; null for the enterprise's first rating."
    )
    # Nullable: the default policy withholds these from the enterprise's owner, and a
    # withheld non-null field would take its whole parent down with it.
    probability_of_default: float | None = strawberry.field(
        description="Probability of default within 12 months; staff only."
    )
    score: int | None = strawberry.field(description="Scorecard points; staff only.")
    model_version: str | None = strawberry.field(description="The scoring model; staff only.")
    rated_at: datetime

    @classmethod
    def from_row(cls, row: CreditRatingRow) -> Self:
        return cls(
            pk=row.id,
            grade=row.grade,
            previous_grade=row.previous_grade,
            probability_of_default=row.probability_of_default,
            score=row.score,
            model_version=row.model_version,
            rated_at=row.rated_at,
        )


@classified(internal=["from_grade", "to_grade", "count", "share"])
@strawberry.type(description="Enterprises that moved from one grade to another.")
class RatingMigrationCell:
    from_grade: str = strawberry.field(description="The grade at the start.")
    to_grade: str = strawberry.field(description="The grade at the end.")
    count: int
    share: float = strawberry.field(
        description="Of the enterprises that started in fromGrade (0 when none did)."
    )


@classified(internal=["grade", "total"])
@strawberry.type(description="How many enterprises started in a grade.")
class RatingMigrationRow:
    grade: str
    total: int


@classified(
    internal=[
        "start",
        "end",
        "grades",
        "cells",
        "rows",
        "total",
        "upgrades",
        "downgrades",
        "unchanged",
        "newly_rated",
    ]
)
@strawberry.type(
    description="Grades in force at the end of one day against those at the end of another."
)
class RatingMigration:
    start: date
    end: date
    grades: list[str] = strawberry.field(description="The scale, best first: rows and columns.")
    cells: list[RatingMigrationCell] = strawberry.field(
        description="Every (from, to) pair, row by row in the order of grades."
    )
    rows: list[RatingMigrationRow] = strawberry.field(description="Each row's total.")
    total: int = strawberry.field(description="Enterprises rated at both dates.")
    upgrades: int
    downgrades: int
    unchanged: int
    newly_rated: int = strawberry.field(description="Rated at the end but not at the start.")

    @classmethod
    def from_domain(cls, found: ratings.Migration) -> Self:
        return cls(
            start=found.start,
            end=found.end,
            grades=list(found.grades),
            cells=[
                RatingMigrationCell(
                    from_grade=c.from_grade, to_grade=c.to_grade, count=c.count, share=c.share
                )
                for c in found.cells
            ],
            rows=[RatingMigrationRow(grade=g, total=n) for g, n in found.row_totals],
            total=found.total,
            upgrades=found.upgrades,
            downgrades=found.downgrades,
            unchanged=found.unchanged,
            newly_rated=found.newly_rated,
        )


@strawberry.input
class RatingMigrationFilter:
    institution_id: strawberry.ID | None = None
    industry: str | None = None
    region: str | None = None


@classified(internal=["rating_migration"])
@strawberry.type
class RatingQueries:
    @strawberry.field(
        description="How the grades of the enterprises you may see moved between two days "
        "(each taken at its end, UTC)."
    )
    async def rating_migration(
        self,
        info: strawberry.Info[Context, None],
        start: date,
        end: date,
        filter: RatingMigrationFilter | None = None,
    ) -> RatingMigration:
        ctx = info.context
        async with ctx.sessions() as session:
            found = await ratings.migration_matrix(
                session,
                ctx.viewer,
                start=start,
                end=end,
                institution_id=decode_pk(filter.institution_id, "Institution") if filter else None,
                industry=filter.industry if filter else None,
                region=filter.region if filter else None,
            )
        return RatingMigration.from_domain(found)
