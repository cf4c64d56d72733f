"""Train a scoring model and register it: what `lendgraph model train` and the training
job share. Validation (stratified k-fold) and the fit run in a thread: they take minutes
of CatBoost, and the process's event loop (a worker's heartbeats, a server's requests)
keeps going meanwhile."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scoring.spec import FeatureSpec

VALIDATION_FILE = "validation.json"
# Steps a training reports progress by: sample, validate, fit, register.
STEPS = 4

Progress = Callable[[int, int], Any]


async def training_rows(
    sessions: async_sessionmaker[AsyncSession], *, external: bool = False
) -> tuple[list[Any], list[int], tuple[FeatureSpec, ...], str]:
    """The platform's seasoned loans as labelled feature rows, and where they came from;
    with ``external``, the external data features too (missing where not fetched)."""
    from domain.risk.assessment import training_sample
    from scoring.features import EXTERNAL_FEATURES, PLATFORM_FEATURES

    async with sessions() as session:
        sample = await training_sample(session)
    source = f"platform loan history as of {sample.as_of}"
    specs = (*PLATFORM_FEATURES, *EXTERNAL_FEATURES) if external else PLATFORM_FEATURES
    if external:
        source += " with external data"
    return list(sample.rows), list(sample.labels), tuple(specs), source


async def train_and_register(
    sessions: async_sessionmaker[AsyncSession],
    model_dir: Path,
    *,
    rows: Sequence[Any],
    labels: Sequence[int],
    specs: Sequence[FeatureSpec],
    source: str,
    folds: int = 5,
    seed: int = 42,
    promote: bool = False,
    validate: bool = True,
    params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    boosters: Callable[[str], Callable[[int, int | None], None]] | None = None,
) -> dict[str, object]:
    """Validate (k-fold), fit, record the drift reference, register, maybe promote.

    ``progress`` hears the steps (of STEPS); ``boosters``, given a step's name, the
    function that hears its boosters (``done, total``), from the training's thread.
    ``params`` go to the pipeline (``scoring.training``): a search budget is spent once
    by the validation (shared among its folds) and once by the final fit.
    """
    from domain.risk.registry import promote as promote_model
    from domain.risk.registry import register
    from scoring.drift import training_reference
    from scoring.features import EXTERNAL_FEATURES, PLATFORM_FEATURES
    from scoring.scorecard import Scorecard
    from scoring.training import cross_validate, fit

    async def step(done: int) -> None:
        if progress is not None:
            await progress(done, STEPS)

    await step(1)
    validation = (
        await asyncio.to_thread(
            cross_validate,
            rows,
            labels,
            specs,
            folds=folds,
            seed=seed,
            keep_predictions=True,
            params=params,
            progress=None if boosters is None else boosters(f"{folds}-fold validation"),
        )
        if validate
        else None
    )
    predictions = None if validation is None else validation.pop("predictions")
    await step(2)
    fitting = None if boosters is None else boosters("fitting the model")
    model = await asyncio.to_thread(
        fit, rows, labels, specs, seed=seed, params=params, progress=fitting
    )
    if validation is not None:
        model.metrics["cross_validation"] = validation
    model.metrics["reference"] = training_reference(model, rows, Scorecard())
    await step(3)
    async with sessions() as session, session.begin():
        row = await register(session, model, model_dir, source=source)
        if predictions is not None:
            # The out-of-fold predictions the validation report draws its charts from.
            (model_dir / row.version / VALIDATION_FILE).write_text(
                json.dumps(predictions), encoding="utf-8"
            )
        if promote:
            await promote_model(
                session, row.version, features=PLATFORM_FEATURES, optional=EXTERNAL_FEATURES
            )
        version = row.version
    await step(4)
    return {
        "version": version,
        "promoted": promote,
        "rows": len(rows),
        "defaults": sum(labels),
        "calibrator": model.calibrator.value,
        "auc_mean": None if validation is None else validation["auc_mean"],
        "auc_std": None if validation is None else validation["auc_std"],
        "baseline_auc_mean": None if validation is None else validation["baseline"]["auc_mean"],
    }
