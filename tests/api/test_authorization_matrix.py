"""The default policy's authorization matrix, proved field by field through the live API.

For every role and every field of Enterprise, Application, Loan, RiskAssessment,
ExternalDataRecord, User, PrivacyPreferences, Job and JobFile, the contract's LoanAmendment,
ContractVersion, LoanTermination and PayoffQuote, the loan's LoanCharge and Recovery, the
ledger's JournalEntry, JournalLine, TrialBalance and LedgerAccountBalance, workout's
WorkoutCase, CollectionContact and PromiseToPay, provisioning's PortfolioProvisions,
PortfolioStageAllowance and PortfolioStageMove, and feedback's ServiceRating,
SupportTicket and SupportMessage, the
expected outcome (allow / mask / deny) is computed with pycasbin
straight from ``authz_model.conf`` and ``authz_default_policy.csv``, not through the
app's database-loaded ``Authorizer``, and compared with what a real GraphQL request,
signed with a real bearer token, returns.

Purpose is a dimension too: for every role and every declared ``X-Purpose``, a
personal value the policy lets the role reveal is revealed only when the role's
lawful basis for the row covers that purpose (``domain/privacy/lawful_bases.csv``).

What only a mutation answers (``LoanSettled``, ``AccrualRun``, ...) no query reaches:
``tests/api/test_mutation_result_matrix.py`` finds those types in the schema and probes
them through their mutations.
"""

from __future__ import annotations

import base64
import enum
import functools
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import casbin
import pytest
from graphql import GraphQLObjectType, get_named_type, is_leaf_type, is_non_null_type
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.utils.str_converters import to_camel_case

from api.schema import build_schema
from domain.collateral.models import (
    CollateralItem,
    CollateralKind,
    CollateralStatus,
    CollateralValuation,
    Guarantee,
    GuaranteeKind,
    GuaranteeStatus,
)
from domain.contracts.amendment import HolidayInterest
from domain.contracts.models import AmendmentStatus, ContractVersion, LoanAmendment
from domain.feedback import service as feedback
from domain.feedback.models import RatedEvent
from domain.feedback.models import ServiceRating as ServiceRatingRow
from domain.feedback.models import SupportTicket as SupportTicketRow
from domain.identity.authorization import DEFAULT_POLICY_PATH, MODEL_PATH
from domain.identity.models import Institution, Role, RoleGrantChange, ServiceAccount, User
from domain.identity.security import hash_password, mint_token
from domain.identity.viewer import Viewer
from domain.jobs import files as job_files
from domain.jobs.files import NewFile
from domain.jobs.models import FileRole, JobFile, JobRun, JobState
from domain.ledger import loans as books
from domain.ledger.models import JournalEntry
from domain.lending.models import Installment
from domain.models import Application, Enterprise, ExternalDataRecord, Loan
from domain.privacy import lawful_bases
from domain.privacy.lawful_bases import Basis
from domain.privacy.purposes import PURPOSES
from domain.provisioning.models import LoanStage
from domain.risk.models import RiskAssessment
from domain.settings import Settings
from domain.workout.models import (
    CollectionContact,
    ContactChannel,
    ContactOutcome,
    PromiseToPay,
    Recovery,
    WorkoutCase,
    WorkoutState,
    WorkoutStrategy,
)
from kernel.base import utcnow
from kernel.db import session_factory
from privacy import keystore, vault
from privacy.classification import Classification
from privacy.masking import mask
from tests import factories as f
from tests.api.conftest import GraphQLClient, make_settings

TYPES = (
    "Enterprise",
    "Application",
    "Loan",
    "RiskAssessment",
    "ExternalDataRecord",
    "User",
    "PrivacyPreferences",
    "Job",
    "JobFile",
    "LoanAmendment",
    "ContractVersion",
    "JournalEntry",
    "JournalLine",
    "TrialBalance",
    "LedgerAccountBalance",
    "ServiceRating",
    "SupportTicket",
    "SupportMessage",
    "WorkoutCase",
    "CollectionContact",
    "PromiseToPay",
    "RoleGrantChange",
    "LoanCharge",
    "LoanTermination",
    "PayoffQuote",
    "Recovery",
    "PortfolioProvisions",
    "PortfolioStageAllowance",
    "PortfolioStageMove",
    "CollateralItem",
    "CollateralValuation",
    "Guarantee",
    "LoanCreditLoss",
)
PROVISION_TYPES = ("PortfolioProvisions", "PortfolioStageAllowance", "PortfolioStageMove")
FEEDBACK_TYPES = ("ServiceRating", "SupportTicket", "SupportMessage")
COMMENT = "Quick and clear about the terms"
SUBJECT = "About my second instalment"
MESSAGE = "May I pay the second instalment on the 20th?"
# Rows a role's row scope keeps from it whatever the policy says of their fields: a
# borrower sees no institution's book. Only the route's answer is checked for them.
UNREACHABLE = {
    # A verification officer looks across tenants at enterprises only: no institution's jobs.
    (Role.VERIFICATION_OFFICER, "Job"),
    (Role.VERIFICATION_OFFICER, "JobFile"),
    # ...nor their ratings and support tickets.
    *((Role.VERIFICATION_OFFICER, t) for t in FEEDBACK_TYPES),
    (Role.SME_OWNER, "JournalEntry"),
    (Role.SME_OWNER, "JournalLine"),
    (Role.SME_OWNER, "TrialBalance"),
    (Role.SME_OWNER, "LedgerAccountBalance"),
    # Workout cases are the institution's credit staff's and platform oversight's only
    # (partner services: no scope reaches them, so their route is refused).
    *(
        (role, name)
        for role in (Role.SME_OWNER, Role.VERIFICATION_OFFICER)
        for name in ("WorkoutCase", "CollectionContact", "PromiseToPay")
    ),
    # Portfolio figures (allowance by stage) are an institution's risk officers' and
    # admins' and oversight's: a borrower's or a loan officer's portfolioSummary is
    # refused as a whole. (A verification officer looks across tenants, so its summary
    # answers and the policy refuses the provisions field: the generic probe.)
    *((role, name) for role in (Role.SME_OWNER, Role.LOAN_OFFICER) for name in PROVISION_TYPES),
    # Proposed role grants: the institution's admins and the platform's oversight roles.
    (Role.SME_OWNER, "RoleGrantChange"),
    (Role.LOAN_OFFICER, "RoleGrantChange"),
    (Role.RISK_OFFICER, "RoleGrantChange"),
    (Role.VERIFICATION_OFFICER, "RoleGrantChange"),
}
TRIAL_AS_OF = "2026-06-30"
INSTITUTION_CODE = "MTX01"
SERVICE_SCOPES = frozenset({"applications:read", "loans:read"})
# Held within an institution (Casbin domain: its code); the other roles are platform-wide.
NOT_OVERSIGHT = frozenset({Role.SME_OWNER, Role.VERIFICATION_OFFICER})
INSTITUTION_ROLES = frozenset(
    {Role.LOAN_OFFICER, Role.RISK_OFFICER, Role.INSTITUTION_ADMIN, Role.PARTNER_SERVICE}
)
PROTECTED = frozenset({Classification.PERSONAL, Classification.SENSITIVE})

Path = tuple[str | int, ...]


class Outcome(enum.Enum):
    ALLOW = "allow"
    MASK = "mask"
    DENY = "deny"


# ------------------------------------------------------------ the expected matrix


@functools.cache
def _enforcer() -> Any:
    return casbin.Enforcer(str(MODEL_PATH), str(DEFAULT_POLICY_PATH))


@functools.cache
def _enforce(subject: str, domain: str, obj: str, act: str) -> bool:
    return bool(_enforcer().enforce(subject, domain, obj, act))


@functools.cache
def _denied(subject: str, domain: str, obj: str, act: str) -> bool:
    """An explicit deny matched (not merely no allow)."""
    ok, rule = _enforcer().enforce_ex(subject, domain, obj, act)
    return not ok and bool(rule) and rule[-1] == "deny"


def _grants(role: Role) -> tuple[tuple[str, str], ...]:
    domain = INSTITUTION_CODE if role in INSTITUTION_ROLES else "*"
    return (("authenticated", "*"), (role.value, domain))


def allows(role: Role, obj: str, act: str) -> bool:
    # Some grant allows and none is explicitly denied: a role's deny beats the others.
    grants = _grants(role)
    if not any(_enforce(subject, domain, obj, act) for subject, domain in grants):
        return False
    if any(_denied(subject, domain, obj, act) for subject, domain in grants):
        return False
    if role is not Role.PARTNER_SERVICE:
        return True
    # A service token is further held to its scopes, and there reveal follows read.
    scope_act = "read" if act == "reveal" else act
    return any(_enforce(f"scope:{scope}", "*", obj, scope_act) for scope in SERVICE_SCOPES)


@dataclass(frozen=True)
class FieldInfo:
    type_name: str
    name: str
    classification: Classification
    non_null: bool
    leaf: bool
    scalar: str  # the named GraphQL type: String, Decimal, Float, Enterprise, ...

    @property
    def object(self) -> str:
        return f"{self.type_name}.{self.name}"

    @property
    def selection(self) -> str:
        return self.name if self.leaf else f"{self.name} {{ __typename }}"


def expected(role: Role, field: FieldInfo) -> Outcome:
    if not allows(role, field.object, "read"):
        return Outcome.DENY
    if field.classification in PROTECTED and not allows(role, field.object, "reveal"):
        return Outcome.MASK
    return Outcome.ALLOW


Catalogue = dict[str, tuple[FieldInfo, ...]]
Matrix = dict[tuple[Role, str], Outcome]


@pytest.fixture(scope="module")
def catalogue(database_url: str) -> Catalogue:
    """Every field of the types, with its classification, as the built schema serves it."""
    schema = build_schema(make_settings(database_url))._schema
    found: Catalogue = {}
    for type_name in TYPES:
        graphql_type = schema.type_map[type_name]
        assert isinstance(graphql_type, GraphQLObjectType)
        definition = graphql_type.extensions["strawberry-definition"]
        assert isinstance(definition, StrawberryObjectDefinition)
        fields = []
        for field in definition.fields:
            name = field.graphql_name or to_camel_case(field.python_name)
            served = graphql_type.fields[name].type
            named = get_named_type(served)
            classification = field.metadata["classification"] if field.metadata else None
            assert isinstance(classification, Classification), f"{type_name}.{name}"
            fields.append(
                FieldInfo(
                    type_name=type_name,
                    name=name,
                    classification=classification,
                    non_null=is_non_null_type(served),
                    leaf=is_leaf_type(named),
                    scalar=named.name,
                )
            )
        found[type_name] = tuple(fields)
    return found


@pytest.fixture(scope="module")
def matrix(catalogue: Catalogue) -> Matrix:
    return {
        (role, field.object): expected(role, field)
        for role in Role
        for fields in catalogue.values()
        for field in fields
    }


# ------------------------------------------------------------ one row of each type


@dataclass(frozen=True)
class World:
    token: str
    # Type -> field -> the value the API serves when it is allowed (JSON, unmasked).
    truth: dict[str, dict[str, Any]]
    institution: str  # the institution's global id, for trialBalance's argument


def _gid(type_name: str, pk: uuid.UUID) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


async def _risk_assessment(s: AsyncSession, application: Application) -> RiskAssessment:
    row = RiskAssessment(
        application_id=application.id,
        enterprise_id=application.enterprise_id,
        probability_of_default=0.0312,
        score=712,
        grade="A",
        reasons=[
            {"feature": "debt_ratio", "impact": 0.42, "text": "Debt is high against assets"},
            {"feature": "years_in_business", "impact": -0.18, "text": "Trading for ten years"},
        ],
        model_version="pd-logit-2026.11",
        assessed_at=f.FIXED_NOW,
    )
    s.add(row)
    await s.flush()
    return row


async def _service_token(s: AsyncSession, settings: Settings, bank: Institution) -> str:
    account = ServiceAccount(
        institution_id=bank.id,
        name="Matrix partner",
        client_id="matrix-partner",
        secret_hash=hash_password("x" * 20),
        scopes=sorted(SERVICE_SCOPES),
    )
    s.add(account)
    await s.flush()
    return mint_token(
        settings.signing_key(),
        subject=str(account.id),
        type="access",
        now=utcnow(),
        ttl=900,
        service=True,
        scopes=SERVICE_SCOPES,
    )


async def _world(db: AsyncEngine, settings: Settings, role: Role) -> World:
    """An owned enterprise that applied to the institution's product, and a viewer in ``role``.

    The owner owns the enterprise, institution roles belong to the institution applied
    to, platform roles see every institution: each role can reach every row.
    """
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s, code=INSTITUTION_CODE)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, email="owner@example.test", roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id, name="Matrix Works")
        application = await f.application(s, enterprise_id=enterprise.id, product_row=product)
        loan = await f.loan(s, application_row=application)
        await books.disbursed(
            s,
            institution_id=bank.id,
            loan_id=loan.id,
            principal=loan.principal,
            on=loan.disbursed_on,
            actor_id=None,
        )
        entry = (await s.scalars(select(JournalEntry))).one()
        assessment = await _risk_assessment(s, application)
        job, job_file = await _report_job(s, settings, bank, owner)
        record = await f.external_data(s, enterprise_id=enterprise.id)
        amendment, version = await _amendment(s, loan, owner)
        rating, ticket = await _feedback(s, loan, owner)
        case, contact, promise = await _workout(s, loan)
        await _servicing(s, loan)
        await _stages(s, loan)
        item, guarantee = await _security(s, loan)
        grant = RoleGrantChange(
            user_id=owner.id,
            role=Role.LOAN_OFFICER,
            institution_id=bank.id,
            status="pending",
            created_by=owner.id,
            created_at=f.FIXED_NOW,
        )
        s.add(grant)
        await s.flush()
        viewer: User | None
        if role is Role.SME_OWNER:
            viewer, token = owner, await f.access_token(s, settings, owner)
        elif role is Role.PARTNER_SERVICE:
            viewer, token = None, await _service_token(s, settings, bank)
        else:
            held_in = bank.id if role in INSTITUTION_ROLES else None
            viewer = await f.user(s, email=f"{role.value}@example.test", roles=[(role, held_in)])
            token = await f.access_token(s, settings, viewer)
    truth = {
        "Enterprise": _enterprise_truth(enterprise),
        "Application": _application_truth(application),
        "Loan": _loan_truth(loan),
        "RiskAssessment": _assessment_truth(assessment),
        "ExternalDataRecord": _external_data_truth(record),
        "User": {} if viewer is None else _user_truth(viewer),
        # Nobody in the world changed theirs: the defaults.
        "PrivacyPreferences": {} if viewer is None else _preferences_truth(),
        "Job": _job_truth(job),
        "JobFile": _job_file_truth(job_file),
        "LoanAmendment": _amendment_truth(amendment),
        "ContractVersion": _version_truth(version),
        "JournalEntry": _entry_truth(entry),
        "JournalLine": {"account": "LOANS_RECEIVABLE", "glCode": "1100"}
        | {"debit": "200000.00", "credit": "0.00"},
        "TrialBalance": _trial_truth(),
        "ServiceRating": _rating_truth(rating, loan),
        "SupportTicket": _ticket_truth(ticket),
        "SupportMessage": {"fromStaff": False, "at": "2026-11-01T09:00:00+00:00", "body": MESSAGE},
        "RoleGrantChange": {
            "id": _gid("RoleGrantChange", grant.id),
            "role": "LOAN_OFFICER",
            "institutionId": _gid("Institution", bank.id),
            "status": "PENDING",
            "createdAt": "2026-11-01T09:00:00+00:00",
            "decidedAt": None,
            # The grant's people (the owner) are Users only oversight roles see (api.people).
            "user": _seen_by_oversight(role),
            "createdBy": _seen_by_oversight(role),
            "decidedBy": None,
        },
        "LedgerAccountBalance": {
            "account": "CASH",
            "glCode": "1000",
            "name": "Cash and settlement",
            "type": "ASSET",
            "debits": "0.00",
            "credits": "200000.00",
            "balance": "-200000.00",
        },
        **_workout_truth(case, contact, promise),
        **_security_truth(item, guarantee),
        **SERVICING_TRUTH,
        **PROVISIONS_TRUTH,
    }
    return World(token=token, truth=truth, institution=_gid("Institution", bank.id))


async def _feedback(
    s: AsyncSession, loan: Loan, owner: User
) -> tuple[ServiceRatingRow, SupportTicketRow]:
    """The owner's rating of the payout, with a comment, and a ticket about the loan."""
    viewer = Viewer(user_id=owner.id, platform_roles=frozenset({Role.SME_OWNER}))
    common = {"viewer": viewer, "request_id": None, "now": f.FIXED_NOW}
    rating = await feedback.rate_service(
        s,
        f.KEYS,
        kind=RatedEvent.DISBURSEMENT,
        event_id=loan.id,
        score=4,
        comment=COMMENT,
        **common,
    )
    ticket = await feedback.open_ticket(
        s,
        f.KEYS,
        application_id=None,
        loan_id=loan.id,
        subject=SUBJECT,
        message=MESSAGE,
        **common,
    )
    return rating, ticket


def _seen_by_oversight(role: Role) -> dict[str, str] | None:
    """A User that only the platform's oversight roles may see: a relation to it."""
    oversight = role not in INSTITUTION_ROLES and role not in NOT_OVERSIGHT
    return {"__typename": "User"} if oversight else None


def _rating_truth(row: ServiceRatingRow, loan: Loan) -> dict[str, Any]:
    return {
        "id": _gid("ServiceRating", row.id),
        "eventKind": "DISBURSEMENT",
        "eventId": _gid("Loan", loan.id),
        "score": 4,
        "ratedAt": "2026-11-01T09:00:00+00:00",
        "comment": COMMENT,
        "institution": {"__typename": "Institution"},
    }


def _ticket_truth(row: SupportTicketRow) -> dict[str, Any]:
    return {
        "id": _gid("SupportTicket", row.id),
        "status": "OPEN",
        "version": 1,
        "openedAt": "2026-11-01T09:00:00+00:00",
        "firstAnsweredAt": None,
        "closedAt": None,
        "subject": SUBJECT,
        "institution": {"__typename": "Institution"},
        "application": None,
        "loan": {"__typename": "Loan"},
        "messages": [{"__typename": "SupportMessage"}],
    }


TERMS = {
    "contract_version": 2,
    "instalments": [
        {
            "sequence": 1,
            "due_on": "2026-02-15",
            "principal": "200000.00",
            "interest": "1000.00",
            "fee": "0.00",
        }
    ],
}


async def _amendment(
    s: AsyncSession, loan: Loan, owner: User
) -> tuple[LoanAmendment, ContractVersion]:
    """A signed amendment and the contract version it made."""
    amendment = LoanAmendment(
        loan_id=loan.id,
        institution_id=loan.institution_id,
        status=AmendmentStatus.ACCEPTED,
        effective_on=date(2026, 2, 15),
        annual_rate=Decimal("0.045000"),
        extra_months=6,
        holiday_months=2,
        holiday_interest=HolidayInterest.DEFERRED,
        instalment=None,
        top_up=Decimal("0.00"),
        forborne=True,
        reason="sales fell after the flood",
        terms=TERMS,
        terms_hash="a" * 64,
        basis_hash="b" * 64,
        contract_version=2,
        proposed_by=owner.id,
        proposed_at=f.FIXED_NOW,
        accepted_by=owner.id,
        accepted_at=f.FIXED_NOW,
    )
    s.add(amendment)
    await s.flush()
    version = ContractVersion(
        loan_id=loan.id,
        number=2,
        effective_on=date(2026, 2, 15),
        terms=TERMS,
        terms_hash="a" * 64,
        amendment_id=amendment.id,
        signed_at=f.FIXED_NOW,
        recorded_at=f.FIXED_NOW,
    )
    s.add(version)
    await s.flush()
    return amendment, version


def _amendment_truth(row: LoanAmendment) -> dict[str, Any]:
    return {
        "id": _gid("LoanAmendment", row.id),
        "status": "ACCEPTED",
        "kinds": ["rate_change", "term_extension", "payment_holiday"],
        "effectiveOn": "2026-02-15",
        "annualRate": "0.045000",
        "extraMonths": 6,
        "holidayMonths": 2,
        "holidayInterest": "DEFERRED",
        "newInstalment": None,
        "topUpAmount": "0.00",
        "forborne": True,
        "reason": "sales fell after the flood",
        "termsHash": "a" * 64,
        "terms": TERMS,
        "schedule": [{"__typename": "ContractInstalment"}],
        "contractVersion": 2,
        "proposedAt": "2026-11-01T09:00:00+00:00",
        "acceptedAt": "2026-11-01T09:00:00+00:00",
        "withdrawnAt": None,
        "version": 1,
        "loan": {"__typename": "Loan"},
    }


def _version_truth(row: ContractVersion) -> dict[str, Any]:
    return {
        "number": 2,
        "effectiveOn": "2026-02-15",
        "termsHash": "a" * 64,
        "terms": TERMS,
        "schedule": [{"__typename": "ContractInstalment"}],
        "signedAt": "2026-11-01T09:00:00+00:00",
        "recordedAt": "2026-11-01T09:00:00+00:00",
        "amendment": {"__typename": "LoanAmendment"},
    }


COLLECTION_NOTE = "Called Zhang Wei about the arrears"
TERMINATION_REASON = "Default on the first instalment"
PAYOFF_ON = "2026-06-30"


async def _servicing(s: AsyncSession, loan: Loan) -> None:
    """The loan's servicing records: a first instalment paid late with its late fee (the
    loan's one charge), an acceleration and a recovery (each stored as its service
    stores it; the matrix is about who reads them, not how they came about): the
    acceleration's reason sealed under the enterprise's key."""
    await f.termination(s, loan, amount="110.00", reason=TERMINATION_REASON)
    s.add_all(
        [
            Installment(
                loan_id=loan.id,
                sequence=1,
                due_on=date(2026, 2, 15),
                principal_due=Decimal("100.00"),
                interest_due=Decimal("10.00"),
                fee_due=Decimal("0.00"),
                principal_paid=Decimal("100.00"),
                interest_paid=Decimal("10.00"),
                fee_paid=Decimal("0.00"),
                settled_on=date(2026, 2, 25),
                late_fee_due=Decimal("25.00"),
                late_fee_paid=Decimal("25.00"),
                late_fee_charged_on=date(2026, 2, 21),
            ),
            Recovery(
                loan_id=loan.id,
                institution_id=loan.institution_id,
                idempotency_key="matrix-recovery-1",
                amount=Decimal("40.00"),
                received_on=date(2026, 10, 1),
                recorded_at=f.FIXED_NOW,
            ),
        ]
    )
    await s.flush()


PORTFOLIO_PERIOD = '(filter: {start: "2026-01-01", end: "2026-11-30"})'


async def _stages(s: AsyncSession, loan: Loan) -> None:
    """The loan staged at two month-end closes: stage 2 in September, back to 1 in October."""
    for as_of, stage, ecl in ((date(2026, 9, 30), 2, "1500.00"), (date(2026, 10, 31), 1, "300.00")):
        s.add(
            LoanStage(
                loan_id=loan.id,
                as_of=as_of,
                institution_id=loan.institution_id,
                stage=stage,
                reason="current" if stage == 1 else "dpd_30",
                days_past_due=0 if stage == 1 else 35,
                pd_origination=Decimal("0.010000"),
                pd_12m=Decimal("0.015000"),
                pd_lifetime=Decimal("0.017000"),
                lgd=Decimal("0.450000"),
                ead=Decimal("200000.00"),
                ecl=Decimal(ecl),
            )
        )
    await s.flush()


PROVISIONS_TRUTH: dict[str, dict[str, Any]] = {
    "PortfolioProvisions": {
        "asOf": "2026-10-31",
        "previous": "2026-09-30",
        "stages": [{"__typename": "PortfolioStageAllowance"}] * 3,
        "migration": [{"__typename": "PortfolioStageMove"}],
        "expectedCreditLoss": "300.00",
        "exposure": "200000.00",
    },
    # Stage 1 at the October close: the loan.
    "PortfolioStageAllowance": {
        "stage": 1,
        "loans": 1,
        "exposure": "200000.00",
        "expectedCreditLoss": "300.00",
        "coverageRate": "0.001500",
    },
    "PortfolioStageMove": {"fromStage": 2, "toStage": 1, "loans": 1, "exposure": "200000.00"},
}


SERVICING_TRUTH: dict[str, dict[str, Any]] = {
    "LoanCharge": {
        "kind": "LATE_FEE",
        "sequence": 1,
        "chargedOn": "2026-02-21",
        "amount": "25.00",
        "amountPaid": "25.00",
    },
    "LoanTermination": {
        "kind": "ACCELERATION",
        "terminatedOn": "2026-05-01",
        "amount": "110.00",
        "reason": TERMINATION_REASON,
        "recordedAt": "2026-11-01T09:00:00+00:00",
    },
    # Everything due was paid: the quote is all zeros, on the day asked.
    "PayoffQuote": {
        "asOf": PAYOFF_ON,
        "principal": "0.00",
        "interestDue": "0.00",
        "fees": "0.00",
        "totalAmount": "0.00",
    },
    "Recovery": {
        "amount": "40.00",
        "receivedOn": "2026-10-01",
        "idempotencyKey": "matrix-recovery-1",
        "recordedAt": "2026-11-01T09:00:00+00:00",
    },
}


GUARANTOR = "Li Na"
GUARANTOR_IDENTITY = "110101198805064321"


async def _security(s: AsyncSession, loan: Loan) -> tuple[CollateralItem, Guarantee]:
    """A building pledged for the loan (valued once) and a personal guarantee, its
    guarantor sealed under the enterprise's key."""
    item = CollateralItem(
        loan_id=loan.id,
        institution_id=loan.institution_id,
        enterprise_id=loan.enterprise_id,
        kind=CollateralKind.REAL_ESTATE,
        description="Workshop, 8 Canal Street",
        market_value=Decimal("150000.00"),
        valued_on=date(2026, 1, 10),
        valuation_source="Chartered surveyor",
        status=CollateralStatus.PLEDGED,
        pledged_at=f.FIXED_NOW,
    )
    s.add(item)
    await s.flush()
    s.add(
        CollateralValuation(
            item_id=item.id,
            market_value=Decimal("150000.00"),
            valued_on=date(2026, 1, 10),
            source="Chartered surveyor",
            recorded_at=f.FIXED_NOW,
        )
    )
    key = (await keystore.unwrap_many(s, f.KEYS, [loan.enterprise_id]))[loan.enterprise_id]
    assert key is not None
    guarantee_id = uuid.uuid4()

    def sealed(value: str, column: str) -> str:
        return vault.seal(key, value, table="loan_guarantees", column=column, row_id=guarantee_id)

    guarantee = Guarantee(
        id=guarantee_id,
        loan_id=loan.id,
        institution_id=loan.institution_id,
        enterprise_id=loan.enterprise_id,
        kind=GuaranteeKind.PERSONAL,
        guarantor_name=sealed(GUARANTOR, "guarantor_name"),
        guarantor_identity=sealed(GUARANTOR_IDENTITY, "guarantor_identity"),
        amount=Decimal("50000.00"),
        status=GuaranteeStatus.ACTIVE,
        added_at=f.FIXED_NOW,
    )
    s.add(guarantee)
    await s.flush()
    return item, guarantee


def _security_truth(item: CollateralItem, guarantee: Guarantee) -> dict[str, dict[str, Any]]:
    return {
        "CollateralItem": {
            "id": _gid("CollateralItem", item.id),
            "kind": "REAL_ESTATE",
            "description": "Workshop, 8 Canal Street",
            "marketValue": "150000.00",
            "valuedOn": "2026-01-10",
            "valuationSource": "Chartered surveyor",
            "status": "PLEDGED",
            "haircutRate": "0.400000",
            "coveredValue": "90000.00",
            "pledgedAt": "2026-11-01T09:00:00+00:00",
            "endedAt": None,
            "version": 1,
            "valuations": [{"__typename": "CollateralValuation"}],
        },
        "CollateralValuation": {
            "marketValue": "150000.00",
            "valuedOn": "2026-01-10",
            "source": "Chartered surveyor",
            "recordedAt": "2026-11-01T09:00:00+00:00",
        },
        "Guarantee": {
            "id": _gid("Guarantee", guarantee.id),
            "kind": "PERSONAL",
            "guarantorName": GUARANTOR,
            "guarantorIdentity": GUARANTOR_IDENTITY,
            "amount": "50000.00",
            "coveredAmount": "20000.00",
            "status": "ACTIVE",
            "addedAt": "2026-11-01T09:00:00+00:00",
            "endedAt": None,
            "version": 1,
        },
        # The October close (``_stages``): the newest.
        "LoanCreditLoss": {
            "asOf": "2026-10-31",
            "stage": 1,
            "reason": "current",
            "daysPastDue": 0,
            "twelveMonthDefaultRate": "0.015000",
            "lifetimeDefaultRate": "0.017000",
            "lossGivenDefault": "0.450000",
            "exposure": "200000.00",
            "expectedLoss": "300.00",
        },
    }


async def _workout(
    s: AsyncSession, loan: Loan
) -> tuple[WorkoutCase, CollectionContact, PromiseToPay]:
    """A collection case on the loan, overdue, with a contact (its note sealed under the
    enterprise's key) and a promise that came to nothing."""
    case = WorkoutCase(
        loan_id=loan.id,
        institution_id=loan.institution_id,
        enterprise_id=loan.enterprise_id,
        strategy=WorkoutStrategy.COLLECTION,
        state=WorkoutState.OPEN,
        opened_at=f.FIXED_NOW,
        due_on=date(2026, 11, 15),
    )
    s.add(case)
    await s.flush()
    key = (await keystore.unwrap_many(s, f.KEYS, [loan.enterprise_id]))[loan.enterprise_id]
    assert key is not None
    contact_id = uuid.uuid4()
    contact = CollectionContact(
        id=contact_id,
        case_id=case.id,
        institution_id=loan.institution_id,
        enterprise_id=loan.enterprise_id,
        channel=ContactChannel.PHONE,
        outcome=ContactOutcome.PROMISED,
        note=vault.seal(
            key, COLLECTION_NOTE, table="collection_contacts", column="note", row_id=contact_id
        ),
        contacted_at=f.FIXED_NOW,
    )
    promise = PromiseToPay(
        case_id=case.id,
        institution_id=loan.institution_id,
        loan_id=loan.id,
        made_on=date(2026, 11, 1),
        promised_on=date(2026, 11, 10),
        amount=Decimal("100.00"),
        recorded_at=f.FIXED_NOW,
    )
    s.add_all([contact, promise])
    await s.flush()
    return case, contact, promise


def _workout_truth(
    case: WorkoutCase, contact: CollectionContact, promise: PromiseToPay
) -> dict[str, dict[str, Any]]:
    return {
        "WorkoutCase": {
            "id": _gid("WorkoutCase", case.id),
            "strategy": "COLLECTION",
            "state": "OPEN",
            "ownerId": None,
            "openedAt": "2026-11-01T09:00:00+00:00",
            "dueOn": "2026-11-15",
            "overdue": True,
            "outcome": None,
            "recoveredAmount": None,
            "resolvedAt": None,
            "closedAt": None,
            "version": 1,
            "filedOn": None,
            "court": None,
            "courtReference": None,
            "legalCostAmount": None,
            "judgmentAmount": None,
            "buyer": None,
            "saleAmount": None,
            "saleProfit": None,
            "loan": {"__typename": "Loan"},
            "alerts": [],
            "contacts": [{"__typename": "CollectionContact"}],
            "promises": [{"__typename": "PromiseToPay"}],
        },
        "CollectionContact": {
            "id": _gid("CollectionContact", contact.id),
            "channel": "PHONE",
            "outcome": "PROMISED",
            "contactedAt": "2026-11-01T09:00:00+00:00",
            "recordedById": None,
            "note": COLLECTION_NOTE,
        },
        "PromiseToPay": {
            "id": _gid("PromiseToPay", promise.id),
            "madeOn": "2026-11-01",
            "promisedOn": "2026-11-10",
            "amount": "100.00",
            "recordedAt": "2026-11-01T09:00:00+00:00",
            "amountPaid": "0.00",
            "status": "BROKEN",
        },
    }


async def _report_job(
    s: AsyncSession, settings: Settings, bank: Institution, owner: User
) -> tuple[JobRun, JobFile]:
    """A finished report job of the institution, which the owner asked for (so every role
    but a service reaches it by the jobs' row scope), with its sealed page."""
    job = JobRun(
        kind="portfolio_report",
        state=JobState.SUCCEEDED,
        trigger="api",
        requested_by=owner.id,
        institution_id=bank.id,
        params={},
        done=8,
        total=8,
        attempts=1,
        created_at=f.FIXED_NOW,
    )
    s.add(job)
    await s.flush()
    page = NewFile(FileRole.OUTPUT, "portfolio.html", "text/html", b"<h1>Portfolio</h1>", True)
    stored = await job_files.store(
        s,
        settings,
        page,
        job_id=job.id,
        owner_id=owner.id,
        institution_id=bank.id,
        now=f.FIXED_NOW,
    )
    return job, stored


def _job_truth(row: JobRun) -> dict[str, Any]:
    return {
        "id": _gid("Job", row.id),
        "kind": "portfolio_report",
        "state": "SUCCEEDED",
        "trigger": "api",
        "progress": {"__typename": "JobProgress"},
        "attempts": 1,
        "createdAt": "2026-11-01T09:00:00+00:00",
        "startedAt": None,
        "finishedAt": None,
        "error": None,
        "result": None,
        "files": [{"__typename": "JobFile"}],
        "importRun": None,
    }


def _job_file_truth(row: JobFile) -> dict[str, Any]:
    gid = _gid("JobFile", row.id)
    return {
        "id": gid,
        "role": "OUTPUT",
        "name": "portfolio.html",
        "contentType": "text/html",
        "size": 18,
        "sha256": hashlib.sha256(b"<h1>Portfolio</h1>").hexdigest(),
        "createdAt": "2026-11-01T09:00:00+00:00",
        "expiresAt": "2026-11-08T09:00:00+00:00",
        "download": f"/jobs/files/{gid}",
    }


def _enterprise_truth(row: Enterprise) -> dict[str, Any]:
    return {
        "id": _gid("Enterprise", row.id),
        "name": "Matrix Works",
        "unifiedSocialCreditCode": row.unified_social_credit_code,
        "industry": "manufacturing",
        "region": "Zhejiang",
        "foundedOn": "2015-03-01",
        "employeeCount": 25,
        "annualRevenue": "3200000.00",
        "legalRepresentativeName": "Zhang Wei",
        "legalRepresentativeIdNumber": "110101199003071234",
        "contactPhone": "13812345678",
        "contactEmail": f.contact_email(row.name),
        "bankAccountNumber": "6222020200112233445",
        "financialStatements": [],
        "latestRating": None,
        "ratingHistory": [],
        "externalData": [{"__typename": "ExternalDataRecord"}],
        "applications": {"__typename": "ApplicationConnection"},
        "verificationLevel": "VERIFIED",
    }


def _application_truth(row: Application) -> dict[str, Any]:
    return {
        "id": _gid("Application", row.id),
        "amount": "200000.00",
        "termMonths": 12,
        "repaymentMethod": "ANNUITY",
        "purpose": "working capital",
        "status": "SUBMITTED",
        "createdAt": "2026-11-01T09:00:00+00:00",
        "submittedAt": "2026-11-01T09:00:00+00:00",
        "decidedAt": None,
        "enterprise": {"__typename": "Enterprise"},
        "product": {"__typename": "Product"},
        "institution": {"__typename": "Institution"},
        "riskAssessment": {"__typename": "RiskAssessment"},
        "decisions": [],
        "loan": {"__typename": "Loan"},
        "version": 1,
        "approvedRate": None,
        "awaitingSecondApproval": False,
        "appealReason": None,
        "appealedAt": None,
        "timeline": [],
        "contract": None,
    }


def _loan_truth(row: Loan) -> dict[str, Any]:
    return {
        "id": _gid("Loan", row.id),
        "principal": "200000.00",
        "annualRate": "0.060000",
        "termMonths": 12,
        "repaymentMethod": "ANNUITY",
        "disbursedOn": "2026-01-15",
        "maturityOn": "2027-01-15",
        "status": "ACTIVE",
        "outstandingPrincipal": "200000.00",
        "daysPastDue": 0,
        "delinquencyBucket": "CURRENT",
        "closedOn": None,
        "application": {"__typename": "Application"},
        "enterprise": {"__typename": "Enterprise"},
        "product": {"__typename": "Product"},
        "institution": {"__typename": "Institution"},
        "schedule": [{"__typename": "Installment"}],
        "repayments": [],
        "payoffAmount": "0.00",
        "agedOn": None,
        "writtenOffOn": None,
        "writeOffReason": None,
        "forborne": False,
        "version": 1,
        "warning": None,
        "amendments": [{"__typename": "LoanAmendment"}],
        "contractVersions": [{"__typename": "ContractVersion"}],
        "payoffQuote": {"__typename": "PayoffQuote"},
        "terminations": [{"__typename": "LoanTermination"}],
        "recoveries": [{"__typename": "Recovery"}],
        "accruedThrough": None,
        "accruedInterest": "0.00",
        "charges": [{"__typename": "LoanCharge"}],
        "collateral": [{"__typename": "CollateralItem"}],
        "guarantees": [{"__typename": "Guarantee"}],
        "creditLoss": {"__typename": "LoanCreditLoss"},
    }


def _entry_truth(row: JournalEntry) -> dict[str, Any]:
    return {
        "id": _gid("JournalEntry", row.id),
        "kind": "DISBURSEMENT",
        "effectiveOn": "2026-01-15",
        "postedAt": row.created_at.isoformat(),
        "source": row.source,
        "memo": None,
        "institution": {"__typename": "Institution"},
        "loan": {"__typename": "Loan"},
        "reverses": None,
        "reversedBy": None,
        "lines": [{"__typename": "JournalLine"}] * 2,
    }


def _trial_truth() -> dict[str, Any]:
    return {
        "institution": {"__typename": "Institution"},
        "asOf": TRIAL_AS_OF,
        "debits": "200000.00",
        "credits": "200000.00",
        "balanced": True,
        "accounts": [{"__typename": "LedgerAccountBalance"}] * 13,
    }


def _assessment_truth(row: RiskAssessment) -> dict[str, Any]:
    return {
        "id": _gid("RiskAssessment", row.id),
        "probabilityOfDefault": 0.0312,
        "score": 712,
        "grade": "A",
        "reasons": [{"__typename": "ScoreReason"}, {"__typename": "ScoreReason"}],
        "modelVersion": "pd-logit-2026.11",
        "assessedAt": "2026-11-01T09:00:00+00:00",
    }


def _external_data_truth(row: ExternalDataRecord) -> dict[str, Any]:
    return {
        "id": _gid("ExternalDataRecord", row.id),
        "kind": "CREDIT_BUREAU",
        "source": "Enterprise credit bureau (test)",
        "asOf": "2026-11-01",
        "fetchedAt": "2026-11-01T09:00:00+00:00",
        "contentHash": "0" * 64,
        "facts": {"score": 700, "overdueAccounts": 0},
    }


def _user_truth(row: User) -> dict[str, Any]:
    return {
        "id": _gid("User", row.id),
        "email": f.email_of(row),
        "displayName": f.display_name_for(f.email_of(row)),
        "status": "ACTIVE",
        "mfaEnabled": False,
        "lastLoginAt": None,
        "roles": [{"__typename": "RoleGrant"}],
    }


def _preferences_truth() -> dict[str, Any]:
    return {
        "marketing": False,
        "productRecommendations": True,
        "shareWithInstitutions": True,
        "shareWithProviders": True,
        "updatedAt": None,
    }


# ------------------------------------------------------------ one request per role per type


@dataclass(frozen=True)
class Route:
    """How a viewer reaches a type from Query: the chain, its guards, each step's path."""

    fields: tuple[str, ...]
    objects: tuple[str, ...]  # the policy object guarding each step
    paths: tuple[Path, ...]  # each step's path in the response, below the top-level alias
    arguments: str = ""  # of the first field; INSTITUTION stands for the world's
    item: Path = ()  # where the probed row is below the last step (a list's first item)
    # What the route answers a role kept from its rows: the value and the error code.
    unreachable: tuple[Any, str | None] = ({"edges": []}, None)

    def select(self, alias: str, inner: str) -> str:
        for name in reversed(self.fields[1:]):
            inner = f"{name} {{ {inner} }}"
        return f"{alias}: {self.fields[0]}{self.arguments} {{ {inner} }}"

    @property
    def row(self) -> Path:
        return (*self.paths[-1], *self.item)


# Generic types are guarded under their generic names: Connection.edges, Edge.node.
_EDGES = ("Connection.edges", "Edge.node")
_EDGE_PATHS: tuple[Path, ...] = ((), ("edges",), ("edges", 0, "node"))
ROUTES = {
    "Enterprise": Route(
        ("enterprises", "edges", "node"), ("Query.enterprises", *_EDGES), _EDGE_PATHS
    ),
    "Application": Route(
        ("applications", "edges", "node"), ("Query.applications", *_EDGES), _EDGE_PATHS
    ),
    "Loan": Route(("loans", "edges", "node"), ("Query.loans", *_EDGES), _EDGE_PATHS),
    "RiskAssessment": Route(
        ("applications", "edges", "node", "riskAssessment"),
        ("Query.applications", *_EDGES, "Application.riskAssessment"),
        (*_EDGE_PATHS, ("edges", 0, "node", "riskAssessment")),
    ),
    # A plain list: its fields are read on its first (only) item, hence the trailing 0.
    "ExternalDataRecord": Route(
        ("enterprises", "edges", "node", "externalData"),
        ("Query.enterprises", *_EDGES, "Enterprise.externalData"),
        (*_EDGE_PATHS, ("edges", 0, "node", "externalData", 0)),
    ),
    "User": Route(("me",), ("Query.me",), ((),)),
    "Job": Route(("jobs", "edges", "node"), ("Query.jobs", *_EDGES), _EDGE_PATHS),
    "JobFile": Route(
        ("jobs", "edges", "node", "files"),
        ("Query.jobs", *_EDGES, "Job.files"),
        (*_EDGE_PATHS, ("edges", 0, "node", "files", 0)),
    ),
    "LoanAmendment": Route(
        ("loans", "edges", "node", "amendments"),
        ("Query.loans", *_EDGES, "Loan.amendments"),
        (*_EDGE_PATHS, ("edges", 0, "node", "amendments")),
        item=(0,),
    ),
    "ContractVersion": Route(
        ("loans", "edges", "node", "contractVersions"),
        ("Query.loans", *_EDGES, "Loan.contractVersions"),
        (*_EDGE_PATHS, ("edges", 0, "node", "contractVersions")),
        item=(0,),
    ),
    "JournalEntry": Route(
        ("journalEntries", "edges", "node"), ("Query.journalEntries", *_EDGES), _EDGE_PATHS
    ),
    "JournalLine": Route(
        ("journalEntries", "edges", "node", "lines"),
        ("Query.journalEntries", *_EDGES, "JournalEntry.lines"),
        (*_EDGE_PATHS, ("edges", 0, "node", "lines")),
        item=(0,),
    ),
    "TrialBalance": Route(
        ("trialBalance",),
        ("Query.trialBalance",),
        ((),),
        arguments=f'(institutionId: "INSTITUTION", asOf: "{TRIAL_AS_OF}")',
        unreachable=(None, "NOT_FOUND"),
    ),
    "LedgerAccountBalance": Route(
        ("trialBalance", "accounts"),
        ("Query.trialBalance", "TrialBalance.accounts"),
        ((), ("accounts",)),
        arguments=f'(institutionId: "INSTITUTION", asOf: "{TRIAL_AS_OF}")',
        item=(0,),
        unreachable=(None, "NOT_FOUND"),
    ),
    "PrivacyPreferences": Route(("privacyPreferences",), ("Query.privacyPreferences",), ((),)),
    "ServiceRating": Route(
        ("serviceRatings", "edges", "node"), ("Query.serviceRatings", *_EDGES), _EDGE_PATHS
    ),
    "SupportTicket": Route(
        ("supportTickets", "edges", "node"), ("Query.supportTickets", *_EDGES), _EDGE_PATHS
    ),
    "SupportMessage": Route(
        ("supportTickets", "edges", "node", "messages"),
        ("Query.supportTickets", *_EDGES, "SupportTicket.messages"),
        (*_EDGE_PATHS, ("edges", 0, "node", "messages")),
        item=(0,),
    ),
    "WorkoutCase": Route(
        ("workoutCases", "edges", "node"), ("Query.workoutCases", *_EDGES), _EDGE_PATHS
    ),
    "CollectionContact": Route(
        ("workoutCases", "edges", "node", "contacts"),
        ("Query.workoutCases", *_EDGES, "WorkoutCase.contacts"),
        (*_EDGE_PATHS, ("edges", 0, "node", "contacts")),
        item=(0,),
    ),
    "PromiseToPay": Route(
        ("workoutCases", "edges", "node", "promises"),
        ("Query.workoutCases", *_EDGES, "WorkoutCase.promises"),
        (*_EDGE_PATHS, ("edges", 0, "node", "promises")),
        item=(0,),
    ),
    **{
        name: Route(
            ("loans", "edges", "node", field),
            ("Query.loans", *_EDGES, f"Loan.{key}"),
            (*_EDGE_PATHS, ("edges", 0, "node", key)),
            item=item,
        )
        for name, key, field, item in (
            ("LoanCharge", "charges", "charges", (0,)),
            ("LoanTermination", "terminations", "terminations", (0,)),
            ("Recovery", "recoveries", "recoveries", (0,)),
            ("CollateralItem", "collateral", "collateral", (0,)),
            ("Guarantee", "guarantees", "guarantees", (0,)),
            ("LoanCreditLoss", "creditLoss", "creditLoss", ()),
            # A field's arguments ride in its name: the response key is the bare name.
            ("PayoffQuote", "payoffQuote", f'payoffQuote(asOf: "{PAYOFF_ON}")', ()),
        )
    },
    "CollateralValuation": Route(
        ("loans", "edges", "node", "collateral", "valuations"),
        ("Query.loans", *_EDGES, "Loan.collateral", "CollateralItem.valuations"),
        (
            *_EDGE_PATHS,
            ("edges", 0, "node", "collateral"),
            ("edges", 0, "node", "collateral", 0, "valuations"),
        ),
        item=(0,),
    ),
    "PortfolioProvisions": Route(
        ("portfolioSummary", "provisions"),
        ("Query.portfolioSummary", "PortfolioSummary.provisions"),
        ((), ("provisions",)),
        arguments=PORTFOLIO_PERIOD,
        unreachable=(None, "FORBIDDEN"),
    ),
    "PortfolioStageAllowance": Route(
        ("portfolioSummary", "provisions", "stages"),
        ("Query.portfolioSummary", "PortfolioSummary.provisions", "PortfolioProvisions.stages"),
        ((), ("provisions",), ("provisions", "stages")),
        arguments=PORTFOLIO_PERIOD,
        item=(0,),
        unreachable=(None, "FORBIDDEN"),
    ),
    "PortfolioStageMove": Route(
        ("portfolioSummary", "provisions", "migration"),
        ("Query.portfolioSummary", "PortfolioSummary.provisions", "PortfolioProvisions.migration"),
        ((), ("provisions",), ("provisions", "migration")),
        arguments=PORTFOLIO_PERIOD,
        item=(0,),
        unreachable=(None, "FORBIDDEN"),
    ),
    "RoleGrantChange": Route(
        ("roleGrantChanges",),
        ("Query.roleGrantChanges",),
        ((),),
        item=(0,),
        unreachable=([], None),
    ),
}
MAIN = "main"


@dataclass(frozen=True)
class Probe:
    """Documents, and where in their answers each field (or the refused route) shows."""

    type_name: str
    documents: tuple[str, ...]
    cells: tuple[tuple[FieldInfo, Path], ...] = ()
    denied_route: Path | None = None
    null_route: Path | None = None
    unreachable: tuple[Any, str | None] | None = None


def probe(role: Role, type_name: str, fields: tuple[FieldInfo, ...], matrix: Matrix) -> Probe:
    route = ROUTES[type_name]
    if (role, type_name) in UNREACHABLE:
        document = "{ " + route.select(MAIN, "__typename") + " }"
        return Probe(type_name, (document,), unreachable=route.unreachable)
    for obj, path in zip(route.objects, route.paths, strict=True):
        if not allows(role, obj, "read"):
            document = "{ " + route.select(MAIN, "__typename") + " }"
            return Probe(type_name, (document,), denied_route=(MAIN, *path))
    if role is Role.PARTNER_SERVICE and type_name in ("User", "PrivacyPreferences"):
        # A service is no person, so a person's fields are skipped for it; only its route
        # is checked: refused above while no scope covers it, else it is null.
        document = "{ " + route.select(MAIN, "__typename") + " }"
        return Probe(type_name, (document,), null_route=(MAIN,))
    # A denied non-null field nulls its parent too, so each gets a route of its own
    # (an alias) where it cannot take its siblings with it; in a document of its own,
    # since under a non-null root (a connection, trialBalance) it nulls all of data.
    alone = [x for x in fields if x.non_null and matrix[(role, x.object)] is Outcome.DENY]
    together = [x for x in fields if x not in alone]
    selections = [route.select(MAIN, " ".join(x.selection for x in together) or "__typename")]
    cells = [(x, (MAIN, *route.row, x.name)) for x in together]
    for x in alone:
        alias = f"denied_{x.name}"
        selections.append(route.select(alias, x.selection))
        cells.append((x, (alias, *route.row, x.name)))
    return Probe(type_name, tuple(f"{{ {x} }}" for x in selections), cells=tuple(cells))


MISSING = "<missing>"


def _at(data: Any, path: Path) -> Any:
    """The value at ``path``, or None where a parent on the way is null."""
    for step in path:
        if data is None:
            return None
        if isinstance(step, int):
            if not isinstance(data, list) or len(data) <= step:
                return MISSING
        elif not isinstance(data, dict) or step not in data:
            return MISSING
        data = data[step]
    return data


def _masked(field: FieldInfo, value: Any) -> Any:
    # Text keeps a recognisable hint; anything else (figures) is withheld as null.
    return mask(value, field.name) if field.scalar == "String" else None


def mismatches(
    role: Role,
    found: Probe,
    body: Mapping[str, Any],
    truth: Mapping[str, Any],
    matrix: Matrix,
) -> list[str]:
    data = body.get("data") or {}
    errors = {
        (tuple(e.get("path") or ()), (e.get("extensions") or {}).get("code"))
        for e in body.get("errors", [])
    }
    wanted_errors: set[tuple[Path, Any]] = set()
    problems = []
    for path in (found.denied_route, found.null_route):
        # A denied non-null root field (jobs: JobConnection!) nulls the whole answer.
        got = None if body.get("data") is None else _at(data, path) if path else None
        if path is not None and got is not None:
            problems.append(f"{role.value} {path}: wants null, got {got!r}")
    if found.denied_route is not None:
        wanted_errors.add((found.denied_route, "FORBIDDEN"))
    if found.unreachable is not None:
        value, code = found.unreachable
        if data.get(MAIN) != value:
            problems.append(f"{role.value} {found.type_name}: wants {value!r}, got {data!r}")
        if code is not None:
            wanted_errors.add(((MAIN,), code))
    if found.cells and set(truth) != {x.name for x, _ in found.cells}:
        problems.append(f"{found.type_name}: the test's values do not cover the schema's fields")
    for field, path in found.cells:
        outcome = matrix[(role, field.object)]
        if outcome is Outcome.DENY:
            want = None
            wanted_errors.add((path, "FORBIDDEN"))
        elif outcome is Outcome.MASK:
            want = _masked(field, truth.get(field.name))
        else:
            want = truth.get(field.name)
        got = _at(data, path)
        if got != want:
            problems.append(f"{role.value} {field.object} ({outcome.value}): {want!r} != {got!r}")
    if errors != wanted_errors:
        problems.append(
            f"{role.value} {found.type_name}: errors {sorted(map(str, errors))},"
            f" wanted {sorted(map(str, wanted_errors))}"
        )
    return problems


async def _answers(
    client: GraphQLClient, found: Probe, institution: str, *, purpose: str | None = None
) -> dict[str, Any]:
    """The probe's documents' answers as one: each alias's data, all the errors
    (``purpose``: sent as ``X-Purpose``)."""
    data: dict[str, Any] = {}
    errors: list[Any] = []
    for document in found.documents:
        query = document.replace("INSTITUTION", institution)
        if purpose is None:
            body = await client.post(query)
        else:
            headers = {"authorization": f"Bearer {client.token}", "x-purpose": purpose}
            body = (
                await client.http.post("/graphql", json={"query": query}, headers=headers)
            ).json()
        alias = document.split(":", 1)[0].strip("{ ")
        data[alias] = (body.get("data") or {}).get(alias)
        errors += body.get("errors", [])
    return {"data": data, "errors": errors}


# ------------------------------------------------------------ the tests


def test_the_generated_matrix_says_what_the_policy_says(
    catalogue: Catalogue, matrix: Matrix
) -> None:
    # given: cells read off the policy by hand
    by_hand = {
        (Role.SME_OWNER, "RiskAssessment.probabilityOfDefault"): Outcome.DENY,
        (Role.SME_OWNER, "RiskAssessment.grade"): Outcome.ALLOW,
        (Role.SME_OWNER, "Enterprise.legalRepresentativeIdNumber"): Outcome.ALLOW,
        (Role.LOAN_OFFICER, "Enterprise.legalRepresentativeIdNumber"): Outcome.MASK,
        (Role.LOAN_OFFICER, "Enterprise.contactPhone"): Outcome.ALLOW,
        (Role.INSTITUTION_ADMIN, "Enterprise.bankAccountNumber"): Outcome.MASK,
        (Role.RISK_OFFICER, "Enterprise.bankAccountNumber"): Outcome.DENY,
        (Role.RISK_OFFICER, "Enterprise.contactPhone"): Outcome.MASK,
        (Role.RISK_OFFICER, "Enterprise.annualRevenue"): Outcome.ALLOW,
        (Role.PARTNER_SERVICE, "Enterprise.contactPhone"): Outcome.ALLOW,
        (Role.PARTNER_SERVICE, "Loan.principal"): Outcome.ALLOW,
        (Role.PARTNER_SERVICE, "User.email"): Outcome.DENY,  # no scope covers users
        (Role.PLATFORM_RISK_OFFICER, "Enterprise.bankAccountNumber"): Outcome.DENY,
        (Role.PLATFORM_ADMIN, "Enterprise.annualRevenue"): Outcome.MASK,
        (Role.AUDITOR, "Enterprise.contactPhone"): Outcome.MASK,
        (Role.AUDITOR, "User.email"): Outcome.ALLOW,  # everyone reveals their own account
        (Role.SME_OWNER, "Job.state"): Outcome.ALLOW,  # the jobs they asked for
        (Role.LOAN_OFFICER, "JobFile.name"): Outcome.ALLOW,
        (Role.PARTNER_SERVICE, "Job.kind"): Outcome.DENY,
        (Role.AUDITOR, "JobFile.download"): Outcome.ALLOW,  # the path; a sealed file needs reveal
        # Staff see a rating's score; loan officers its comment masked, admins revealed.
        (Role.LOAN_OFFICER, "ServiceRating.score"): Outcome.ALLOW,
        (Role.LOAN_OFFICER, "ServiceRating.comment"): Outcome.MASK,
        (Role.INSTITUTION_ADMIN, "ServiceRating.comment"): Outcome.ALLOW,
        (Role.LOAN_OFFICER, "SupportMessage.body"): Outcome.ALLOW,
        (Role.SME_OWNER, "SupportTicket.subject"): Outcome.ALLOW,
        (Role.AUDITOR, "SupportMessage.body"): Outcome.MASK,
        (Role.RISK_OFFICER, "SupportTicket.subject"): Outcome.DENY,
        (Role.PARTNER_SERVICE, "ServiceRating.score"): Outcome.DENY,  # no scope covers it
        (Role.LOAN_OFFICER, "CollectionContact.note"): Outcome.ALLOW,
        (Role.INSTITUTION_ADMIN, "CollectionContact.note"): Outcome.ALLOW,
        (Role.AUDITOR, "CollectionContact.note"): Outcome.MASK,
        (Role.AUDITOR, "WorkoutCase.state"): Outcome.ALLOW,
        (Role.SME_OWNER, "WorkoutCase.state"): Outcome.DENY,
        # A legal action's and a sale's figures are the case's, read like it.
        (Role.AUDITOR, "WorkoutCase.saleProfit"): Outcome.ALLOW,
        (Role.RISK_OFFICER, "WorkoutCase.legalCostAmount"): Outcome.ALLOW,
        (Role.SME_OWNER, "WorkoutCase.judgmentAmount"): Outcome.DENY,
        (Role.PARTNER_SERVICE, "WorkoutCase.buyer"): Outcome.DENY,
        (Role.PARTNER_SERVICE, "PromiseToPay.amount"): Outcome.DENY,
        # Servicing: the borrower and the institution's staff read the loan's charges,
        # terminations, quote and recoveries; a verification officer (no loans) none.
        (Role.SME_OWNER, "LoanCharge.amount"): Outcome.ALLOW,
        (Role.SME_OWNER, "LoanTermination.reason"): Outcome.ALLOW,
        (Role.SME_OWNER, "Recovery.amount"): Outcome.ALLOW,
        (Role.INSTITUTION_ADMIN, "Recovery.amount"): Outcome.ALLOW,
        (Role.VERIFICATION_OFFICER, "LoanCharge.amount"): Outcome.DENY,
        (Role.VERIFICATION_OFFICER, "PayoffQuote.totalAmount"): Outcome.DENY,
        (Role.PARTNER_SERVICE, "PayoffQuote.totalAmount"): Outcome.ALLOW,
        (Role.AUDITOR, "Recovery.idempotencyKey"): Outcome.ALLOW,
        (Role.PLATFORM_ADMIN, "LoanTermination.amount"): Outcome.ALLOW,
        # Collateral and guarantees: the borrower reads them, guarantors masked; credit
        # staff reveal guarantors; partner systems (no scope) and verification none; the
        # ECL staged for the loan is not the borrower's.
        (Role.SME_OWNER, "CollateralItem.marketValue"): Outcome.ALLOW,
        (Role.SME_OWNER, "CollateralValuation.source"): Outcome.ALLOW,
        (Role.SME_OWNER, "Guarantee.guarantorName"): Outcome.MASK,
        (Role.SME_OWNER, "Guarantee.amount"): Outcome.ALLOW,
        (Role.LOAN_OFFICER, "Guarantee.guarantorIdentity"): Outcome.ALLOW,
        (Role.RISK_OFFICER, "Guarantee.guarantorName"): Outcome.ALLOW,
        (Role.INSTITUTION_ADMIN, "Guarantee.guarantorName"): Outcome.ALLOW,
        (Role.AUDITOR, "Guarantee.guarantorName"): Outcome.MASK,
        (Role.PARTNER_SERVICE, "Guarantee.guarantorName"): Outcome.DENY,
        (Role.PARTNER_SERVICE, "CollateralItem.kind"): Outcome.DENY,
        (Role.VERIFICATION_OFFICER, "CollateralItem.kind"): Outcome.DENY,
        (Role.SME_OWNER, "Loan.creditLoss"): Outcome.DENY,
        (Role.SME_OWNER, "Loan.collateral"): Outcome.ALLOW,
        (Role.LOAN_OFFICER, "LoanCreditLoss.lossGivenDefault"): Outcome.ALLOW,
        (Role.RISK_OFFICER, "LoanCreditLoss.expectedLoss"): Outcome.ALLOW,
    }
    field_count = sum(len(fields) for fields in catalogue.values())

    # when
    generated = {cell: matrix[cell] for cell in by_hand}

    # then
    assert generated == by_hand
    assert {o for (role, _), o in matrix.items() if role is Role.PRIVACY_OFFICER} == {Outcome.ALLOW}
    assert set(matrix.values()) == set(Outcome)
    assert field_count >= 60
    assert len(matrix) == len(Role) * field_count


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
async def test_every_field_is_allowed_masked_or_denied_as_the_default_policy_says(
    role: Role,
    gql: GraphQLClient,
    db: AsyncEngine,
    settings: Settings,
    catalogue: Catalogue,
    matrix: Matrix,
) -> None:
    # given
    world = await _world(db, settings, role)
    client = gql.as_(world.token)
    probes = [probe(role, t, catalogue[t], matrix) for t in TYPES]

    # when
    bodies = [await _answers(client, p, world.institution) for p in probes]

    # then
    problems = [
        problem
        for found, body in zip(probes, bodies, strict=True)
        for problem in mismatches(role, found, body, world.truth[found.type_name], matrix)
    ]
    assert not problems, "\n".join(problems)


async def test_masked_values_keep_only_a_recognisable_hint(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: an auditor reads every enterprise field and reveals none
    world = await _world(db, settings, Role.AUDITOR)
    query = """
    { enterprises { edges { node {
        legalRepresentativeName legalRepresentativeIdNumber contactPhone contactEmail
        bankAccountNumber annualRevenue
    } } } }
    """

    # when
    data = await gql.as_(world.token).data(query)

    # then: figures are withheld as null, without an error
    assert data["enterprises"]["edges"][0]["node"] == {
        "legalRepresentativeName": "Z******",
        "legalRepresentativeIdNumber": "110101********1234",
        "contactPhone": "138****5678",
        "contactEmail": "c***@example.test",
        "bankAccountNumber": "***************3445",
        "annualRevenue": None,
    }


# ------------------------------------------------------------ purpose as a dimension

PURPOSE_TYPES = (
    "Enterprise",
    "User",
    "ServiceRating",
    "SupportTicket",
    "CollectionContact",
    "Guarantee",
    "LoanTermination",
)


def bases(role: Role, type_name: str) -> set[Basis]:
    """The lawful bases a role has for the world's rows: its own account, the enterprise
    it owns, the loan its institution granted, or a platform role's oversight."""
    held = set()
    if type_name == "User" or (role is Role.SME_OWNER and type_name != "CollectionContact"):
        held.add(Basis.SUBJECT)
    # A rating, a ticket, a collection note, a guarantor or a termination's reason has
    # the bases of the enterprise it concerns (api.feedback, api.workout, api.collateral,
    # api.contracts).
    if role in INSTITUTION_ROLES and type_name in (
        "Enterprise",
        *FEEDBACK_TYPES,
        "CollectionContact",
        "Guarantee",
        "LoanTermination",
    ):
        held.add(Basis.CONTRACT)
    if role not in INSTITUTION_ROLES and role is not Role.SME_OWNER:
        held.add(Basis.PLATFORM_OVERSIGHT)
    return held


def expected_for(role: Role, field: FieldInfo, purpose: str) -> Outcome:
    outcome = expected(role, field)
    if outcome is not Outcome.ALLOW or field.classification not in PROTECTED:
        return outcome
    covered = lawful_bases.covering(purpose)
    return Outcome.ALLOW if bases(role, field.type_name) & covered else Outcome.MASK


def test_purpose_narrows_the_matrix_where_the_basis_does_not_cover_it(
    catalogue: Catalogue,
) -> None:
    # given: cells read off the policy and the lawful-basis table by hand
    phone = next(x for x in catalogue["Enterprise"] if x.name == "contactPhone")
    email = next(x for x in catalogue["User"] if x.name == "email")
    note = next(x for x in catalogue["CollectionContact"] if x.name == "note")
    guarantor = next(x for x in catalogue["Guarantee"] if x.name == "guarantorName")
    by_hand = {
        (Role.LOAN_OFFICER, phone, "loan_servicing"): Outcome.ALLOW,
        (Role.LOAN_OFFICER, phone, "marketing"): Outcome.MASK,
        (Role.LOAN_OFFICER, email, "credit_assessment"): Outcome.ALLOW,
        (Role.LOAN_OFFICER, email, "marketing"): Outcome.MASK,
        (Role.SME_OWNER, phone, "own_data"): Outcome.ALLOW,
        (Role.SME_OWNER, phone, "marketing"): Outcome.MASK,
        (Role.PRIVACY_OFFICER, phone, "data_subject_request"): Outcome.ALLOW,
        (Role.PRIVACY_OFFICER, phone, "credit_assessment"): Outcome.MASK,
        (Role.AUDITOR, phone, "oversight"): Outcome.MASK,
        (Role.RISK_OFFICER, phone, "loan_servicing"): Outcome.MASK,
        (Role.LOAN_OFFICER, note, "loan_servicing"): Outcome.ALLOW,
        (Role.RISK_OFFICER, note, "credit_assessment"): Outcome.ALLOW,
        (Role.LOAN_OFFICER, note, "marketing"): Outcome.MASK,
        (Role.AUDITOR, note, "oversight"): Outcome.MASK,
        (Role.PLATFORM_RISK_OFFICER, note, "oversight"): Outcome.MASK,
        (Role.PRIVACY_OFFICER, note, "data_subject_request"): Outcome.ALLOW,
        (Role.SME_OWNER, note, "own_data"): Outcome.DENY,
        (Role.LOAN_OFFICER, guarantor, "loan_servicing"): Outcome.ALLOW,
        (Role.RISK_OFFICER, guarantor, "marketing"): Outcome.MASK,
        (Role.SME_OWNER, guarantor, "own_data"): Outcome.MASK,
        (Role.AUDITOR, guarantor, "oversight"): Outcome.MASK,
    }

    # when
    generated = {cell: expected_for(*cell) for cell in by_hand}

    # then
    assert generated == by_hand


PURPOSE_CASES = [(role, purpose) for role in Role for purpose in sorted(PURPOSES)]


@pytest.mark.parametrize(
    ("role", "purpose"), PURPOSE_CASES, ids=[f"{r.value}-{p}" for r, p in PURPOSE_CASES]
)
async def test_every_personal_field_follows_the_basis_for_the_declared_purpose(
    role: Role,
    purpose: str,
    gql: GraphQLClient,
    db: AsyncEngine,
    settings: Settings,
    catalogue: Catalogue,
) -> None:
    # given
    world = await _world(db, settings, role)
    matrix = {
        (role, x.object): expected_for(role, x, purpose)
        for type_name in PURPOSE_TYPES
        for x in catalogue[type_name]
    }
    probes = [probe(role, t, catalogue[t], matrix) for t in PURPOSE_TYPES]
    client = gql.as_(world.token)

    # when
    bodies = [await _answers(client, p, world.institution, purpose=purpose) for p in probes]

    # then
    problems = [
        problem
        for found, body in zip(probes, bodies, strict=True)
        for problem in mismatches(role, found, body, world.truth[found.type_name], matrix)
    ]
    assert not problems, "\n".join(problems)
