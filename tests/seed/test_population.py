from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, date, datetime, time
from decimal import Decimal
from itertools import pairwise
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.applications.service import contract_for, terms_hash
from domain.applications.states import allowed
from domain.enterprises.models import SEALED_COLUMNS
from domain.enterprises.service import id_number_index
from domain.enterprises.uscc import is_valid_uscc
from domain.identity.models import USER_SEALED_COLUMNS
from domain.identity.people import email_index
from domain.lending.delinquency import bucket_for
from domain.models import (
    Application,
    ApplicationStatus,
    Base,
    Contract,
    Decision,
    DecisionOutcome,
    Enterprise,
    FinancialStatement,
    Installment,
    Institution,
    Loan,
    LoanStatus,
    Membership,
    Product,
    ProductStatus,
    ProductType,
    Repayment,
    RiskAssessment,
    Role,
    Transition,
    User,
)
from privacy import keystore, vault
from seed import SeedSummary, database_is_empty, seed_population
from seed.catalog import institution_count
from seed.credit import credit_logit, ratios_of
from seed.people import resident_id_check_character
from seed.reference import INDUSTRIES
from tests import factories as f
from tests.conftest import POLICY_TABLES, truncate_all

SEED = 20261101
AS_OF = date(2026, 11, 1)
SMALL = 60
S = ApplicationStatus
# Moves only the applicant makes (an answer to a question moves MORE_INFO_REQUESTED on).
OWNER_MOVES = frozenset({S.DRAFT, S.SUBMITTED, S.APPEALED, S.CONTRACT_SIGNED, S.WITHDRAWN})
OUTCOME_MOVES = {
    DecisionOutcome.APPROVE: S.APPROVED,
    DecisionOutcome.REJECT: S.REJECTED,
    DecisionOutcome.REQUEST_INFO: S.MORE_INFO_REQUESTED,
}
INDUSTRY_RISK = {industry.code: industry.risk for industry in INDUSTRIES}


async def seeded(
    sessions: async_sessionmaker[AsyncSession], *, enterprises: int = SMALL, seed: int = SEED
) -> SeedSummary:
    return await seed_population(
        sessions, enterprises=enterprises, seed=seed, as_of=AS_OF, keys=f.KEYS
    )


async def all_rows(sessions: async_sessionmaker[AsyncSession], model: Any) -> list[Any]:
    async with sessions() as session:
        return list((await session.scalars(select(model).order_by(model.id))).all())


async def opened(
    sessions: async_sessionmaker[AsyncSession], enterprises: list[Enterprise]
) -> dict[Any, dict[str, str | None]]:
    """Each enterprise's sealed values, opened with its data key."""
    async with sessions() as session:
        keys = await keystore.unwrap_many(session, f.KEYS, [e.id for e in enterprises])
    found: dict[Any, dict[str, str | None]] = {}
    for e in enterprises:
        key = keys[e.id]
        assert key is not None
        found[e.id] = {
            column: vault.unseal(key, sealed, table="enterprises", column=column, row_id=e.id)
            if (sealed := getattr(e, column))
            else None
            for column in SEALED_COLUMNS
        }
    return found


async def digest(sessions: async_sessionmaker[AsyncSession]) -> str:
    """Every seeded row; sealed values as opened (their ciphertext is random by design)."""
    hasher = hashlib.sha256()
    async with sessions() as session:
        for table in Base.metadata.sorted_tables:
            assert isinstance(table, Table)
            if table.name in (*POLICY_TABLES, "data_keys"):  # not the seed's, or random keys
                continue
            sealed = {"enterprises": SEALED_COLUMNS, "users": USER_SEALED_COLUMNS}.get(
                table.name, ()
            )
            columns = [c for c in table.columns if c.name not in sealed]
            stmt = select(*columns).order_by(*table.primary_key.columns)
            for row in await session.execute(stmt):
                hasher.update(repr(tuple(row)).encode())
    plain = await opened(sessions, await all_rows(sessions, Enterprise))
    hasher.update(repr(sorted((str(k), sorted(v.items())) for k, v in plain.items())).encode())
    return hasher.hexdigest()


async def test_the_same_seed_gives_the_same_rows(
    db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # given
    first_summary = await seeded(sessions)
    first = await digest(sessions)
    await truncate_all(db)

    # when
    second_summary = await seeded(sessions)
    second = await digest(sessions)
    await truncate_all(db)
    await seeded(sessions, seed=SEED + 1)
    other = await digest(sessions)

    # then
    assert first_summary == second_summary
    assert first == second
    assert other != first


async def test_an_empty_database_is_recognised(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    empty_before = await database_is_empty(sessions)

    # when
    await seeded(sessions, enterprises=3)

    # then
    assert empty_before
    assert not await database_is_empty(sessions)


async def test_the_population_covers_every_status_and_type(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # when
    summary = await seeded(sessions)

    # then
    applications = await all_rows(sessions, Application)
    products = await all_rows(sessions, Product)
    assert {a.status for a in applications} == set(ApplicationStatus)
    assert {p.type for p in products} == set(ProductType)
    assert {p.status for p in products} == set(ProductStatus)
    assert summary.institutions == 5
    assert "BK001" in {i.code for i in await all_rows(sessions, Institution)}
    assert summary.enterprises == SMALL
    assert summary.applications == len(applications)
    assert summary.total > summary.enterprises * 10
    async with sessions() as session:
        indexes = set(await session.scalars(select(User.email_bidx)))
        users_without_membership = await session.scalar(
            select(func.count()).select_from(User).where(~User.id.in_(select(Membership.user_id)))
        )
    assert {
        email_index(f.KEYS, address)
        for address in (
            "admin@demo.lendgraph.test",
            "privacy@demo.lendgraph.test",
            "officer1.bk001@demo.lendgraph.test",
            "risk.bk001@demo.lendgraph.test",
            "owner0001@demo.lendgraph.test",
        )
    } <= indexes
    assert users_without_membership == 0


async def test_enterprises_have_valid_identities_and_balanced_accounts(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # when
    await seeded(sessions)

    # then
    enterprises = await all_rows(sessions, Enterprise)
    statements = await all_rows(sessions, FinancialStatement)
    plain = await opened(sessions, enterprises)
    codes = [e.unified_social_credit_code for e in enterprises]
    assert all(is_valid_uscc(code) for code in codes)
    assert len(set(codes)) == len(codes)
    for e in enterprises:
        number = plain[e.id]["legal_representative_id_number"]
        assert number is not None
        assert e.legal_representative_id_bidx == id_number_index(f.KEYS, number)
        assert number[17] == resident_id_check_character(number[:17])
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        assert (AS_OF - born).days >= 18 * 366
        assert e.owner_id is not None
    by_enterprise: dict[Any, list[FinancialStatement]] = defaultdict(list)
    for s in statements:
        assert s.total_assets == s.total_liabilities + s.equity
        assert s.current_assets <= s.total_assets
        assert s.current_liabilities <= s.total_liabilities
        assert s.net_profit <= s.operating_profit - s.interest_expense
        by_enterprise[s.enterprise_id].append(s)
    for e in enterprises:
        years = sorted(s.fiscal_year for s in by_enterprise[e.id])
        assert 1 <= len(years) <= 5
        assert years == list(range(AS_OF.year - len(years), AS_OF.year))
        latest = max(by_enterprise[e.id], key=lambda s: s.fiscal_year)
        assert e.annual_revenue == latest.revenue


async def test_applications_follow_their_products_and_history(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # when
    await seeded(sessions)

    # then
    applications = await all_rows(sessions, Application)
    products = {p.id: p for p in await all_rows(sessions, Product)}
    assessed = {a.application_id for a in await all_rows(sessions, RiskAssessment)}
    decisions = await all_rows(sessions, Decision)
    staff = {(m.user_id, m.institution_id) for m in await all_rows(sessions, Membership)}
    by_id = {a.id: a for a in applications}
    for a in applications:
        product = products[a.product_id]
        assert product.status is ProductStatus.PUBLISHED
        assert a.institution_id == product.institution_id
        assert product.min_amount <= a.amount <= product.max_amount
        assert product.min_term_months <= a.term_months <= product.max_term_months
        assert a.repayment_method.value in product.repayment_methods
        assert (a.submitted_at is None) == (a.status is ApplicationStatus.DRAFT)
        assert (a.id in assessed) == (a.status is not ApplicationStatus.DRAFT)
        if a.decided_at is not None:
            assert a.submitted_at is not None
            assert a.submitted_at < a.decided_at
        assert a.created_at <= (a.submitted_at or a.created_at) <= a.updated_at
    for d in decisions:
        assert (d.officer_id, by_id[d.application_id].institution_id) in staff


async def time_lines(sessions: async_sessionmaker[AsyncSession]) -> dict[Any, list[Transition]]:
    """Each application's transitions in the order of their instants."""
    lines: dict[Any, list[Transition]] = defaultdict(list)
    for t in sorted(await all_rows(sessions, Transition), key=lambda t: (t.at, t.id)):
        lines[t.application_id].append(t)
    return lines


async def test_every_application_has_the_time_line_its_status_implies(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # when
    summary = await seeded(sessions)

    # then
    lines = await time_lines(sessions)
    owners = {e.id: e.owner_id for e in await all_rows(sessions, Enterprise)}
    loans = {loan.application_id: loan for loan in await all_rows(sessions, Loan)}
    history_ends = datetime.combine(AS_OF, time(), tzinfo=UTC)
    for a in await all_rows(sessions, Application):
        line = lines[a.id]
        assert (line[0].from_status, line[0].to_status, line[0].at) == (None, S.DRAFT, a.created_at)
        for before, after in pairwise(line):
            assert after.from_status is before.to_status
            assert allowed(before.to_status, after.to_status)
            assert before.at < after.at
        assert line[-1].to_status is a.status
        assert line[-1].at <= a.updated_at
        assert line[-1].at < history_ends
        last = {t.to_status: t.at for t in line}
        decided = [t.at for t in line if t.to_status in (S.APPROVED, S.REJECTED)]
        assert last.get(S.SUBMITTED) == a.submitted_at
        assert a.decided_at == (decided[-1] if decided else None)
        assert a.appealed_at == last.get(S.APPEALED)
        assert (a.appeal_reason is None) == (a.appealed_at is None)
        for t in line:
            if t.to_status in OWNER_MOVES or t.from_status is S.MORE_INFO_REQUESTED:
                assert t.actor_id == owners[a.enterprise_id]
            else:
                assert t.actor_id is not None
        if a.status is S.DISBURSED:
            assert last[S.DISBURSED].date() == loans[a.id].disbursed_on
        else:
            assert a.id not in loans
    assert summary.application_transitions == sum(len(line) for line in lines.values())
    # Every branch of the machine is walked: answers, appeals, signing, withdrawals.
    assert {t.from_status for line in lines.values() for t in line} == {None, *S} - {
        S.DISBURSED,
        S.WITHDRAWN,
    }
    assert {loan.aged_on for loan in loans.values()} == {AS_OF}


async def test_decisions_are_the_moves_and_four_eyes_and_appeals_hold(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # when
    await seeded(sessions)

    # then
    lines = await time_lines(sessions)
    thresholds = {i.id: i.four_eyes_threshold for i in await all_rows(sessions, Institution)}
    deciders = {
        (m.user_id, m.institution_id)
        for m in await all_rows(sessions, Membership)
        if m.role in (Role.LOAN_OFFICER, Role.INSTITUTION_ADMIN)
    }
    decisions: dict[Any, list[Decision]] = defaultdict(list)
    for d in sorted(await all_rows(sessions, Decision), key=lambda d: d.created_at):
        decisions[d.application_id].append(d)
    four_eyes = appeals = 0
    for a in await all_rows(sessions, Application):
        made = decisions[a.id]
        moves = [(t.actor_id, t.to_status, t.at) for t in lines[a.id]]
        assert [
            (d.officer_id, OUTCOME_MOVES[d.outcome], d.created_at)
            for d in made
            if not d.awaits_second
        ] == [move for move in moves if move[1] in OUTCOME_MOVES.values()]
        approvals = [d for d in made if d.outcome is DecisionOutcome.APPROVE]
        assert (a.approved_rate is None) == (not approvals)
        for d in made:
            assert (d.officer_id, a.institution_id) in deciders
            assert d.on_appeal == (a.appealed_at is not None and d.created_at > a.appealed_at)
            assert d.annual_rate == (a.approved_rate if d in approvals else None)
        waiting = bool(made) and made[-1].awaits_second and a.status is S.UNDER_REVIEW
        assert a.pending_approval_by == (made[-1].officer_id if waiting else None)
        if a.appealed_at is not None:
            credit = [d for d in made if d.outcome is not DecisionOutcome.REQUEST_INFO]
            before = {d.officer_id for d in credit if not d.on_appeal}
            on_appeal = {d.officer_id for d in credit if d.on_appeal}
            assert before.isdisjoint(on_appeal)
            appeals += bool(on_appeal)
        if a.decided_at is None or S.APPROVED not in {move[1] for move in moves}:
            assert all(d.awaits_second for d in approvals)
        elif a.amount > thresholds[a.institution_id]:
            first, second = approvals
            assert first.awaits_second
            assert not second.awaits_second
            assert first.officer_id != second.officer_id
            assert first.created_at < second.created_at == a.decided_at
            four_eyes += 1
        else:
            assert [d.awaits_second for d in approvals] == [False]
    assert four_eyes > 0
    assert appeals > 0


async def test_approvals_carry_the_contract_the_domain_writes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # when
    summary = await seeded(sessions)

    # then
    lines = await time_lines(sessions)
    owners = {e.id: e.owner_id for e in await all_rows(sessions, Enterprise)}
    products = {p.id: p for p in await all_rows(sessions, Product)}
    institutions = {i.id: i for i in await all_rows(sessions, Institution)}
    contracts = {c.application_id: c for c in await all_rows(sessions, Contract)}
    approved = 0
    for a in await all_rows(sessions, Application):
        moved = {t.to_status: t for t in lines[a.id]}
        approval = moved.get(S.APPROVED)
        if a.status in (S.APPROVED, S.CONTRACT_SIGNED, S.DISBURSED):
            assert approval is not None
        if approval is None:
            assert a.id not in contracts
            continue
        approved += 1
        contract, product = contracts[a.id], products[a.product_id]
        assert a.approved_rate is not None
        assert product.min_rate <= a.approved_rate <= product.max_rate
        assert contract.terms_hash == terms_hash(contract.terms)
        assert Decimal(contract.terms["principal"]) == a.amount
        assert Decimal(contract.terms["annual_rate"]) == a.approved_rate
        again = contract_for(
            a, product, institutions[a.institution_id], generated_at=contract.generated_at
        )
        assert contract.terms == again.terms
        assert contract.generated_at == approval.at
        signed = moved.get(S.CONTRACT_SIGNED)
        assert contract.accepted_at == (None if signed is None else signed.at)
        assert contract.accepted_by == (None if signed is None else owners[a.enterprise_id])
    assert summary.contracts == len(contracts) == approved > 0

    # and the loans paid out are the contracts signed, to the cent
    schedule: dict[Any, list[Installment]] = defaultdict(list)
    for i in sorted(await all_rows(sessions, Installment), key=lambda i: i.sequence):
        schedule[i.loan_id].append(i)
    for loan in await all_rows(sessions, Loan):
        terms = contracts[loan.application_id].terms
        assert loan.principal == Decimal(terms["principal"])
        assert loan.annual_rate == Decimal(terms["annual_rate"])
        assert [(i.principal_due, i.interest_due, i.fee_due) for i in schedule[loan.id]] == [
            (Decimal(line["principal"]), Decimal(line["interest"]), Decimal(line["fee"]))
            for line in terms["instalments"]
        ]


async def test_loans_add_up_to_the_cent(sessions: async_sessionmaker[AsyncSession]) -> None:
    # when
    summary = await seeded(sessions)

    # then
    loans = await all_rows(sessions, Loan)
    installments = await all_rows(sessions, Installment)
    repayments = await all_rows(sessions, Repayment)
    schedule: dict[Any, list[Installment]] = defaultdict(list)
    for i in sorted(installments, key=lambda i: i.sequence):
        schedule[i.loan_id].append(i)
    paid: dict[Any, Decimal] = defaultdict(Decimal)
    for r in repayments:
        assert r.principal_part + r.interest_part + r.fee_part == r.amount
        assert r.paid_on < AS_OF
        paid[r.loan_id] += r.amount
    assert summary.loans == len(loans) > 0
    for loan in loans:
        rows = schedule[loan.id]
        assert [i.sequence for i in rows] == list(range(1, loan.term_months + 1))
        assert sum(i.principal_due for i in rows) == loan.principal
        principal_paid = sum((i.principal_paid for i in rows), Decimal(0))
        assert loan.outstanding_principal == loan.principal - principal_paid
        assert paid[loan.id] == sum(i.principal_paid + i.interest_paid + i.fee_paid for i in rows)
        unpaid = [i for i in rows if i.settled_on is None]
        overdue = [i for i in unpaid if i.due_on < AS_OF]
        expected_dpd = (AS_OF - overdue[0].due_on).days if overdue else 0
        assert loan.days_past_due == expected_dpd
        assert loan.delinquency_bucket is bucket_for(expected_dpd)
        assert (loan.status is LoanStatus.CLOSED) == (not unpaid)
        assert loan.maturity_on == rows[-1].due_on


async def test_delinquency_follows_credit_quality(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: enough loans for terciles to mean something; the seed is fixed. At 400
    # enterprises (~125 loans a tercile) one seed in five to ten fails on noise alone;
    # at 800, some 190.
    await seeded(sessions, enterprises=800)
    enterprises = {e.id: e for e in await all_rows(sessions, Enterprise)}
    latest: dict[Any, FinancialStatement] = {}
    for s in sorted(await all_rows(sessions, FinancialStatement), key=lambda s: s.fiscal_year):
        latest[s.enterprise_id] = s
    loans = await all_rows(sessions, Loan)

    # when: loans are ranked by the risk visible in the borrower's accounts alone
    def visible_risk(loan: Loan) -> float:
        e, s = enterprises[loan.enterprise_id], latest[loan.enterprise_id]
        return credit_logit(
            ratios_of(
                s,
                age_years=(AS_OF - e.founded_on).days / 365.25,
                industry_risk=INDUSTRY_RISK[e.industry],
            )
        )

    ranked = sorted(loans, key=lambda loan: (visible_risk(loan), loan.id))
    third = len(ranked) // 3
    best, worst = ranked[:third], ranked[-third:]

    # then
    def delinquent_share(group: list[Loan]) -> float:
        return sum(loan.days_past_due > 0 for loan in group) / len(group)

    def mean_days(group: list[Loan]) -> float:
        return sum(loan.days_past_due for loan in group) / len(group)

    assert third >= 180
    assert delinquent_share(worst) >= 3 * delinquent_share(best) + 0.03
    assert mean_days(worst) > 3 * mean_days(best) + 3


def test_institutions_scale_with_the_population() -> None:
    assert [institution_count(n) for n in (0, 60, 2999, 3000, 10_000, 50_000)] == [
        5, 5, 5, 6, 20, 20,
    ]  # fmt: skip
