"""``node(id:)``: any object by global id, under the same row rules as every list."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from api.access import classified
from api.accounts.role_grant_changes import RoleGrantChange
from api.applications.types import Application
from api.collateral.types import CollateralItem, Guarantee
from api.context import Context, Loaders
from api.contracts.types import LoanAmendment
from api.enterprises.types import Enterprise
from api.feedback.types import ServiceRating, SupportTicket
from api.identity.policy_changes import PolicyChange
from api.identity.types import AuthorizationRule, Institution, User
from api.imports.types import ImportRun
from api.jobs.types import Job, JobFile
from api.ledger.types import JournalEntry
from api.lending.types import Loan
from api.privacy.consent import Consent
from api.privacy.masking import MaskingPolicy
from api.privacy.oversight import BreakGlassGrant
from api.privacy.requests import SubjectRequest
from api.privacy.subjects import AccessLogEntry
from api.products.types import Product
from api.providers.types import ExternalDataRecord
from api.relay import decode_global_id
from api.risk.alerts import RiskAlert
from api.risk.ratings import CreditRating
from api.risk.rules import RiskRule
from api.risk.scoring import ScoringModel
from api.risk.types import RiskAssessment
from api.verification.types import VerificationCase
from api.workout.cases import CollectionContact, PromiseToPay, WorkoutCase
from kernel.errors import NotFound

_Resolver = tuple[Callable[[Loaders], DataLoader[uuid.UUID, Any]], Callable[[Any], relay.Node]]

_NODES: dict[str, _Resolver] = {
    "Institution": (lambda loaders: loaders.institution, Institution.from_row),
    "Product": (lambda loaders: loaders.product, Product.from_row),
    "Enterprise": (lambda loaders: loaders.enterprise, Enterprise.from_row),
    "Application": (lambda loaders: loaders.application, Application.from_row),
    "Loan": (lambda loaders: loaders.loan, Loan.from_row),
    "RiskAssessment": (lambda loaders: loaders.assessment, RiskAssessment.from_row),
    "RiskAlert": (lambda loaders: loaders.alert, RiskAlert.from_row),
    "CreditRating": (lambda loaders: loaders.rating, CreditRating.from_row),
    "ImportRun": (lambda loaders: loaders.import_run, ImportRun.from_row),
    "User": (lambda loaders: loaders.own_user, lambda found: User.from_row(*found)),
    "RiskRule": (lambda loaders: loaders.risk_rule, RiskRule.from_row),
    "ScoringModel": (lambda loaders: loaders.scoring_model, ScoringModel.from_row),
    "MaskingPolicy": (lambda loaders: loaders.masking_policy, MaskingPolicy.from_row),
    "Job": (lambda loaders: loaders.job, Job.from_row),
    "JobFile": (lambda loaders: loaders.job_file, JobFile.from_row),
    "Consent": (lambda loaders: loaders.consent, Consent.from_row),
    "AuthorizationRule": (lambda loaders: loaders.authorization_rule, AuthorizationRule.from_row),
    "AccessLogEntry": (lambda loaders: loaders.access_log_entry, AccessLogEntry.from_row),
    "BreakGlassGrant": (
        lambda loaders: loaders.break_glass_grant,
        lambda found: BreakGlassGrant.from_row(*found),
    ),
    "ExternalDataRecord": (
        lambda loaders: loaders.external_data_record,
        ExternalDataRecord.from_row,
    ),
    "LoanAmendment": (lambda loaders: loaders.amendment, LoanAmendment.from_row),
    "JournalEntry": (lambda loaders: loaders.journal_entry, JournalEntry.from_row),
    "PolicyChange": (lambda loaders: loaders.policy_change, PolicyChange.from_row),
    "RoleGrantChange": (lambda loaders: loaders.role_grant_change, RoleGrantChange.from_row),
    "SubjectRequest": (lambda loaders: loaders.subject_request, SubjectRequest.from_row),
    "VerificationCase": (lambda loaders: loaders.verification_case, VerificationCase.from_row),
    "SupportTicket": (lambda loaders: loaders.support_ticket, SupportTicket.from_row),
    "ServiceRating": (lambda loaders: loaders.service_rating, ServiceRating.from_row),
    "WorkoutCase": (lambda loaders: loaders.workout_case, WorkoutCase.from_row),
    "CollectionContact": (lambda loaders: loaders.collection_contact, CollectionContact.from_row),
    "PromiseToPay": (lambda loaders: loaders.promise_to_pay, PromiseToPay.from_row),
    "CollateralItem": (lambda loaders: loaders.collateral_item, CollateralItem.from_row),
    "Guarantee": (lambda loaders: loaders.guarantee, Guarantee.from_row),
}


NODE_TYPE_NAMES = tuple(_NODES)


@classified(public=["node"])
@strawberry.type
class NodeQueries:
    @strawberry.field(description="Fetch any object by its global id, if you may see it.")
    async def node(
        self,
        info: strawberry.Info[Context, None],
        id: strawberry.ID,
    ) -> relay.Node | None:
        type_name, pk = decode_global_id(id, expected=NODE_TYPE_NAMES)
        loader, to_node = _NODES[type_name]
        # A type whose id the viewer may not read is one they cannot see at all.
        visible = info.context.allows(f"{type_name}.id", "read")
        row = await loader(info.context.loaders).load(pk) if visible else None
        if row is None:
            # The same answer whether the row is absent or hidden: ids leak nothing.
            raise NotFound(f"no {type_name} with id {id}")
        return to_node(row)
