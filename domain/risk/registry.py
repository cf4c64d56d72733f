"""The model registry: versions in the database, artifacts in a file store.

A model is registered as a candidate; promoting it makes it the champion (the one
that scores applications) and, on request, keeps the previous champion as a
challenger that scores in shadow. Loading checks the artifact's SHA-256 against the
registry and its feature list against what the caller will feed it, so a tampered or
mismatched file never scores anyone.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from kernel.base import utcnow
from kernel.errors import InvalidInput, NotFound
from scoring.inference import Scorer
from scoring.model import ScoringModel, feature_difference
from scoring.models import ModelStatus, ScoringModelRecord
from scoring.spec import FeatureSpec, Kind

ARTIFACT = "model.cbm"


class ArtifactMismatch(ValueError):
    """The file store does not hold what the registry says it should."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _save_artifact(model: ScoringModel, store: Path, version: str) -> str:
    """Write the artifact aside, then move it into place: never half an artifact."""
    target = store / version
    store.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=store, prefix=".incoming-"))
    try:
        model.save(scratch)
        scratch.rename(target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return _sha256(target / ARTIFACT)


def features_json(specs: tuple[FeatureSpec, ...]) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "kind": s.kind.value, "monotone": s.monotone, "label": s.label}
        for s in specs
    ]


def features_of(record_: ScoringModelRecord) -> tuple[FeatureSpec, ...]:
    return tuple(
        FeatureSpec(
            name=f["name"], kind=Kind(f["kind"]), monotone=int(f["monotone"]), label=f["label"]
        )
        for f in record_.features
    )


async def next_version(session: AsyncSession, prefix: str) -> str:
    """``pd-YYYY.MM.DD-N``: the date it was trained and a counter for that day."""
    stem = f"{prefix}-{utcnow():%Y.%m.%d}"
    taken = set(
        (
            await session.scalars(
                select(ScoringModelRecord.version).where(
                    ScoringModelRecord.version.like(f"{stem}-%")
                )
            )
        ).all()
    )
    n = 1
    while f"{stem}-{n}" in taken:
        n += 1
    return f"{stem}-{n}"


async def register(
    session: AsyncSession,
    model: ScoringModel,
    store: Path,
    *,
    source: str,
    created_by: uuid.UUID | None = None,
    prefix: str = "pd",
) -> ScoringModelRecord:
    """Save the artifact under ``store/<version>/`` and record it as a candidate."""
    version = await next_version(session, prefix)
    # Writing a few megabytes would stall the event loop: it happens on a thread.
    checksum = await asyncio.to_thread(_save_artifact, model, store, version)
    row = ScoringModelRecord(
        version=version,
        status=ModelStatus.CANDIDATE,
        source=source[:200],
        data_fingerprint=model.fingerprint,
        artifact_sha256=checksum,
        features=features_json(model.features),
        params=model.params,
        metrics=model.metrics,
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    record(
        session,
        action="model.registered",
        entity_type="scoring_model",
        entity_id=row.id,
        actor_id=created_by,
        version=version,
        source=source,
    )
    return row


def load(row: ScoringModelRecord, store: Path) -> ScoringModel:
    """The artifact of a registered version, verified against the registry."""
    directory = store / row.version
    artifact = directory / ARTIFACT
    if not artifact.is_file():
        raise ArtifactMismatch(f"model {row.version}: {artifact} is missing")
    if _sha256(artifact) != row.artifact_sha256:
        raise ArtifactMismatch(f"model {row.version}: {artifact} does not match its checksum")
    return ScoringModel.load(directory, expected=features_of(row))


async def by_version(session: AsyncSession, version: str) -> ScoringModelRecord:
    row = (
        await session.scalars(
            select(ScoringModelRecord).where(ScoringModelRecord.version == version)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no model version {version}")
    return row


async def in_service(session: AsyncSession, *, lock: bool = False) -> list[ScoringModelRecord]:
    """The champion first, then the challengers.

    ``lock`` locks every registered row (a handful) until commit, whatever its status:
    a promotion waiting on another then sees the champion that one made, not the old one.
    """
    serving = (ModelStatus.CHAMPION, ModelStatus.CHALLENGER)
    if lock:
        every = (await session.scalars(select(ScoringModelRecord).with_for_update())).all()
        rows = [r for r in every if r.status in serving]
    else:
        rows = list(
            (
                await session.scalars(
                    select(ScoringModelRecord).where(ScoringModelRecord.status.in_(serving))
                )
            ).all()
        )
    return sorted(rows, key=lambda r: (r.status is not ModelStatus.CHAMPION, r.version))


async def listing(session: AsyncSession) -> list[ScoringModelRecord]:
    stmt = select(ScoringModelRecord).order_by(ScoringModelRecord.created_at.desc())
    return list((await session.scalars(stmt)).all())


async def by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[ScoringModelRecord]:
    """Registered models among ``ids`` (the registry is the platform's: no row rules)."""
    stmt = select(ScoringModelRecord).where(ScoringModelRecord.id.in_(ids))
    return list((await session.scalars(stmt)).all())


async def promote(
    session: AsyncSession,
    version: str,
    *,
    keep_previous_as_challenger: bool = True,
    actor_id: uuid.UUID | None = None,
    request_id: str | None = None,
    features: tuple[FeatureSpec, ...] | None = None,
    optional: tuple[FeatureSpec, ...] = (),
) -> ScoringModelRecord:
    """Make ``version`` the champion; the one it replaces turns challenger or retires.

    ``features``: what the champion will be fed; a model reading anything else (say,
    one trained on a lender's file with its own columns) is refused. ``optional``: features
    the champion may read after those, all of them or none (external data).
    """
    row = await by_version(session, version)
    if (
        features is not None
        and (difference := feature_difference(features_of(row), features))
        and not (optional and not feature_difference(features_of(row), (*features, *optional)))
    ):
        raise InvalidInput(
            f"{version} reads other features than applications have ({difference}); "
            "it can be evaluated, not put in service"
        )
    if row.status is ModelStatus.CHAMPION:
        raise InvalidInput(f"{version} is the champion already")
    if row.status is ModelStatus.RETIRED:
        raise InvalidInput(f"{version} is retired; register a new model instead")
    now = utcnow()
    # Locked: two promotions at once must not both find the old champion and leave two.
    previous = [r for r in await in_service(session, lock=True) if r.status is ModelStatus.CHAMPION]
    for old in previous:
        if keep_previous_as_challenger:
            old.status = ModelStatus.CHALLENGER
        else:
            old.status = ModelStatus.RETIRED
            old.retired_at = now
    row.status = ModelStatus.CHAMPION
    row.promoted_at = now
    await session.flush()
    record(
        session,
        action="model.promoted",
        entity_type="scoring_model",
        entity_id=row.id,
        actor_id=actor_id,
        request_id=request_id,
        version=version,
        replaced=[r.version for r in previous],
    )
    return row


@dataclass
class ModelCache:
    """Loaded models per process, by version and checksum: a file is read once."""

    store: Path
    _loaded: dict[tuple[str, str], ScoringModel] | None = None

    def get(self, row: ScoringModelRecord) -> ScoringModel:
        if self._loaded is None:
            self._loaded = {}
        key = (row.version, row.artifact_sha256)
        found = self._loaded.get(key)
        if found is None:
            found = load(row, self.store)
            # The reason tables are built now, not on the first applicant's time.
            Scorer(found).warm()
            self._loaded[key] = found
        return found


def remove_artifacts(store: Path, version: str) -> None:
    shutil.rmtree(store / version, ignore_errors=True)
