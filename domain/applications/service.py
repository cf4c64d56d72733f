"""The rules of an application's life: who may move it, where to, and what each move records.

Every move goes through :func:`_move`: it checks the state machine, stamps the time,
writes the transition, the audit entry and (for the applicant) a notification to the
outbox, all in the caller's transaction. Concurrent moves collide on the row's version
column; the loser gets ``CONFLICT`` and nothing of its move is written.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications import repository as repo
from domain.applications import states
from domain.applications.errors import (
    ConsentMissing,
    FourEyes,
    InvalidTransition,
    NotEligible,
    TermsChanged,
)
from domain.applications.models import (
    Application,
    ApplicationStatus,
    Contract,
    Decision,
    DecisionOutcome,
    Transition,
)
from domain.audit.service import record
from domain.enterprises.models import Enterprise, FinancialStatement
from domain.enterprises.service import owned_enterprise
from domain.identity import people
from domain.identity.authorization import Authorizer
from domain.identity.models import Institution, Role, User
from domain.identity.viewer import Viewer
from domain.lending.schedule import CENT, MAX_TERM_MONTHS, add_months, build_schedule
from domain.privacy.consent import consented
from domain.products.eligibility import EnterpriseFacts, ineligibility
from domain.products.models import Product, ProductStatus, RepaymentMethod
from domain.risk.models import RiskAssessment
from domain.verification import levels
from kernel import formats
from kernel.base import utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from privacy.keys import KeyProvider

if TYPE_CHECKING:
    from domain.risk.assessment import Scoring

S = ApplicationStatus
CREDIT_ASSESSMENT = "credit_assessment"
# Who reviews and decides credit for an institution. A partner system may move an
# application through review but never decides: decisions are a person's.
REVIEWERS = frozenset({Role.LOAN_OFFICER, Role.INSTITUTION_ADMIN, Role.PARTNER_SERVICE})
DECIDERS = frozenset({Role.LOAN_OFFICER, Role.INSTITUTION_ADMIN})
MAX_TEXT = 2000

_NOTICES = {
    S.SUBMITTED: "was submitted",
    S.UNDER_REVIEW: "is being reviewed",
    S.MORE_INFO_REQUESTED: "needs more information from you",
    S.APPROVED: "was approved: the contract is ready to sign",
    S.REJECTED: "was not approved",
    S.APPEALED: "is appealed and will be reviewed again",
    S.CONTRACT_SIGNED: "has a signed contract",
    S.DISBURSED: "was paid out",
    S.WITHDRAWN: "was withdrawn",
}


@dataclass(frozen=True, slots=True)
class Request:
    """What an applicant asks for."""

    enterprise_id: uuid.UUID
    product_id: uuid.UUID
    amount: Decimal
    term_months: int
    repayment_method: RepaymentMethod
    purpose: str


@dataclass(frozen=True, slots=True)
class Actor:
    """Who moves an application, with what they bring to the audit trail."""

    viewer: Viewer
    keys: KeyProvider
    request_id: str | None = None
    # Scores what is submitted, when a model is in service; None: no assessment.
    scoring: Scoring | None = None
    # The policy, which says what each verification level may do (domain.verification.
    # levels). Every request through the API brings it; the seed and operators' tools,
    # which act for no applicant, leave it out.
    authorizer: Authorizer | None = None

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.viewer.user_id


# --------------------------------------------------------------------------- the applicant


async def create_draft(session: AsyncSession, actor: Actor, request: Request) -> Application:
    """An owner starts an application; nobody else sees it until it is submitted."""
    enterprise = await owned_enterprise(session, actor.viewer, request.enterprise_id, doing="apply")
    product = await _open_product(session, request.product_id)
    _check_request(product, request)
    now = utcnow()
    application = Application(
        created_at=now,
        enterprise_id=enterprise.id,
        product_id=product.id,
        institution_id=product.institution_id,
        amount=request.amount,
        term_months=request.term_months,
        repayment_method=request.repayment_method,
        purpose=request.purpose.strip(),
        status=S.DRAFT,
        reached=states.REACHED_BIT[S.DRAFT],
    )
    session.add(application)
    await session.flush()
    session.add(
        Transition(application_id=application.id, to_status=S.DRAFT, actor_id=actor.user_id, at=now)
    )
    record(
        session,
        action="application.drafted",
        entity_type="application",
        entity_id=application.id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
    )
    return application


async def submit(
    session: AsyncSession,
    actor: Actor,
    application_id: uuid.UUID,
    *,
    expected_version: int | None = None,
) -> Application:
    """Send a draft to the institution: the enterprise must be eligible and have consented."""
    application = await load_for_change(session, actor.viewer, application_id, expected_version)
    enterprise = await owned_enterprise(
        session, actor.viewer, application.enterprise_id, doing="act for the applicant"
    )
    states.check(application.status, S.SUBMITTED)
    product = await _open_product(session, application.product_id)
    now = utcnow()
    reasons = ineligibility(product, await enterprise_facts(session, enterprise), as_of=now.date())
    if actor.authorizer is not None and not levels.may_apply(
        actor.authorizer, enterprise.verification_level, application.amount
    ):
        reasons = (*reasons, _verify_to_apply(actor.authorizer, enterprise))
    if reasons:
        raise NotEligible(reasons)
    recipients = (
        await consented(session, subject_ids=[enterprise.id], purpose=CREDIT_ASSESSMENT, now=now)
    )[enterprise.id]
    if application.institution_id not in recipients and None not in recipients:
        raise ConsentMissing(purpose=CREDIT_ASSESSMENT, institution_id=application.institution_id)
    application.submitted_at = now
    await move(session, actor, application, S.SUBMITTED, at=now)
    if actor.scoring is not None:
        from domain.risk.assessment import assess_application

        await assess_application(session, application, actor.scoring)
    return application


def _verify_to_apply(authorizer: Authorizer, enterprise: Enterprise) -> str:
    limit = levels.largest_application(authorizer, enterprise.verification_level)
    at_most = "nothing" if not limit else f"at most {limit:,.2f}"
    return (
        f"the enterprise is {enterprise.verification_level.value} and may apply for "
        f"{at_most}: have it verified (submitVerification) to ask for more"
    )


async def apply(session: AsyncSession, actor: Actor, request: Request) -> Application:
    """Draft and submit in one step: what most applicants do."""
    draft = await create_draft(session, actor, request)
    return await submit(session, actor, draft.id)


async def provide_information(
    session: AsyncSession,
    actor: Actor,
    application_id: uuid.UUID,
    *,
    answer: str,
    expected_version: int | None = None,
) -> Application:
    application = await load_for_change(session, actor.viewer, application_id, expected_version)
    await owned_enterprise(
        session, actor.viewer, application.enterprise_id, doing="act for the applicant"
    )
    _check_text("answer", answer)
    if application.status is not S.MORE_INFO_REQUESTED:
        # The state machine allows SUBMITTED -> UNDER_REVIEW too, but that is the
        # institution's step, not the applicant's.
        raise InvalidTransition(
            "an answer is only taken when more information was asked for",
            current=application.status,
            target=S.UNDER_REVIEW,
        )
    await move(session, actor, application, S.UNDER_REVIEW, note=answer.strip())
    return application


async def appeal(
    session: AsyncSession,
    actor: Actor,
    application_id: uuid.UUID,
    *,
    reason: str,
    expected_version: int | None = None,
) -> Application:
    """A rejected applicant asks, once, for another officer to look again."""
    application = await load_for_change(session, actor.viewer, application_id, expected_version)
    await owned_enterprise(
        session, actor.viewer, application.enterprise_id, doing="act for the applicant"
    )
    _check_text("reason", reason)
    if application.status is S.REJECTED and application.appealed_at is not None:
        raise InvalidTransition(
            "this application was appealed once already; the second decision is final",
            current=application.status,
            target=S.APPEALED,
        )
    states.check(application.status, S.APPEALED)
    now = utcnow()
    application.appeal_reason = reason.strip()
    application.appealed_at = now
    await move(session, actor, application, S.APPEALED, note=reason.strip(), at=now)
    return application


async def withdraw(
    session: AsyncSession,
    actor: Actor,
    application_id: uuid.UUID,
    *,
    reason: str = "",
    expected_version: int | None = None,
) -> Application:
    application = await load_for_change(session, actor.viewer, application_id, expected_version)
    await owned_enterprise(
        session, actor.viewer, application.enterprise_id, doing="act for the applicant"
    )
    if application.status is S.CONTRACT_SIGNED:
        # Signed terms bind both sides: ending them is a cancellation (cancelContract).
        raise InvalidTransition(
            "a signed contract is not withdrawn but cancelled (cancelContract)",
            current=application.status,
            target=S.WITHDRAWN,
        )
    application.pending_approval_by = None
    await move(session, actor, application, S.WITHDRAWN, note=reason.strip()[:MAX_TEXT])
    return application


async def sign_contract(
    session: AsyncSession,
    actor: Actor,
    application_id: uuid.UUID,
    *,
    terms_hash: str,
    expected_version: int | None = None,
) -> tuple[Application, Contract]:
    """The applicant accepts exactly the terms they were shown, proved by their hash."""
    application = await load_for_change(session, actor.viewer, application_id, expected_version)
    enterprise = await owned_enterprise(
        session, actor.viewer, application.enterprise_id, doing="act for the applicant"
    )
    states.check(application.status, S.CONTRACT_SIGNED)
    if actor.authorizer is not None and not levels.may(
        actor.authorizer, enterprise.verification_level, levels.SIGN_CONTRACT
    ):
        raise NotEligible(
            (
                f"the enterprise is {enterprise.verification_level.value}: have it verified "
                "(submitVerification) before signing",
            )
        )
    contract = await repo.contract_of(session, application.id)
    if contract is None:  # an approval always writes one; its absence is a broken invariant
        raise NotFound("the approved terms are missing")
    if terms_hash.strip().lower() != contract.terms_hash:
        raise TermsChanged(
            "the terms you accepted are not the terms on offer; read the contract again"
        )
    now = utcnow()
    contract.accepted_at = now
    contract.accepted_by = actor.user_id
    await move(session, actor, application, S.CONTRACT_SIGNED, at=now, terms_hash=terms_hash)
    return application, contract


# ------------------------------------------------------------------------- the institution


async def start_review(
    session: AsyncSession,
    actor: Actor,
    application_id: uuid.UUID,
    *,
    expected_version: int | None = None,
) -> Application:
    application = await load_for_change(session, actor.viewer, application_id, expected_version)
    require_role(actor.viewer, application.institution_id, REVIEWERS, "review")
    if application.status is S.APPEALED and actor.user_id is not None:
        await _not_a_former_decider(session, actor.user_id, application)
    await move(session, actor, application, S.UNDER_REVIEW)
    return application


async def request_information(
    session: AsyncSession,
    actor: Actor,
    application_id: uuid.UUID,
    *,
    question: str,
    expected_version: int | None = None,
) -> Application:
    application = await load_for_change(session, actor.viewer, application_id, expected_version)
    officer_id = _require_person(actor, application, "ask the applicant")
    _check_text("question", question)
    states.check(application.status, S.MORE_INFO_REQUESTED)
    session.add(
        Decision(
            application_id=application.id,
            officer_id=officer_id,
            outcome=DecisionOutcome.REQUEST_INFO,
            reasons=question.strip(),
            risk_assessment_id=await _latest_assessment_id(session, application.id),
            on_appeal=application.appealed_at is not None,
        )
    )
    application.pending_approval_by = None
    await move(session, actor, application, S.MORE_INFO_REQUESTED, note=question.strip())
    return application


async def decide(
    session: AsyncSession,
    actor: Actor,
    application_id: uuid.UUID,
    *,
    outcome: DecisionOutcome,
    reasons: str,
    annual_rate: Decimal | None = None,
    expected_version: int | None = None,
) -> Application:
    """Approve or reject. Above the institution's threshold an approval needs two officers;
    on appeal, only an officer who has not decided on the application before may decide."""
    if outcome is DecisionOutcome.REQUEST_INFO:
        raise InvalidInput(
            "ask for more information with requestApplicationInformation", field="decision"
        )
    application = await load_for_change(session, actor.viewer, application_id, expected_version)
    officer_id = _require_person(actor, application, "decide")
    _check_text("reasons", reasons)
    target = S.APPROVED if outcome is DecisionOutcome.APPROVE else S.REJECTED
    states.check(application.status, target)
    on_appeal = application.appealed_at is not None
    if on_appeal:
        await _not_a_former_decider(session, officer_id, application)
    assessment_id = await _latest_assessment_id(session, application.id)
    now = utcnow()
    decision = Decision(
        application_id=application.id,
        officer_id=officer_id,
        outcome=outcome,
        reasons=reasons.strip(),
        risk_assessment_id=assessment_id,
        on_appeal=on_appeal,
        created_at=now,
    )
    if outcome is DecisionOutcome.REJECT:
        application.pending_approval_by = None
        application.decided_at = now
        session.add(decision)
        await move(session, actor, application, S.REJECTED, note=reasons.strip(), at=now)
        return application

    product = await session.get_one(Product, application.product_id)
    institution = await session.get_one(Institution, application.institution_id)
    first = application.pending_approval_by
    if first is None:
        rate = _approved_rate(product, annual_rate)
        decision.annual_rate = rate
        if application.amount > institution.four_eyes_threshold:
            # The first pair of eyes: recorded, and the application waits for a second.
            decision.awaits_second = True
            application.pending_approval_by = officer_id
            application.approved_rate = rate
            session.add(decision)
            application.updated_at = now  # bumps the version: a racing decision loses
            await session.flush()
            record(
                session,
                action="application.first_approval",
                entity_type="application",
                entity_id=application.id,
                actor_id=officer_id,
                request_id=actor.request_id,
                threshold=str(institution.four_eyes_threshold),
            )
            return application
    else:
        if first == officer_id:
            raise FourEyes(
                f"{application.amount:,.2f} is above the institution's four-eyes threshold of "
                f"{institution.four_eyes_threshold:,.2f}: a second, different officer approves"
            )
        rate = application.approved_rate or _approved_rate(product, None)
        if annual_rate is not None and annual_rate != rate:
            raise InvalidInput(
                f"the first approval set the rate at {rate}; a second approval confirms it",
                field="annualRate",
            )
        decision.annual_rate = rate
    application.approved_rate = rate
    application.pending_approval_by = None
    application.decided_at = now
    session.add(decision)
    await move(session, actor, application, S.APPROVED, note=reasons.strip(), at=now)
    session.add(contract_for(application, product, institution, generated_at=now))
    await session.flush()
    return application


# ------------------------------------------------------------------------------ contracts


def contract_for(
    application: Application,
    product: Product,
    institution: Institution,
    *,
    generated_at: datetime,
) -> Contract:
    """The terms an approval offers, frozen as JSON and hashed: what the applicant signs.

    Instalment k falls due k months after the money is paid out; under 30/360 the
    amounts do not depend on the dates (every month is 30 days), so the schedule signed
    is the one booked. Under an actual-days count the periods are counted from the day
    of the offer, and the amounts signed are still the ones booked.
    """
    rate = application.approved_rate
    assert rate is not None
    fee = (application.amount * product.origination_fee_rate).quantize(CENT, ROUND_HALF_UP)
    schedule = build_schedule(
        principal=application.amount,
        annual_rate=rate,
        term_months=application.term_months,
        method=application.repayment_method,
        first_due_on=add_months(generated_at.date(), 1),
        fee=fee,
        day_count=product.day_count,
        start_on=generated_at.date(),
    )
    # Written as the API writes them (kernel.formats): records by the global ids
    # node(id:) takes, money with two decimals, the rate with six.
    terms: dict[str, Any] = {
        "application": formats.global_id("Application", application.id),
        "enterprise": formats.global_id("Enterprise", application.enterprise_id),
        "lender": {
            "id": formats.global_id("Institution", institution.id),
            "name": institution.name,
        },
        "product": {
            "id": formats.global_id("Product", product.id),
            "code": product.code,
            "version": product.version,
        },
        "principal": formats.money(application.amount),
        "annual_rate": formats.rate(rate),
        "term_months": application.term_months,
        "repayment_method": application.repayment_method.value,
        "origination_fee": formats.money(fee),
        "first_due": "one month after the money is paid out, then monthly",
        "instalments": [
            {
                "sequence": i.sequence,
                "principal": formats.money(i.principal),
                "interest": formats.money(i.interest),
                "fee": formats.money(i.fee),
            }
            for i in schedule
        ],
        "total_repaid": formats.money(sum((i.total for i in schedule), Decimal(0))),
    }
    return Contract(
        application_id=application.id,
        terms=terms,
        terms_hash=terms_hash(terms),
        generated_at=generated_at,
    )


def terms_hash(terms: dict[str, Any]) -> str:
    """SHA-256 of the terms in canonical JSON: the same terms always hash the same."""
    canonical = json.dumps(terms, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# -------------------------------------------------------------------------------- helpers


async def enterprise_facts(session: AsyncSession, enterprise: Enterprise) -> EnterpriseFacts:
    """What eligibility rules read: the profile and the latest financial statement."""
    stmt = (
        select(FinancialStatement)
        .where(FinancialStatement.enterprise_id == enterprise.id)
        .order_by(FinancialStatement.fiscal_year.desc())
        .limit(1)
    )
    latest = (await session.scalars(stmt)).one_or_none()
    revenue = enterprise.annual_revenue
    if revenue is None and latest is not None:
        revenue = latest.revenue
    return EnterpriseFacts(
        industry=enterprise.industry,
        region=enterprise.region,
        founded_on=enterprise.founded_on,
        annual_revenue=revenue,
        total_assets=None if latest is None else latest.total_assets,
        total_liabilities=None if latest is None else latest.total_liabilities,
    )


async def move(
    session: AsyncSession,
    actor: Actor,
    application: Application,
    target: ApplicationStatus,
    *,
    note: str = "",
    at: datetime | None = None,
    **detail: Any,
) -> None:
    current = application.status
    states.check(current, target)
    now = at or utcnow()
    application.status = target
    application.updated_at = now
    application.reached = (application.reached or 0) | states.REACHED_BIT[target]
    if target in states.DECISIONS and application.first_decided_at is None:
        application.first_decided_at = now
    session.add(
        Transition(
            application_id=application.id,
            from_status=current,
            to_status=target,
            actor_id=actor.user_id,
            at=now,
            note=note[:MAX_TEXT],
        )
    )
    record(
        session,
        action=f"application.{target.value}",
        entity_type="application",
        entity_id=application.id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        from_status=current.value,
        **detail,
    )
    await _notify_applicant(session, actor.keys, application, target)
    await session.flush()


async def _notify_applicant(
    session: AsyncSession, keys: KeyProvider, application: Application, target: ApplicationStatus
) -> None:
    owner = (
        await session.execute(
            select(User)
            .join(Enterprise, Enterprise.owner_id == User.id)
            .where(Enterprise.id == application.enterprise_id)
        )
    ).scalar_one_or_none()
    if owner is None:
        return
    address = (await people.opened(session, keys, owner)).get("email")
    if not address:  # the person was erased
        return
    await people.send_mail(
        session,
        keys,
        owner,
        to=address,
        subject=f"Your application {_NOTICES[target]}",
        body=(
            f"Your application for {application.amount:,.2f} over {application.term_months} "
            f"months {_NOTICES[target]}. "
            f"Reference: {formats.global_id('Application', application.id)}."
        ),
    )


async def load_for_change(
    session: AsyncSession, viewer: Viewer, application_id: uuid.UUID, expected: int | None
) -> Application:
    application = await repo.application_for_change(
        session, viewer=viewer, application_id=application_id
    )
    if application is None:
        raise NotFound("no such application")
    if expected is not None and application.version != expected:
        raise Conflict(
            f"the application changed since you read it (version {expected}, now "
            f"{application.version}); reload it and decide again"
        )
    return application


async def _open_product(session: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await session.get(Product, product_id)
    if product is None:
        raise NotFound("no such product")
    if product.status is not ProductStatus.PUBLISHED:
        raise NotEligible(("the product is not open for applications",))
    lender = await session.get(Institution, product.institution_id)
    if lender is None or lender.suspended_at is not None:
        raise NotEligible(("the institution offering the product is suspended",))
    return product


def _check_request(product: Product, request: Request) -> None:
    if not request.amount.is_finite() or request.amount.adjusted() >= 15:
        raise InvalidInput("amount: a finite amount below 10^15", field="amount")
    problems: list[tuple[str, str]] = []
    if not product.min_amount <= request.amount <= product.max_amount:
        problems.append(
            (
                "amount",
                f"{request.amount:,.2f} is outside the product's {product.min_amount:,.2f}"
                f" to {product.max_amount:,.2f}",
            )
        )
    if not product.min_term_months <= request.term_months <= product.max_term_months:
        problems.append(
            (
                "termMonths",
                f"{request.term_months} months is outside the product's "
                f"{product.min_term_months} to {product.max_term_months}",
            )
        )
    if request.amount != request.amount.quantize(CENT):
        problems.append(("amount", "at most 2 decimals"))
    if not 1 <= request.term_months <= MAX_TERM_MONTHS:
        problems.append(("termMonths", f"1 to {MAX_TERM_MONTHS}"))
    if request.repayment_method.value not in product.repayment_methods:
        allowed = ", ".join(product.repayment_methods)
        problems.append(
            (
                "repaymentMethod",
                f"the product offers {allowed}, not {request.repayment_method.value}",
            )
        )
    if not 3 <= len(request.purpose.strip()) <= 500:
        problems.append(("purpose", "3 to 500 characters"))
    if problems:
        raise InvalidInput.of_problems(problems)


def _check_text(label: str, text: str) -> None:
    if not 3 <= len(text.strip()) <= MAX_TEXT:
        raise InvalidInput(f"{label}: 3 to {MAX_TEXT} characters", field=label)


def require_role(
    viewer: Viewer, institution_id: uuid.UUID, roles: frozenset[Role], doing: str
) -> None:
    if not viewer.institution_roles.get(institution_id, frozenset()) & roles:
        raise Forbidden(f"only the institution's own staff in the right role may {doing}")


def _require_person(actor: Actor, application: Application, doing: str) -> uuid.UUID:
    require_role(actor.viewer, application.institution_id, DECIDERS, doing)
    if actor.user_id is None:
        raise Forbidden(f"only a person may {doing}")
    return actor.user_id


async def _not_a_former_decider(
    session: AsyncSession, officer_id: uuid.UUID, application: Application
) -> None:
    if officer_id in await repo.deciders(session, application.id):
        raise FourEyes("an appeal is reviewed by an officer who did not decide before")


def _approved_rate(product: Product, given: Decimal | None) -> Decimal:
    rate = product.min_rate if given is None else given
    if not product.min_rate <= rate <= product.max_rate:
        raise InvalidInput(
            f"annualRate: {rate} is outside the product's {product.min_rate} to {product.max_rate}",
            field="annualRate",
        )
    return rate


async def _latest_assessment_id(
    session: AsyncSession, application_id: uuid.UUID
) -> uuid.UUID | None:
    stmt = (
        select(RiskAssessment.id)
        .where(RiskAssessment.application_id == application_id, RiskAssessment.shadow.is_(False))
        .order_by(RiskAssessment.assessed_at.desc(), RiskAssessment.id.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).one_or_none()
