"""The model registry's rows: one per trained model version, artifact in the file store."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kernel.base import Base, IdMixin, StrEnum, TimestampMixin, UTCDateTime
from scoring.calibration import Calibrator


class ModelStatus(enum.Enum):
    CANDIDATE = "candidate"  # trained and registered, not scoring
    CHAMPION = "champion"  # scores every application; one at a time
    CHALLENGER = "challenger"  # scores in shadow beside the champion
    RETIRED = "retired"


class ScoringModelRecord(IdMixin, TimestampMixin, Base):
    __tablename__ = "scoring_models"
    __table_args__ = (Index(None, "status"),)

    version: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[ModelStatus] = mapped_column(StrEnum(ModelStatus))
    source: Mapped[str] = mapped_column(String(200))  # "platform history" or the CSV's name
    # SHA-256 of the training data and of the artifact (model.cbm), checked on loading.
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    features: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def calibrator(self) -> Calibrator:
        """How its PDs are calibrated, as training recorded it in ``params`` (models
        trained before the choice existed are Platt-scaled)."""
        return Calibrator(self.params.get("calibrator", Calibrator.PLATT.value))
