from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from domain.base import Base, IdMixin, StrEnum, UTCDateTime, utcnow


class RiskAssessment(IdMixin, Base):
    __tablename__ = "risk_assessments"
    __table_args__ = (
        CheckConstraint(
            "probability_of_default >= 0 AND probability_of_default <= 1", name="pd_is_probability"
        ),
        Index(None, "application_id", "assessed_at"),
        Index(None, "enterprise_id", "assessed_at"),
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


class RiskAlert(IdMixin, Base):
    __tablename__ = "risk_alerts"
    __table_args__ = (
        Index(None, "institution_id", "status", "id"),
        Index(None, "loan_id", "rule_code", "status"),
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
