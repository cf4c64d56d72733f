"""Early-warning configuration over GraphQL: rules, their dry run, and the warning system."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Self

import strawberry
from strawberry import relay

from api.access import classified, mutation
from api.context import Context
from api.identity.types import InvalidInputError, UserError
from api.outcomes import perform
from api.relay import decode_pk, encode_pk
from domain.risk import queries, service
from domain.risk.catalogue import INDICATORS
from domain.risk.models import AlertSeverity, DisposalAction
from domain.risk.models import RiskRule as RiskRuleRow
from domain.risk.models import WarningSystemVersion as WarningSystemRow
from domain.risk.rules import IndicatorType, RuleError
from domain.risk.scan import warning_system_of
from kernel.base import utcnow

AlertSeverityGQL = strawberry.enum(AlertSeverity, name="AlertSeverity")
DisposalActionGQL = strawberry.enum(DisposalAction, name="DisposalAction")
IndicatorTypeGQL = strawberry.enum(IndicatorType, name="IndicatorType")


@classified(
    public=["id"],
    internal=[
        "code",
        "version",
        "name",
        "expression",
        "indicators",
        "severity",
        "action",
        "enabled",
        "institution_id",
        "created_at",
    ],
)
@strawberry.type(description="An early-warning rule, in its current version.")
class RiskRule(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    code: str
    version: int = strawberry.field(description="Saving a change adds a version.")
    name: str
    expression: str = strawberry.field(description="The rule, as the parser normalised it.")
    indicators: list[str] = strawberry.field(description="The indicators the rule reads.")
    severity: AlertSeverity
    action: DisposalAction = strawberry.field(description="What the rule recommends doing.")
    enabled: bool
    institution_id: strawberry.ID | None = strawberry.field(
        description="The institution whose loans it runs on; none: every institution's."
    )
    created_at: datetime

    @classmethod
    def from_row(cls, row: RiskRuleRow) -> Self:
        return cls(
            pk=row.id,
            code=row.code,
            version=row.version,
            name=row.name,
            expression=row.expression,
            indicators=list(row.indicators),
            severity=row.severity,
            action=row.action,
            enabled=row.enabled,
            institution_id=encode_pk(row.institution_id, "Institution"),
            created_at=row.created_at,
        )


@classified(internal=["name", "type", "description", "source"])
@strawberry.type(description="An indicator a rule may read, and where its value comes from.")
class RiskIndicator:
    name: str
    type: IndicatorType
    description: str
    source: str


@classified(internal=["expression", "loans_scanned", "matched", "unknown", "sample", "seconds"])
@strawberry.type(description="What a rule would do to the live portfolio now; nothing stored.")
class RiskRuleDryRun:
    expression: str
    loans_scanned: int
    matched: int = strawberry.field(description="Loans it would fire on.")
    unknown: int = strawberry.field(description="Loans where missing values leave it undecided.")
    sample: list[strawberry.ID] = strawberry.field(description="Up to 20 of the loans matched.")
    seconds: float


@classified(internal=["name", "direction", "yellow", "orange", "red", "weight"])
@strawberry.type(description="One weighed indicator: where its levels start, and its weight.")
class WarningIndicator:
    name: str
    direction: int = strawberry.field(description="+1: higher is worse; -1: lower is worse.")
    yellow: float
    orange: float
    red: float
    weight: float


@classified(
    internal=[
        "version",
        "indicators",
        "cut_points",
        "consistency_ratio",
        "comparisons",
        "created_at",
    ]
)
@strawberry.type(description="How a loan's composite warning score is made.")
class WarningSystem:
    version: int = strawberry.field(description="0 is the documented default.")
    indicators: list[WarningIndicator]
    cut_points: list[float] = strawberry.field(
        description="Scores (0-100) where yellow, orange and red begin."
    )
    consistency_ratio: float | None = strawberry.field(
        description="Of the comparison matrix the weights came from, when they did."
    )
    comparisons: list[list[float]] | None
    created_at: datetime | None

    @classmethod
    def from_row(cls, row: WarningSystemRow | None) -> Self:
        system, version = warning_system_of(row)
        return cls(
            version=version,
            indicators=[
                WarningIndicator(
                    name=r.name,
                    direction=r.direction,
                    yellow=r.thresholds[0],
                    orange=r.thresholds[1],
                    red=r.thresholds[2],
                    weight=system.weights[r.name],
                )
                for r in system.rules
            ],
            cut_points=list(system.cut_points),
            consistency_ratio=row.consistency_ratio if row else None,
            comparisons=row.comparisons if row else None,
            created_at=row.created_at if row else None,
        )


@classified(public=["message", "code", "position"])
@strawberry.type(description="The rule does not parse or does not type-check.")
class InvalidRule(UserError):
    position: int = strawberry.field(description="0-based character where the problem is.")


@classified(public=["row", "column", "given", "implied"])
@strawberry.type(description="A pairwise judgement far from what the weights imply.")
class OffendingComparison:
    row: str
    column: str
    given: float
    implied: float


@classified(public=["message", "code", "consistency_ratio", "offending"])
@strawberry.type(description="The comparisons contradict each other (consistency ratio >= 0.1).")
class InconsistentComparisons(UserError):
    # Nullable like WarningSystem.consistencyRatio, so one selection can ask both.
    consistency_ratio: float | None
    offending: list[OffendingComparison]


@strawberry.input
class UpsertRiskRuleInput:
    code: str = strawberry.field(description="Stable key; the same code saves a new version.")
    name: str
    expression: str
    severity: AlertSeverity
    action: DisposalAction
    enabled: bool = True
    institution_id: strawberry.ID | None = strawberry.field(
        default=None, description="Leave out for a platform rule (platform risk officers)."
    )


@strawberry.input
class WarningIndicatorInput:
    name: str
    direction: int
    yellow: float
    orange: float
    red: float
    weight: float | None = strawberry.field(
        default=None, description="Direct weights: give every indicator one, summing to 1."
    )


@strawberry.input
class SetWarningSystemInput:
    indicators: list[WarningIndicatorInput]
    comparisons: list[list[float]] | None = strawberry.field(
        default=None,
        description="Instead of weights: a pairwise comparison matrix (Saaty's 1/9..9), rows "
        "and columns in the order of indicators; refused when its consistency ratio is >= 0.1.",
    )
    cut_points: list[float] = strawberry.field(default_factory=lambda: [25.0, 50.0, 75.0])


UpsertRiskRuleResult = Annotated[
    RiskRule | InvalidRule | InvalidInputError, strawberry.union("UpsertRiskRuleResult")
]
SetWarningSystemResult = Annotated[
    WarningSystem | InconsistentComparisons | InvalidInputError,
    strawberry.union("SetWarningSystemResult"),
]


def _invalid_rule(error: RuleError) -> InvalidRule:
    return InvalidRule(message=error.message, code=error.code, position=error.position)


@classified(internal=["risk_rules", "risk_indicators", "dry_run_risk_rule", "warning_system"])
@strawberry.type
class RiskRuleQueries:
    @strawberry.field(description="The current version of every rule that runs on your loans.")
    async def risk_rules(self, info: strawberry.Info[Context, None]) -> list[RiskRule]:
        async with info.context.sessions() as session:
            rows = await service.visible_rules(session, info.context.viewer)
        return [RiskRule.from_row(r) for r in rows]

    @strawberry.field(description="The indicator catalogue rules and the warning system read.")
    def risk_indicators(self) -> list[RiskIndicator]:
        return [
            RiskIndicator(name=i.name, type=i.type, description=i.description, source=i.source)
            for i in INDICATORS
        ]

    @strawberry.field(
        description="Run a rule over your active loans now, without saving it or raising "
        "anything: how many it would fire on."
    )
    async def dry_run_risk_rule(
        self,
        info: strawberry.Info[Context, None],
        expression: str,
        institution_id: strawberry.ID | None = None,
        as_of: date | None = None,
    ) -> Annotated[RiskRuleDryRun | InvalidRule, strawberry.union("DryRunRiskRuleResult")]:
        ctx = info.context
        try:
            async with ctx.sessions() as session:
                result = await service.dry_run(
                    session,
                    ctx.viewer,
                    expression,
                    as_of=as_of or utcnow().date(),
                    institution_id=decode_pk(institution_id, "Institution"),
                )
        except RuleError as exc:
            return _invalid_rule(exc)
        return RiskRuleDryRun(
            expression=result.expression,
            loans_scanned=result.loans_scanned,
            matched=result.matched,
            unknown=result.unknown,
            sample=[strawberry.ID(str(relay.GlobalID("Loan", str(i)))) for i in result.sample],
            seconds=round(result.seconds, 4),
        )

    @strawberry.field(description="The warning indicators, thresholds and weights in force.")
    async def warning_system(self, info: strawberry.Info[Context, None]) -> WarningSystem:
        async with info.context.sessions() as session:
            row = await queries.current_warning_system(session)
        return WarningSystem.from_row(row)


@strawberry.type
class RiskRuleMutations:
    @mutation(
        "upsertRiskRule",
        description="Save a rule as its next version (platform rules: platform risk officers; "
        "an institution's: its risk officers). Checked against the indicator catalogue.",
    )
    async def upsert_risk_rule(
        self, info: strawberry.Info[Context, None], input: UpsertRiskRuleInput
    ) -> UpsertRiskRuleResult:
        draft = service.RuleDraft(
            code=input.code,
            name=input.name,
            expression=input.expression,
            severity=input.severity,
            action=input.action,
            enabled=input.enabled,
            institution_id=decode_pk(input.institution_id, "Institution", field="institutionId"),
        )

        async def work(session: Any, actor: Any) -> Any:
            try:
                return await service.upsert_rule(
                    session, actor.viewer, draft, request_id=actor.request_id
                )
            except RuleError as exc:
                return exc

        result: Any = await perform(info, work)
        if isinstance(result, RuleError):
            return _invalid_rule(result)
        return RiskRule.from_row(result) if isinstance(result, RiskRuleRow) else result

    @mutation(
        "setWarningSystem",
        description="Set the weighed warning indicators, with weights given directly or "
        "derived from a pairwise comparison matrix (analytic hierarchy process).",
    )
    async def set_warning_system(
        self, info: strawberry.Info[Context, None], input: SetWarningSystemInput
    ) -> SetWarningSystemResult:
        settings = [
            service.IndicatorSetting(i.name, i.direction, (i.yellow, i.orange, i.red))
            for i in input.indicators
        ]
        given = [i.weight for i in input.indicators]
        if input.comparisons is None and any(w is None for w in given):
            return InvalidInputError.at(
                "give every indicator a weight, or a comparison matrix",
                f"indicators.{[w is None for w in given].index(True)}.weight",
            )
        weights = (
            None
            if input.comparisons is not None
            else {i.name: float(i.weight or 0.0) for i in input.indicators}
        )
        if len(input.cut_points) != 3:
            return InvalidInputError.at("give three cut points", "cutPoints")
        cut = (input.cut_points[0], input.cut_points[1], input.cut_points[2])

        async def work(session: Any, actor: Any) -> Any:
            try:
                return await service.set_warning_system(
                    session,
                    actor.viewer,
                    indicators=settings,
                    weights=weights,
                    comparisons=input.comparisons,
                    cut_points=cut,
                    request_id=actor.request_id,
                )
            except service.InconsistentComparisons as exc:
                return exc

        result: Any = await perform(info, work)
        if isinstance(result, service.InconsistentComparisons):
            return InconsistentComparisons(
                message=result.message,
                code=result.code,
                consistency_ratio=result.ratio,
                offending=[
                    OffendingComparison(row=r, column=c, given=g, implied=i)
                    for r, c, g, i in result.offending
                ],
            )
        return WarningSystem.from_row(result) if isinstance(result, WarningSystemRow) else result
