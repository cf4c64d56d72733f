"""Satisfaction and support figures: counts, averages, distributions and the median wait
for a first answer, by institution and period, in the viewer's scope; and their table
in the portfolio report."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.analytics import report
from domain.analytics.service import PortfolioFilter, portfolio_summary, resolve_period
from domain.feedback.figures import feedback_by_institution
from domain.feedback.models import RatedEvent, ServiceRating, SupportTicket, TicketStatus
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from kernel.base import new_id
from kernel.errors import Forbidden
from tests import factories as f

PLATFORM = Viewer(platform_roles=frozenset({Role.PLATFORM_RISK_OFFICER}))
PERIOD = PortfolioFilter(start=date(2026, 3, 1), end=date(2026, 3, 31))
IN = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
BEFORE = datetime(2026, 2, 27, 9, 0, tzinfo=UTC)


async def _world(sessions: async_sessionmaker[AsyncSession]) -> tuple[str, str, Viewer]:
    async with sessions() as s, s.begin():
        home, other = await f.institution(s), await f.institution(s)
        product = await f.product(s, institution_id=home.id)
        firm = await f.enterprise(s)
        application = await f.application(s, enterprise_id=firm.id, product_row=product)
        # home: scores 5, 4, 4 in March (and a 1 in February, outside the period)
        for score, at in ((5, IN), (4, IN), (4, IN + timedelta(days=1)), (1, BEFORE)):
            s.add(
                ServiceRating(
                    event_kind=RatedEvent.DISBURSEMENT,
                    event_id=new_id(),
                    enterprise_id=firm.id,
                    institution_id=home.id,
                    score=score,
                    rated_at=at,
                )
            )
        s.add(
            ServiceRating(
                event_kind=RatedEvent.DISBURSEMENT,
                event_id=new_id(),
                enterprise_id=firm.id,
                institution_id=other.id,
                score=2,
                rated_at=IN,
            )
        )
        # home's tickets: answered after 2 h, 4 h and 30 h; one unanswered; one opened in
        # February and closed in March
        for hours, closed in ((2, None), (4, IN + timedelta(days=2)), (30, None), (None, None)):
            s.add(
                _ticket(
                    home.id,
                    firm.id,
                    application.id,
                    opened=IN,
                    answered=None if hours is None else IN + timedelta(hours=hours),
                    closed=closed,
                )
            )
        s.add(_ticket(home.id, firm.id, application.id, opened=BEFORE, answered=None, closed=IN))
        analyst = Viewer(institution_roles={home.id: frozenset({Role.RISK_OFFICER})})
        return home.code, other.code, analyst


def _ticket(
    institution_id: uuid.UUID,
    enterprise_id: uuid.UUID,
    application_id: uuid.UUID,
    *,
    opened: datetime,
    answered: datetime | None,
    closed: datetime | None,
) -> SupportTicket:
    return SupportTicket(
        enterprise_id=enterprise_id,
        institution_id=institution_id,
        application_id=application_id,
        subject="sealed elsewhere",
        status=TicketStatus.CLOSED if closed else TicketStatus.OPEN,
        opened_at=opened,
        first_answered_at=answered,
        closed_at=closed,
    )


async def test_ratings_and_tickets_are_counted_by_institution_and_period(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    home, other, analyst = await _world(sessions)

    async with sessions() as s:
        everyone = await feedback_by_institution(s, PLATFORM, PERIOD)
        own = await feedback_by_institution(s, analyst, PERIOD)

    by_code = {line.institution_code: line for line in everyone}
    assert set(by_code) == {home, other}
    mine = by_code[home]
    assert mine.ratings == 3
    assert mine.distribution == (0, 0, 0, 2, 1)
    assert mine.average_score == pytest.approx(4.33)
    assert (mine.tickets_opened, mine.tickets_closed) == (4, 2)
    assert mine.median_hours_to_first_answer == pytest.approx(4.0)
    theirs = by_code[other]
    assert (theirs.ratings, theirs.average_score, theirs.distribution) == (1, 2.0, (0, 1, 0, 0, 0))
    assert (theirs.tickets_opened, theirs.median_hours_to_first_answer) == (0, None)
    # an institution's risk officer: its own line only
    assert [line.institution_code for line in own] == [home]


async def test_only_analysts_read_the_figures(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _world(sessions)
    owner = Viewer(user_id=new_id(), platform_roles=frozenset({Role.SME_OWNER}))
    async with sessions() as s:
        with pytest.raises(Forbidden):
            await feedback_by_institution(s, owner, PERIOD)


async def test_the_report_shows_the_table_without_a_word_of_any_comment(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    home, _, _ = await _world(sessions)
    async with sessions() as s:
        summary = await portfolio_summary(s, PLATFORM, PERIOD)

    rows = report.feedback_rows(summary)
    page = report.render(summary, scope="All institutions")

    assert [home, "3", "4.33", "0 / 0 / 0 / 2 / 1", "4", "2", "4.0"] in rows
    assert "<h2>Satisfaction and support</h2>" in page
    assert "0 / 0 / 0 / 2 / 1" in page
    assert "sealed elsewhere" not in page
    assert resolve_period(PERIOD).start == date(2026, 3, 1)
