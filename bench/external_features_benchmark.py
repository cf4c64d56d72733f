"""Champion/challenger on the demo book: the scoring pipeline with and without the
external data features (credit bureau, business registry, bank statements).

1. A fresh SQLite database seeded as ``lendgraph seed`` seeds the demo (1,000
   enterprises, seed 42; ``--quick``: 300).
2. Every seeded enterprise's three provider answers come from the provider simulator's
   own ``answer`` (``lendgraph provider-simulator``, seed 7), checked against the
   contract and kept as the service keeps them (``domain.providers.answers``), stored as
   records fetched for credit assessment on the enterprise's first application day,
   with a consent to credit assessment in force. No answer is derived from the book:
   the simulator knows a credit code and nothing else about the enterprise.
3. ``training_sample`` reads the labelled rows through the one feature path
   (``domain.risk.assessment.feature_inputs``), so the external features come from the
   stored records exactly as scoring reads them.
4. ``cross_validate`` of the same pipeline on the same stratified folds (same seed, same
   rows, same labels) with PLATFORM_FEATURES and with PLATFORM_FEATURES +
   EXTERNAL_FEATURES: AUC mean and spread of each, and the paired difference per fold.

Run: ``python bench/external_features_benchmark.py [--quick] [--enterprises N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from domain.applications.models import Application
from domain.enterprises.models import Enterprise
from domain.identity.viewer import Viewer
from domain.privacy import consent
from domain.providers.answers import Profile, kept, read_answer
from domain.providers.models import ExternalDataKind, ExternalDataRecord
from domain.providers.service import STAFF_PURPOSE
from domain.risk.assessment import training_sample
from kernel.base import new_id
from kernel.db import create_engine, session_factory
from migrations.runner import upgrade
from privacy.keys import generate
from scoring.features import EXTERNAL_FEATURES, PLATFORM_FEATURES
from scoring.training import cross_validate
from seed import seed_population
from seed.provider_simulator import answer

KINDS = {
    "registry": ExternalDataKind.BUSINESS_REGISTRY,
    "bureau": ExternalDataKind.CREDIT_BUREAU,
    "bank-statements": ExternalDataKind.BANK_STATEMENT,
}
SIMULATOR_SEED = 7
QUICK_PARAMS: dict[str, Any] = {"iterations": 400, "learning_rate": 0.08}


async def store_external(engine: Any) -> int:
    """Every enterprise's three answers stored, and its consent to credit assessment."""
    sessions = session_factory(engine)
    platform = Viewer()
    stored = 0
    async with sessions() as session, session.begin():
        first = dict(
            (
                await session.execute(
                    select(Application.enterprise_id, func.min(Application.submitted_at))
                    .where(Application.submitted_at.is_not(None))
                    .group_by(Application.enterprise_id)
                )
            ).all()
        )
        enterprises = (
            await session.scalars(select(Enterprise).where(Enterprise.id.in_(list(first))))
        ).all()
        for enterprise in enterprises:
            day = first[enterprise.id]
            if day.tzinfo is None:
                day = day.replace(tzinfo=UTC)
            code = enterprise.unified_social_credit_code
            profile = Profile(enterprise.name, enterprise.founded_on, None)
            for path, kind in KINDS.items():
                body = answer(path, code, seed=SIMULATOR_SEED, as_of=day.date())
                checked = read_answer(kind, json.dumps(body).encode(), code=code)
                session.add(
                    ExternalDataRecord(
                        id=new_id(),
                        enterprise_id=enterprise.id,
                        kind=kind,
                        source=checked.source,
                        as_of=checked.as_of,
                        fetched_at=day,
                        content_hash="0" * 64,  # what was received is not the point here
                        facts=kept(checked, profile).facts,
                        personal=None,
                        purpose=STAFF_PURPOSE,
                    )
                )
                stored += 1
            # The owner's consent to credit assessment by any institution, recorded as
            # the consent service records it (seeded enterprises have no owner account).
            await consent._append(
                session,
                viewer=platform,
                subject_id=enterprise.id,
                purpose=STAFF_PURPOSE,
                recipient_institution_id=None,
                action=consent.GRANT,
                expires_at=None,
                text_version="bench",
                channel="bench",
                now=datetime.now(UTC),
                request_id=None,
            )
    return stored


def compare(rows: list[dict[str, Any]], labels: list[int], *, quick: bool) -> dict[str, Any]:
    params = {**QUICK_PARAMS} if quick else {}
    figures = {}
    for name, specs in (
        ("platform", PLATFORM_FEATURES),
        ("with external", (*PLATFORM_FEATURES, *EXTERNAL_FEATURES)),
    ):
        started = time.perf_counter()
        result = cross_validate(rows, labels, specs, folds=5, seed=42, params=params)
        result["elapsed"] = time.perf_counter() - started
        figures[name] = result
    return figures


async def run(enterprises: int, *, quick: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(folder) / 'demo.db'}")
        try:
            await upgrade(engine)
            started = time.perf_counter()
            await seed_population(
                session_factory(engine), enterprises=enterprises, seed=42, keys=generate()
            )
            stored = await store_external(engine)
            async with session_factory(engine)() as session:
                sample = await training_sample(session)
            print(
                f"demo book: {enterprises} enterprises, {len(sample.rows)} seasoned loans, "
                f"{sum(sample.labels)} defaults; {stored} external records "
                f"({time.perf_counter() - started:.0f} s)"
            )
        finally:
            await engine.dispose()
    covered = sum(r["bureau_score"] is not None for r in sample.rows)
    print(f"rows with external features: {covered} of {len(sample.rows)}")
    figures = compare(sample.rows, sample.labels, quick=quick)
    for name, found in figures.items():
        print(
            f"{name:<14} AUC {found['auc_mean']:.4f} ± {found['auc_std']:.4f}  "
            f"folds {' '.join(f'{a:.3f}' for a in found['aucs'])}  "
            f"Brier {found['brier']:.4f}  ECE {found['ece']:.4f}  ({found['elapsed']:.0f} s)"
        )
    gains = [
        b - a
        for a, b in zip(figures["platform"]["aucs"], figures["with external"]["aucs"], strict=True)
    ]
    print(
        f"gain with external features (paired, same folds): "
        f"{statistics.fmean(gains):+.4f} ± {statistics.pstdev(gains):.4f} AUC"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="300 enterprises, fewer trees")
    args = parser.parse_args()
    enterprises = 300 if args.quick and args.enterprises == 1000 else args.enterprises
    asyncio.run(run(enterprises, quick=args.quick))


if __name__ == "__main__":
    main()
