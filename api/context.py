"""The per-request context: who asks, how to read, and the request's caches."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader

from api.disclosure import Disclosure, DisclosureLoaders
from api.loading import many_per_key, one_per_key
from api.verdicts import Access, FieldKey
from domain.applications import repository as applications
from domain.applications.models import Application, Contract, Decision, Transition
from domain.collateral import repository as security
from domain.collateral.models import CollateralItem, CollateralValuation, Guarantee
from domain.contracts import repository as contracts
from domain.contracts import service as contract_service
from domain.contracts.models import ContractVersion, LoanAmendment, LoanTermination
from domain.enterprises import repository as enterprises
from domain.enterprises.models import Enterprise, FinancialStatement
from domain.feedback import repository as feedback
from domain.feedback.models import ServiceRating, SupportMessage, SupportTicket
from domain.identity import policy_changes, role_grants
from domain.identity import repository as identity
from domain.identity.authorization import Action, Authorizer, Principal
from domain.identity.models import (
    Institution,
    PolicyChange,
    PolicyRule,
    Role,
    RoleGrantChange,
    User,
)
from domain.identity.service import Origin, viewer_from_token
from domain.identity.viewer import Viewer
from domain.imports import repository as imports
from domain.imports.models import ImportRun
from domain.jobs import repository as jobs_repo
from domain.jobs.models import JobFile, JobRun
from domain.jobs.queue import JobQueue
from domain.ledger import repository as ledger
from domain.ledger.models import JournalEntry
from domain.lending import repository as lending
from domain.lending.models import Installment, Loan, Repayment
from domain.privacy import break_glass, policies
from domain.privacy import consent as consent_ledger
from domain.privacy import requests as subject_requests
from domain.privacy import subjects as privacy_subjects
from domain.privacy.models import AccessLogEntry as AccessLogRow
from domain.privacy.models import BreakGlassGrant as GrantRow
from domain.privacy.models import ConsentRecord
from domain.privacy.models import MaskingPolicy as MaskingPolicyRow
from domain.privacy.models import SubjectRequest as SubjectRequestRow
from domain.privacy.policies import MaskingRules
from domain.privacy.purposes import purpose_for
from domain.products import repository as products
from domain.products.models import Product
from domain.providers import repository as providers_repo
from domain.providers.client import ExternalDataProvider, provider_for
from domain.providers.models import ExternalDataRecord
from domain.provisioning import latest as latest_stages
from domain.provisioning.models import LoanStage
from domain.risk import alerts, registry
from domain.risk import queries as risk_queries
from domain.risk import repository as risk
from domain.risk.assessment import Scoring, scoring_for
from domain.risk.models import (
    CreditRating,
    LoanWarning,
    RiskAlert,
    RiskAlertAction,
    RiskAssessment,
    RiskRule,
)
from domain.settings import Settings
from domain.verification import repository as verification
from domain.verification.models import VerificationCase, VerificationDocument, VerificationEvent
from domain.workout import cases as workout
from domain.workout import recoveries
from domain.workout.models import (
    CollectionContact,
    PromiseToPay,
    Recovery,
    WorkoutCase,
    WorkoutCaseAlert,
)
from kernel.errors import Unauthenticated
from privacy import keystore
from privacy.keys import KeyProvider
from scoring.models import ScoringModelRecord

K = TypeVar("K")
R = TypeVar("R")
V = TypeVar("V")

ApplicationPageKey = tuple[uuid.UUID, int, str | None]


# A user and the roles they hold: (role, institution id, institution code).
Account = tuple[User, Sequence[tuple[Role, uuid.UUID | None, str | None]]]


class Loaders:
    """One DataLoader per relation crossed in GraphQL, made per request.

    Each batch opens its own short read session: graphql-core resolves sibling
    fields concurrently, and an AsyncSession must never be shared between them.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], viewer: Viewer, keys: KeyProvider
    ) -> None:
        self._sessions = sessions
        self._viewer = viewer
        self._keys = keys

    @cached_property
    def data_key(self) -> DataLoader[uuid.UUID, bytes | None]:
        """Subjects' data keys, unwrapped in one batch per request (None: shredded)."""

        async def load(ids: list[uuid.UUID]) -> list[bytes | None]:
            async with self._sessions() as session:
                found = await keystore.unwrap_many(session, self._keys, ids)
            return [found[i] for i in ids]

        return DataLoader(load_fn=load)

    def _loader(
        self,
        fetch: Callable[[AsyncSession, list[K]], Awaitable[Sequence[R]]],
        shape: Callable[[Sequence[R], list[K]], list[V]],
    ) -> DataLoader[K, V]:
        async def load(keys: list[K]) -> list[V]:
            async with self._sessions() as session:
                rows = await fetch(session, keys)
            return shape(rows, keys)

        return DataLoader(load_fn=load)

    @cached_property
    def institution(self) -> DataLoader[uuid.UUID, Institution | None]:
        return self._loader(
            lambda s, ids: identity.institutions_by_ids(s, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def institution_profile(self) -> DataLoader[uuid.UUID, Institution | None]:
        """Institutions whose set-up the viewer may see (platform roles, its own admins)."""
        return self._loader(
            lambda s, ids: identity.managed_institutions(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def verification_case(self) -> DataLoader[uuid.UUID, VerificationCase | None]:
        return self._loader(
            lambda s, ids: verification.cases_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def verification_documents(self) -> DataLoader[uuid.UUID, list[VerificationDocument]]:
        """Each visible case's documents (the case was read under its row rule)."""
        return self._loader(
            lambda s, ids: verification.documents_of(s, ids),
            lambda rows, ids: many_per_key(rows, ids, "case_id"),
        )

    @cached_property
    def verification_events(self) -> DataLoader[uuid.UUID, list[VerificationEvent]]:
        return self._loader(
            lambda s, ids: verification.events_of(s, ids),
            lambda rows, ids: many_per_key(rows, ids, "case_id"),
        )

    @cached_property
    def support_ticket(self) -> DataLoader[uuid.UUID, SupportTicket | None]:
        return self._loader(
            lambda s, ids: feedback.tickets_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def support_messages(self) -> DataLoader[uuid.UUID, list[SupportMessage]]:
        """Each visible ticket's thread (the ticket was read under its row rule)."""
        return self._loader(
            lambda s, ids: feedback.messages_of(s, ids),
            lambda rows, ids: many_per_key(rows, ids, "ticket_id"),
        )

    @cached_property
    def service_rating(self) -> DataLoader[uuid.UUID, ServiceRating | None]:
        return self._loader(
            lambda s, ids: feedback.ratings_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def own_user(self) -> DataLoader[uuid.UUID, Account | None]:
        """The signed-in person's account and roles; anyone else's id finds nothing (an
        account is seen by its holder only, as ``me``)."""

        async def load(ids: list[uuid.UUID]) -> list[Account | None]:
            mine, found = self._viewer.user_id, None
            if mine is not None and mine in ids:
                async with self._sessions() as session:
                    row = await identity.user_by_id(session, mine)
                    if row is not None:
                        found = (row, await identity.memberships_of(session, row.id))
            return [found if i == mine else None for i in ids]

        return DataLoader(load_fn=load)

    @cached_property
    def person(self) -> DataLoader[uuid.UUID, Account | None]:
        """People a record names (createdBy, actor, assignee, ...), under their own row
        rule (``identity.known_people``): one batch for every relation of the request."""

        async def load(ids: list[uuid.UUID]) -> list[Account | None]:
            async with self._sessions() as session:
                found = await identity.people(session, viewer=self._viewer, ids=ids)
            return [found.get(i) for i in ids]

        return DataLoader(load_fn=load)

    @cached_property
    def product(self) -> DataLoader[uuid.UUID, Product | None]:
        return self._loader(
            lambda s, ids: products.products_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def enterprise(self) -> DataLoader[uuid.UUID, Enterprise | None]:
        return self._loader(
            lambda s, ids: enterprises.enterprises_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def statements(self) -> DataLoader[uuid.UUID, list[FinancialStatement]]:
        return self._loader(
            lambda s, ids: enterprises.statements_by_enterprise_ids(s, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "enterprise_id"),
        )

    @cached_property
    def external_data(self) -> DataLoader[uuid.UUID, list[ExternalDataRecord]]:
        """The newest record of each kind, for enterprises already loaded."""
        return self._loader(
            lambda s, ids: providers_repo.newest_by_enterprise_ids(s, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "enterprise_id"),
        )

    @cached_property
    def external_data_record(self) -> DataLoader[uuid.UUID, ExternalDataRecord | None]:
        return self._loader(
            lambda s, ids: providers_repo.records_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def application(self) -> DataLoader[uuid.UUID, Application | None]:
        return self._loader(
            lambda s, ids: applications.applications_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def applications_of_enterprise(self) -> DataLoader[ApplicationPageKey, list[Application]]:
        """Pages of each enterprise's applications; keys sharing (first, after) batch."""

        async def load(keys: list[ApplicationPageKey]) -> list[list[Application]]:
            groups: dict[tuple[int, str | None], list[uuid.UUID]] = {}
            for enterprise_id, first, after in keys:
                groups.setdefault((first, after), []).append(enterprise_id)
            found: dict[ApplicationPageKey, list[Application]] = {}
            async with self._sessions() as session:
                for (first, after), ids in groups.items():
                    after_key = applications.NEWEST.decode(after) if after else None
                    rows = await applications.first_applications_per_enterprise(
                        session,
                        viewer=self._viewer,
                        enterprise_ids=ids,
                        first=first,
                        after=after_key,
                    )
                    for eid, page in zip(
                        ids, many_per_key(rows, ids, "enterprise_id"), strict=True
                    ):
                        found[(eid, first, after)] = page
            return [found[key] for key in keys]

        return DataLoader(load_fn=load)

    @cached_property
    def application_count_of_enterprise(self) -> DataLoader[uuid.UUID, int]:
        async def load(ids: list[uuid.UUID]) -> list[int]:
            async with self._sessions() as session:
                counts = await applications.count_applications_per_enterprise(
                    session, viewer=self._viewer, enterprise_ids=ids
                )
            return [counts.get(i, 0) for i in ids]

        return DataLoader(load_fn=load)

    @cached_property
    def decisions(self) -> DataLoader[uuid.UUID, list[Decision]]:
        return self._loader(
            lambda s, ids: applications.decisions_by_application_ids(s, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "application_id"),
        )

    @cached_property
    def transitions(self) -> DataLoader[uuid.UUID, list[Transition]]:
        return self._loader(
            lambda s, ids: applications.transitions_by_application_ids(s, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "application_id"),
        )

    @cached_property
    def contract(self) -> DataLoader[uuid.UUID, Contract | None]:
        return self._loader(
            lambda s, ids: applications.contracts_by_application_ids(s, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "application_id"),
        )

    @cached_property
    def latest_assessment(self) -> DataLoader[uuid.UUID, RiskAssessment | None]:
        return self._loader(
            lambda s, ids: risk.latest_assessments_by_application_ids(s, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "application_id"),
        )

    @cached_property
    def assessment(self) -> DataLoader[uuid.UUID, RiskAssessment | None]:
        return self._loader(
            lambda s, ids: risk.assessments_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def latest_rating(self) -> DataLoader[uuid.UUID, CreditRating | None]:
        return self._loader(
            lambda s, ids: risk.latest_ratings_by_enterprise_ids(s, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "enterprise_id"),
        )

    @cached_property
    def rating(self) -> DataLoader[uuid.UUID, CreditRating | None]:
        return self._loader(
            lambda s, ids: risk.ratings_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def rating_history(self) -> DataLoader[uuid.UUID, list[CreditRating]]:
        return self._loader(
            lambda s, ids: risk.ratings_by_enterprise_ids(s, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "enterprise_id"),
        )

    @cached_property
    def loan(self) -> DataLoader[uuid.UUID, Loan | None]:
        return self._loader(
            lambda s, ids: lending.loans_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def journal_entry(self) -> DataLoader[uuid.UUID, JournalEntry | None]:
        return self._loader(
            lambda s, ids: ledger.entries_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def journal_reversal(self) -> DataLoader[uuid.UUID, JournalEntry | None]:
        """The entry reversing each entry, if any."""
        return self._loader(
            lambda s, ids: ledger.entry_reversing(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "reverses_id"),
        )

    @cached_property
    def journal_lines(self) -> DataLoader[uuid.UUID, list[ledger.LineRow]]:
        return self._loader(
            lambda s, ids: ledger.lines_by_entry_ids(s, ids),
            lambda rows, ids: many_per_key(rows, ids, "entry_id"),
        )

    @cached_property
    def loan_of_application(self) -> DataLoader[uuid.UUID, Loan | None]:
        return self._loader(
            lambda s, ids: lending.loans_by_application_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "application_id"),
        )

    @cached_property
    def installments(self) -> DataLoader[uuid.UUID, list[Installment]]:
        return self._loader(
            lambda s, ids: lending.installments_by_loan_ids(s, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "loan_id"),
        )

    @cached_property
    def repayments(self) -> DataLoader[uuid.UUID, list[Repayment]]:
        return self._loader(
            lambda s, ids: lending.repayments_by_loan_ids(s, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "loan_id"),
        )

    @cached_property
    def loan_warning(self) -> DataLoader[uuid.UUID, LoanWarning | None]:
        return self._loader(
            lambda s, ids: risk_queries.warnings_by_loan_ids(s, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "loan_id"),
        )

    @cached_property
    def alert_history(self) -> DataLoader[uuid.UUID, list[RiskAlertAction]]:
        return self._loader(
            lambda s, ids: alerts.actions_by_alert_ids(s, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "alert_id"),
        )

    @cached_property
    def import_run(self) -> DataLoader[uuid.UUID, ImportRun | None]:
        return self._loader(
            lambda s, ids: imports.runs_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def job(self) -> DataLoader[uuid.UUID, JobRun | None]:
        return self._loader(
            lambda s, ids: jobs_repo.jobs_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def consent(self) -> DataLoader[uuid.UUID, ConsentRecord | None]:
        return self._loader(
            lambda s, ids: consent_ledger.by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def authorization_rule(self) -> DataLoader[uuid.UUID, PolicyRule | None]:
        return self._loader(
            lambda s, ids: identity.policy_rules_by_ids(s, ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def access_log_entry(self) -> DataLoader[uuid.UUID, AccessLogRow | None]:
        return self._loader(
            lambda s, ids: privacy_subjects.access_log_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def break_glass_grant(self) -> DataLoader[uuid.UUID, tuple[GrantRow, str] | None]:
        """A grant with its subject's type (Enterprise or User)."""

        async def load(ids: list[uuid.UUID]) -> list[tuple[GrantRow, str] | None]:
            async with self._sessions() as session:
                found = await break_glass.grants_by_ids(session, viewer=self._viewer, ids=ids)
            by_id = {row.id: (row, kind) for row, kind in found}
            return [by_id.get(i) for i in ids]

        return DataLoader(load_fn=load)

    @cached_property
    def job_files(self) -> DataLoader[uuid.UUID, list[JobFile]]:
        """The files of jobs already loaded under the viewer's row scope."""
        return self._loader(
            lambda s, ids: jobs_repo.files_of_jobs(s, ids),
            lambda rows, ids: many_per_key(rows, ids, "job_id"),
        )

    @cached_property
    def job_file(self) -> DataLoader[uuid.UUID, JobFile | None]:
        return self._loader(
            lambda s, ids: jobs_repo.files_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def subject_request(self) -> DataLoader[uuid.UUID, SubjectRequestRow | None]:
        return self._loader(
            lambda s, ids: subject_requests.requests_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def risk_rule(self) -> DataLoader[uuid.UUID, RiskRule | None]:
        return self._loader(
            lambda s, ids: risk_queries.rules_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def scoring_model(self) -> DataLoader[uuid.UUID, ScoringModelRecord | None]:
        return self._loader(
            lambda s, ids: registry.by_ids(s, ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def masking_policy(self) -> DataLoader[uuid.UUID, MaskingPolicyRow | None]:
        return self._loader(
            lambda s, ids: policies.by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def policy_change(self) -> DataLoader[uuid.UUID, PolicyChange | None]:
        return self._loader(
            lambda s, ids: policy_changes.by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def role_grant_change(self) -> DataLoader[uuid.UUID, RoleGrantChange | None]:
        return self._loader(
            lambda s, ids: role_grants.by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def alert(self) -> DataLoader[uuid.UUID, RiskAlert | None]:
        return self._loader(
            lambda s, ids: alerts.alerts_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def amendment(self) -> DataLoader[uuid.UUID, LoanAmendment | None]:
        return self._loader(
            lambda s, ids: contracts.amendments_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def amendments(self) -> DataLoader[uuid.UUID, list[LoanAmendment]]:
        return self._loader(
            lambda s, ids: contracts.amendments_by_loan_ids(s, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "loan_id"),
        )

    @cached_property
    def terminations(self) -> DataLoader[uuid.UUID, list[LoanTermination]]:
        return self._loader(
            lambda s, ids: contracts.terminations_by_loan_ids(s, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "loan_id"),
        )

    @cached_property
    def recoveries(self) -> DataLoader[uuid.UUID, list[Recovery]]:
        return self._loader(
            lambda s, ids: recoveries.recoveries_by_loan_ids(s, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "loan_id"),
        )

    @cached_property
    def collateral_items(self) -> DataLoader[uuid.UUID, list[CollateralItem]]:
        return self._loader(
            lambda s, ids: security.items_by_loan_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "loan_id"),
        )

    @cached_property
    def collateral_item(self) -> DataLoader[uuid.UUID, CollateralItem | None]:
        return self._loader(
            lambda s, ids: security.items_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def collateral_valuations(self) -> DataLoader[uuid.UUID, list[CollateralValuation]]:
        return self._loader(
            lambda s, ids: security.valuations_by_item_ids(s, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "item_id"),
        )

    @cached_property
    def guarantees(self) -> DataLoader[uuid.UUID, list[Guarantee]]:
        return self._loader(
            lambda s, ids: security.guarantees_by_loan_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "loan_id"),
        )

    @cached_property
    def guarantee(self) -> DataLoader[uuid.UUID, Guarantee | None]:
        return self._loader(
            lambda s, ids: security.guarantees_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def loan_credit_loss(self) -> DataLoader[uuid.UUID, LoanStage | None]:
        return self._loader(
            lambda s, ids: latest_stages.latest_by_loan_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "loan_id"),
        )

    @cached_property
    def workout_case(self) -> DataLoader[uuid.UUID, WorkoutCase | None]:
        return self._loader(
            lambda s, ids: workout.cases_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def workout_case_of_alert(self) -> DataLoader[uuid.UUID, WorkoutCase | None]:
        async def load(ids: list[uuid.UUID]) -> list[WorkoutCase | None]:
            async with self._sessions() as session:
                found = dict(
                    await workout.cases_by_alert_ids(session, viewer=self._viewer, ids=ids)
                )
            return [found.get(i) for i in ids]

        return DataLoader(load_fn=load)

    @cached_property
    def workout_case_alerts(self) -> DataLoader[uuid.UUID, list[WorkoutCaseAlert]]:
        return self._loader(
            lambda s, ids: workout.alert_ids_by_case_ids(s, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "case_id"),
        )

    @cached_property
    def collection_contact(self) -> DataLoader[uuid.UUID, CollectionContact | None]:
        return self._loader(
            lambda s, ids: workout.contacts_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def collection_contacts(self) -> DataLoader[uuid.UUID, list[CollectionContact]]:
        return self._loader(
            lambda s, ids: workout.contacts_by_case_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "case_id"),
        )

    @cached_property
    def promise_to_pay(self) -> DataLoader[uuid.UUID, PromiseToPay | None]:
        return self._loader(
            lambda s, ids: workout.promises_by_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: one_per_key(rows, ids, "id"),
        )

    @cached_property
    def promises_to_pay(self) -> DataLoader[uuid.UUID, list[PromiseToPay]]:
        return self._loader(
            lambda s, ids: workout.promises_by_case_ids(s, viewer=self._viewer, ids=ids),
            lambda rows, ids: many_per_key(rows, ids, "case_id"),
        )

    @cached_property
    def paid_towards_promise(self) -> DataLoader[uuid.UUID, Decimal]:
        async def load(ids: list[uuid.UUID]) -> list[Decimal]:
            async with self._sessions() as session:
                rows = await workout.promises_by_ids(session, viewer=self._viewer, ids=ids)
                found = await workout.paid_towards(session, rows)
            return [found.get(i, Decimal("0.00")) for i in ids]

        return DataLoader(load_fn=load)

    @cached_property
    def contract_versions(self) -> DataLoader[uuid.UUID, list[ContractVersion]]:
        return self._loader(
            lambda s, ids: contract_service.versions_of_loans(s, ids),
            lambda rows, ids: many_per_key(rows, ids, "loan_id"),
        )


@dataclass(eq=False)
class Context:
    request: HTTPConnection
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    viewer: Viewer
    request_id: str
    authorizer: Authorizer
    masking_rules: MaskingRules
    response: Any = None
    # (type, field) -> allow / mask / deny, decided once per request by api.access.
    field_access: dict[FieldKey, Access] = field(default_factory=dict)
    # Casbin evaluations this request cost (memoised answers cost none).
    authz_evaluations: int = 0
    # Personal values revealed by this request, for the access log: (subject, object).
    reveals: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    # A WebSocket's connection_init payload; strawberry sets it when the client sends it.
    connection_params: dict[str, object] | None = None
    # A WebSocket's Authorization value, for long subscriptions to check it again.
    credential: str | None = None
    # The job queue long work is deferred to (None where the app was built without one).
    jobs: JobQueue | None = None

    async def still_signed_in(self) -> None:
        """Check a long-lived connection's sign-in again: a revoked session, an expired
        token or changed roles take effect on the next event, as on the next request."""
        if self.credential is None:
            raise Unauthenticated("sign in to follow this feed")
        scheme, _, token = self.credential.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("send Authorization: Bearer <access token>")
        async with self.sessions() as session:
            fresh = await viewer_from_token(session, self.settings, token.strip())
        if fresh != self.viewer:
            self.replace_viewer(fresh)

    def replace_viewer(self, viewer: Viewer) -> None:
        """Act for another viewer from now on (a WebSocket signed in at connection_init).

        Everything worked out for the previous viewer is forgotten: access decisions,
        and every cached property (loaders filter rows by viewer, the principal, purpose).
        """
        self.viewer = viewer
        self.field_access.clear()
        for name in _CACHED_PROPERTIES:
            self.__dict__.pop(name, None)

    @cached_property
    def principal(self) -> Principal:
        return self.viewer.principal()

    def allows(self, obj: str, act: Action) -> bool:
        allowed, evaluations = self.authorizer.allows(self.principal, obj, act)
        self.authz_evaluations += evaluations
        return allowed

    @property
    def origin(self) -> Origin:
        client = self.request.client
        return Origin(address=client.host if client else None, request_id=self.request_id)

    @cached_property
    def keys(self) -> KeyProvider:
        """The keys of personal data, read once per request (the key file may rotate)."""
        return self.settings.keys()

    @cached_property
    def scoring(self) -> Scoring:
        """The process's models in service, loaded once per version."""
        return scoring_for(self.settings.model_dir)

    @cached_property
    def providers(self) -> ExternalDataProvider:
        """The external data providers, their circuits shared by the process's requests."""
        return provider_for(self.settings)

    @cached_property
    def purpose(self) -> str:
        return str(getattr(self.request.state, "purpose", None) or purpose_for(self.viewer, None))

    @cached_property
    def disclosure(self) -> Disclosure:
        return Disclosure(context=self, rules=self.masking_rules, purpose=self.purpose)

    @cached_property
    def disclosure_loaders(self) -> DisclosureLoaders:
        return DisclosureLoaders(self, self.purpose)

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self.sessions, self.viewer, self.keys)


_CACHED_PROPERTIES = tuple(
    name for name, value in vars(Context).items() if isinstance(value, cached_property)
)
