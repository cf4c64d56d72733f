from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.base import Base, IdMixin, StrEnum, UTCDateTime, utcnow


class RiskAssessment(IdMixin, Base):
    __tablename__ = "risk_assessments"
    __table_args__ = (
        CheckConstraint(
            "probability_of_default >= 0 AND probability_of_default <= 1", name="pd_is_probability"
        ),
        Index(None, "application_id", "assessed_at"),
        Index(None, "enterprise_id", "assessed_at"),
        Index(None, "assessed_at"),
        # The PD in force for a borrower, read per borrower by the portfolio's expected
        # loss and per chunk by the risk scan: the newest champion row, from the index
        # alone on PostgreSQL (read backwards; the PD carried in it).
        Index(
            "ix_risk_assessments_champion_pd",
            "enterprise_id",
            "assessed_at",
            "id",
            postgresql_include=["probability_of_default"],
            postgresql_where=text("shadow IS false"),
            sqlite_where=text("shadow IS 0"),
        ),
    )

    application_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE")
    )
    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    probability_of_default: Mapped[float] = mapped_column()
    score: Mapped[int] = mapped_column()
    grade: Mapped[str] = mapped_column(String(4))
    # [{"feature": ..., "impact": float, "text": "..."}], strongest first.
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(64))
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A challenger's opinion, kept beside the champion's and never shown as the latest.
    shadow: Mapped[bool] = mapped_column(default=False)
    # The feature values scored (ratios and categories, nothing personal): what the
    # decision relied on, and what drift monitoring compares with the training sample.
    features: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AlertSeverity(enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class AlertStatus(enum.Enum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


class DisposalAction(enum.Enum):
    """What an institution does about a warning; also a rule's recommended action."""

    MONITOR = "monitor"
    RESTRUCTURE = "restructure"
    EXTRA_COLLATERAL = "extra_collateral"
    COLLECTION = "collection"
    GUARANTEE_CALL = "guarantee_call"
    WRITE_OFF_PROPOSAL = "write_off_proposal"
    LEGAL_ACTION = "legal_action"
    SALE = "sale"


class AlertActionKind(enum.Enum):
    RAISE = "raise"
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    DISPOSE = "dispose"
    ESCALATE = "escalate"
    RESOLVE = "resolve"


class RiskRule(IdMixin, Base):
    """One version of an early-warning rule; editing a rule adds a version."""

    __tablename__ = "risk_rules"
    __table_args__ = (
        # A code is an owner's own: one institution's rules and another's may share one.
        UniqueConstraint("institution_id", "code", "version"),
        Index(
            "uq_risk_rules_platform_code_version",
            "code",
            "version",
            unique=True,
            sqlite_where=text("institution_id IS NULL"),
            postgresql_where=text("institution_id IS NULL"),
        ),
        Index(None, "current", "enabled"),
    )

    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column()
    # None: a platform rule, run on every institution's loans.
    institution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    expression: Mapped[str] = mapped_column(Text)  # normalised by the parser
    indicators: Mapped[list[str]] = mapped_column(JSON)
    severity: Mapped[AlertSeverity] = mapped_column(StrEnum(AlertSeverity))
    action: Mapped[DisposalAction] = mapped_column(StrEnum(DisposalAction))
    enabled: Mapped[bool] = mapped_column()
    current: Mapped[bool] = mapped_column()  # the newest version of its code
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WarningSystemVersion(IdMixin, Base):
    """The indicators weighed into a loan's warning score, their thresholds and weights."""

    __tablename__ = "warning_systems"

    version: Mapped[int] = mapped_column(unique=True)
    # [{"name": ..., "direction": 1 | -1, "thresholds": [yellow, orange, red]}]
    indicators: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    weights: Mapped[dict[str, float]] = mapped_column(JSON)
    # The pairwise comparisons the weights came from, when they did.
    comparisons: Mapped[list[list[float]] | None] = mapped_column(JSON)
    consistency_ratio: Mapped[float | None] = mapped_column()
    cut_points: Mapped[list[float]] = mapped_column(JSON)
    current: Mapped[bool] = mapped_column()
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LoanWarning(Base):
    """A loan's latest composite warning score, as the last scan found it."""

    __tablename__ = "loan_warnings"
    __table_args__ = (Index(None, "institution_id", "level"),)

    loan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("loans.id", ondelete="CASCADE"), primary_key=True
    )
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE")
    )
    score: Mapped[float] = mapped_column()
    level: Mapped[str] = mapped_column(String(8))
    levels: Mapped[dict[str, str]] = mapped_column(JSON)
    # The indicator values the scan computed (ratios, counts and categories).
    indicators: Mapped[dict[str, Any]] = mapped_column(JSON)
    system_version: Mapped[int] = mapped_column()
    # Of the levels and indicator values: a rescan that finds them moved writes the row.
    digest: Mapped[str] = mapped_column(String(32))
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RiskScan(IdMixin, Base):
    """One run of the portfolio scan; the newest finished one is the next scan's watermark."""

    __tablename__ = "risk_scans"
    __table_args__ = (Index(None, "finished_at"),)

    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    as_of: Mapped[date] = mapped_column(Date)
    full: Mapped[bool] = mapped_column()
    # What the loans were judged by: a change of either forces the next scan to be full.
    fingerprint: Mapped[str] = mapped_column(String(64))
    loans_scanned: Mapped[int] = mapped_column(default=0)
    alerts_raised: Mapped[int] = mapped_column(default=0)
    trigger: Mapped[str] = mapped_column(String(32))


class CreditRating(IdMixin, Base):
    """An enterprise's grade, written whenever an assessment changes it."""

    __tablename__ = "credit_ratings"
    __table_args__ = (Index(None, "enterprise_id", "rated_at"), Index(None, "rated_at"))

    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    assessment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("risk_assessments.id", ondelete="SET NULL")
    )
    grade: Mapped[str] = mapped_column(String(4))
    previous_grade: Mapped[str | None] = mapped_column(String(4))
    probability_of_default: Mapped[float] = mapped_column()
    score: Mapped[int] = mapped_column()
    model_version: Mapped[str] = mapped_column(String(64))
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RiskAlert(IdMixin, Base):
    __tablename__ = "risk_alerts"
    __table_args__ = (
        Index(None, "institution_id", "status", "id"),
        Index(None, "loan_id", "rule_code", "status"),
        # At most one unresolved alert per loan and rule: the scan's dedup, enforced.
        Index(
            "uq_risk_alerts_open_loan_rule",
            "loan_id",
            "rule_code",
            unique=True,
            sqlite_where=text("status <> 'resolved'"),
            postgresql_where=text("status <> 'resolved'"),
        ),
        Index(None, "status", "due_at"),
    )

    # None for a platform-wide alert (a scoring model drifting), seen by platform roles.
    institution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE")
    )
    loan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    enterprise_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    rule_code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[AlertSeverity] = mapped_column(StrEnum(AlertSeverity))
    status: Mapped[AlertStatus] = mapped_column(StrEnum(AlertStatus))
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rule_version: Mapped[int | None] = mapped_column()
    action: Mapped[DisposalAction | None] = mapped_column(
        StrEnum(DisposalAction, name="riskalert_action")
    )
    # The indicator values that made the rule fire.
    indicators: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The SLA: an unresolved alert past this moment escalates by itself.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalations: Mapped[int] = mapped_column(default=0)
    disposal: Mapped[DisposalAction | None] = mapped_column(
        StrEnum(DisposalAction, name="riskalert_disposal")
    )
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class RiskAlertAction(IdMixin, Base):
    """One step in an alert's life, newest last; the alert's history as its staff saw it."""

    __tablename__ = "risk_alert_actions"
    __table_args__ = (Index(None, "alert_id", "at"),)

    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("risk_alerts.id", ondelete="CASCADE"))
    kind: Mapped[AlertActionKind] = mapped_column(StrEnum(AlertActionKind))
    from_status: Mapped[AlertStatus | None] = mapped_column(
        StrEnum(AlertStatus, name="riskalertaction_from")
    )
    to_status: Mapped[AlertStatus] = mapped_column(StrEnum(AlertStatus, name="riskalertaction_to"))
    disposal: Mapped[DisposalAction | None] = mapped_column(StrEnum(DisposalAction))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    note: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
