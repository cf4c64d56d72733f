"""The GraphQL schema: per-context query classes composed, with the request guards."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError, GraphQLSyntaxError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from api.accounts.mutations import AccountMutations
from api.accounts.queries import AccountQueries
from api.accounts.role_grant_changes import RoleGrantChangeMutations, RoleGrantChangeQueries
from api.analytics.mutations import AnalyticsMutations
from api.analytics.queries import AnalyticsQueries
from api.applications.mutations import ApplicationMutations
from api.applications.queries import ApplicationQueries
from api.audit.queries import AuditQueries
from api.audit.records import RecordsQueries
from api.collateral.mutations import CollateralMutations
from api.contracts.mutations import ContractMutations
from api.contracts.termination import TerminationMutations
from api.cost import CostBudgets
from api.documents import CachedDocuments, DocumentCache
from api.enterprises.mutations import EnterpriseMutations, StatementMutations
from api.enterprises.queries import EnterpriseQueries
from api.errors import MAX_ERRORS, ErrorShaping, QuietExecutor, log_unexpected
from api.feedback.mutations import FeedbackMutations
from api.feedback.queries import FeedbackQueries
from api.identity.mutations import IdentityMutations
from api.identity.policy_changes import PolicyChangeMutations, PolicyChangeQueries
from api.identity.queries import IdentityQueries
from api.imports.mutations import ImportMutations
from api.imports.queries import ImportQueries
from api.jobs.mutations import JobMutations
from api.jobs.queries import JobQueries
from api.ledger.queries import LedgerQueries
from api.lending.mutations import LoanMutations
from api.lending.queries import LoanQueries
from api.node import NodeQueries
from api.privacy.consent import ConsentMutations, ConsentQueries
from api.privacy.masking import MaskingMutations, MaskingQueries
from api.privacy.oversight import OversightMutations, OversightQueries
from api.privacy.preferences import PreferenceMutations, PreferenceQueries
from api.privacy.requests import SubjectRequestMutations, SubjectRequestQueries
from api.privacy.retention import RetentionMutations, RetentionQueries
from api.privacy.subjects import SubjectsMutations, SubjectsQueries
from api.products.mutations import ProductMutations
from api.products.queries import ProductQueries
from api.providers.mutations import ProviderMutations
from api.risk.alerts import RiskAlertMutations, RiskAlertQueries, Subscription
from api.risk.ratings import RatingQueries
from api.risk.rules import RiskRuleMutations, RiskRuleQueries
from api.risk.scoring import ScoringMutations, ScoringQueries
from api.risk.whatif import WhatIfQueries
from api.scalars import SCALARS, StringLiteralRule, VariableText
from api.telemetry import OperationName
from api.verification.mutations import VerificationMutations
from api.verification.queries import VerificationQueries
from api.workout.cases import WorkoutCaseMutations, WorkoutCaseQueries
from api.workout.recoveries import RecoveryMutations
from domain.settings import Settings
from kernel.errors import DomainError


@strawberry.type
class Query(
    NodeQueries,
    IdentityQueries,
    ProductQueries,
    EnterpriseQueries,
    ApplicationQueries,
    LoanQueries,
    LedgerQueries,
    ConsentQueries,
    MaskingQueries,
    SubjectsQueries,
    RetentionQueries,
    OversightQueries,
    AuditQueries,
    RecordsQueries,
    PolicyChangeQueries,
    RoleGrantChangeQueries,
    PreferenceQueries,
    SubjectRequestQueries,
    ScoringQueries,
    RatingQueries,
    RiskRuleQueries,
    RiskAlertQueries,
    ImportQueries,
    JobQueries,
    WhatIfQueries,
    AnalyticsQueries,
    AccountQueries,
    VerificationQueries,
    FeedbackQueries,
    WorkoutCaseQueries,
):
    pass


@strawberry.type
class Mutation(
    IdentityMutations,
    EnterpriseMutations,
    StatementMutations,
    ProductMutations,
    ApplicationMutations,
    LoanMutations,
    ConsentMutations,
    MaskingMutations,
    PolicyChangeMutations,
    RoleGrantChangeMutations,
    SubjectsMutations,
    RetentionMutations,
    OversightMutations,
    PreferenceMutations,
    SubjectRequestMutations,
    ScoringMutations,
    RiskRuleMutations,
    RiskAlertMutations,
    ImportMutations,
    JobMutations,
    AnalyticsMutations,
    ProviderMutations,
    ContractMutations,
    TerminationMutations,
    RecoveryMutations,
    AccountMutations,
    VerificationMutations,
    FeedbackMutations,
    WorkoutCaseMutations,
    CollateralMutations,
):
    pass


class LendGraphSchema(strawberry.Schema):
    # The rules added to the specification's when a document is validated.
    validation_rules: list[type[ASTValidationRule]] = []
    documents: DocumentCache
    budgets: CostBudgets

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # A syntax error raised by the parser cache escapes ErrorShaping: give it
        # the same stable code the spec's parse phase would.
        for error in errors:
            if isinstance(error, GraphQLSyntaxError) and not (error.extensions or {}).get("code"):
                error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_PARSE_FAILED"}
            # A subscription's refusal is reported before ErrorShaping's operation ends.
            original = error.original_error
            if isinstance(original, DomainError) and not (error.extensions or {}).get("code"):
                error.extensions = {**(error.extensions or {}), "code": original.code}
        context = execution_context.context if execution_context else None
        log_unexpected(errors, getattr(context, "request_id", None))


def build_schema(settings: Settings) -> LendGraphSchema:
    # Factories, not instances: Strawberry builds fresh extensions per request
    # (the parse and validation caches behind them are shared process-wide). The depth
    # and alias rules are made once: the validation cache is keyed by the rule classes,
    # and Strawberry's limiter extensions would make new ones per request (never a hit).
    budgets = CostBudgets(
        settings.max_query_cost,
        settings.query_cost_budgets,
        page_size_max=settings.page_size_max,
    )
    limits: list[type[ASTValidationRule]] = [
        depth_rule(settings.max_query_depth, None, None),
        alias_rule(settings.max_aliases),
        StringLiteralRule,
        budgets.widest,  # each request validates with its viewer's budget instead
    ]
    documents = DocumentCache(
        max_bytes=settings.document_cache_bytes,
        max_document_chars=settings.document_cache_max_chars,
        hide_suggestions=not settings.is_development,
        max_errors=MAX_ERRORS,
    )
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        partial(ErrorShaping, mask=not settings.is_development),
        OperationName,
        partial(CachedDocuments, cache=documents, budgets=budgets),
        partial(AddValidationRules, limits),
        VariableText,  # after the validation cache: its errors come first
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
    ]
    if not settings.is_development:
        extensions.append(DisableIntrospection)
    config: Any = StrawberryConfig(
        disable_field_suggestions=not settings.is_development, scalar_map=SCALARS
    )
    schema = LendGraphSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=config,
        execution_context_class=None if settings.is_development else QuietExecutor,
    )
    # What every executor validates a document with (the compiled read path too).
    schema.validation_rules = limits
    schema.documents = documents
    schema.budgets = budgets
    return schema
