"""Credit scoring models: evaluate a pipeline, train, report, list, promote, score, drift."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.cli.common import (
    bars,
    console,
    guarded,
    print_json,
    progress,
    settings_or_exit,
    transact,
    with_sessions,
    working,
)
from api.cli.jobs import JOB_KINDS, follow
from domain.settings import Settings

group = typer.Typer(
    help="Credit scoring models: train, evaluate, promote, score.", no_args_is_help=True
)


DEFAULT_BUDGET = 180.0
BUDGET_OPTION = typer.Option(
    "--budget",
    min=0.0,
    help="Seconds the hyper-parameter search may take (per fit; 0: the default only).",
)
BLEND_OPTION = typer.Option(help="Try a blend with the logistic baseline on inner folds.")


def _search_params(budget: float, blend: bool) -> dict[str, object]:
    return {"budget_seconds": budget, "blend": blend}


def _print_comparison(figures: Mapping[str, Any]) -> None:
    """Default vs tuned vs blend, with their spread over folds, and each fold's choice."""
    variants = figures.get("variants")
    if not variants:
        return
    baseline = figures["baseline"]
    for name, found in [*variants.items(), ("pipeline", figures), ("logistic", baseline)]:
        console.print(
            f"{name:<9} AUC {found['auc_mean']:.4f} ± {found['auc_std']:.4f}   "
            f"ECE {found['ece']:.4f}   Brier {found['brier']:.4f}"
        )
    for index, chosen in enumerate(figures["chosen_per_fold"], start=1):
        console.print(
            f"fold {index}: {chosen['params'] or 'default'}, {chosen['iterations']} trees, "
            f"{chosen['candidates_tried']} tried, blend {'kept' if chosen['blend'] else 'not kept'}"
        )
    console.print(f"gain over the default: {figures['gain_over_default']:+.4f} AUC")


@group.command("evaluate")
def model_evaluate(
    csv: Annotated[Path, typer.Option("--csv", exists=True, dir_okay=False)],
    target: Annotated[str, typer.Option("--target", help="The outcome column.")],
    bad_value: Annotated[str, typer.Option("--bad-value", help="Its value for a default.")],
    folds: Annotated[int, typer.Option(min=2, max=20)] = 5,
    seed: Annotated[int, typer.Option()] = 42,
    budget: Annotated[float, BUDGET_OPTION] = DEFAULT_BUDGET,
    blend: Annotated[bool, BLEND_OPTION] = True,
) -> None:
    """Cross-validate the training pipeline on any CSV; print the figures as JSON (and,
    on stderr, default vs tuned vs blend with their spread, and each fold's choice)."""
    from scoring.tabular import TabularError
    from scoring.training import evaluate_csv

    try:
        with progress(f"{folds}-fold validation") as report:
            figures = evaluate_csv(
                csv,
                target,
                bad_value,
                folds=folds,
                seed=seed,
                params=_search_params(budget, blend),
                progress=report,
            )
        _print_comparison(figures)
        print_json(figures)
    except (TabularError, ValueError) as exc:
        console.print(f"[red]BAD_USER_INPUT[/red]: {exc}")
        raise typer.Exit(2) from None


def train_model(
    settings: Settings,
    *,
    csv: Path | None = None,
    target: str | None = None,
    bad_value: str | None = None,
    folds: int = 5,
    seed: int = 42,
    promote: bool = False,
    validate: bool = True,
    params: Mapping[str, object] | None = None,
    external: bool = False,
) -> dict[str, object]:
    """Sample, validate (k-fold), fit, record the drift reference, register, promote."""
    from domain.risk.training import train_and_register, training_rows
    from scoring.tabular import read_csv

    async def train(sessions: async_sessionmaker[AsyncSession]) -> dict[str, object]:
        if csv is not None:
            if not target or bad_value is None:
                raise ValueError("--csv needs --target and --bad-value")
            table = read_csv(csv, target=target, bad_value=bad_value)
            rows, labels, specs = list(table.rows), list(table.labels), tuple(table.specs)
            source = f"csv {csv.name}"
        else:
            rows, labels, specs, source = await training_rows(sessions, external=external)
        console.print(f"training on {len(rows)} loans ({sum(labels)} defaults) from {source}")
        with bars() as bar:
            return await train_and_register(
                sessions,
                settings.model_dir,
                rows=rows,
                labels=labels,
                specs=specs,
                source=source,
                folds=folds,
                seed=seed,
                promote=promote,
                validate=validate,
                params=params,
                boosters=bar,
            )

    return guarded(settings, lambda: with_sessions(settings, train))


@group.command("train")
def model_train(
    csv: Annotated[
        Path | None,
        typer.Option("--csv", exists=True, dir_okay=False, help="A lender's file (else: ours)."),
    ] = None,
    target: Annotated[str | None, typer.Option("--target")] = None,
    bad_value: Annotated[str | None, typer.Option("--bad-value")] = None,
    folds: Annotated[int, typer.Option(min=2, max=20, help="For the validation report.")] = 5,
    seed: Annotated[int, typer.Option()] = 42,
    promote: Annotated[bool, typer.Option(help="Make it the champion at once.")] = False,
    budget: Annotated[float, BUDGET_OPTION] = DEFAULT_BUDGET,
    blend: Annotated[bool, BLEND_OPTION] = True,
    external: Annotated[
        bool,
        typer.Option(
            help="Also read the stored external data (bureau, registry, bank statements) "
            "as optional features (platform history only)."
        ),
    ] = False,
) -> None:
    """Train on the platform's loan history (or a CSV), validate, and register a candidate."""
    from scoring.tabular import TabularError

    try:
        result = train_model(
            settings_or_exit(),
            csv=csv,
            target=target,
            bad_value=bad_value,
            folds=folds,
            seed=seed,
            promote=promote,
            params=_search_params(budget, blend),
            external=external,
        )
    except (TabularError, ValueError) as exc:
        console.print(f"[red]BAD_USER_INPUT[/red]: {exc}")
        raise typer.Exit(2) from None
    print_json(result)


@group.command("report")
def model_report(
    version: str,
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Directory to write to.")],
) -> None:
    """Write the model's validation report: one HTML page with its charts, for offline use."""
    from domain.risk.registry import by_version, features_of, load
    from domain.risk.training import VALIDATION_FILE
    from scoring.report import render
    from scoring.scorecard import MasterScale, Scorecard

    settings = settings_or_exit()
    row = transact(settings, lambda session: by_version(session, version))
    found = settings.model_dir / row.version / VALIDATION_FILE
    if not found.is_file():
        console.print(
            f"[red]NOT_FOUND[/red]: {row.version} has no cross-validation predictions "
            "(trained without validation); train it with `lendgraph model train`"
        )
        raise typer.Exit(1)
    predictions = json.loads(found.read_text(encoding="utf-8"))
    model = load(row, settings.model_dir)
    scorecard, scale = Scorecard(), MasterScale()
    pds = [min(max(p, 1e-9), 1 - 1e-9) for p in predictions["pd"]]
    names = [f.name for f in features_of(row)]
    importance = sorted(
        zip(names, (float(v) for v in model.booster.get_feature_importance()), strict=True),
        key=lambda pair: -pair[1],
    )
    page = render(
        version=row.version,
        source=row.source,
        metrics=row.metrics,
        labels=predictions["labels"],
        pds=pds,
        scores=[float(scorecard.points(p)) for p in pds],
        grades=[scale.grade(p) for p in pds],
        grade_order=list(scale.names),
        importance=importance,
    )
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"model-{row.version}.html"
    target.write_text(page, encoding="utf-8")
    typer.echo(f"wrote {target}")


@group.command("list")
def model_list() -> None:
    """Registered models, newest first."""
    from domain.risk.registry import listing

    for row in transact(settings_or_exit(), listing):
        typer.echo(
            f"{row.version:<24} {row.status.value:<10} {row.calibrator.value:<8} "
            f"{_figures(row.metrics)}  {row.source}"
        )


def _figures(metrics: dict[str, Any]) -> str:
    """A model's validation in a few words: cross-validated AUC, its spread, the data."""
    validated = metrics.get("cross_validation") or {}
    auc, spread = validated.get("auc_mean"), validated.get("auc_std")
    shown = (
        f"auc {auc:.3f} ± {spread:.3f} ({validated.get('folds')}-fold)"
        if isinstance(auc, float) and isinstance(spread, float)
        else "auc -  (not validated)"
    )
    rows, bad = metrics.get("n_rows"), metrics.get("n_bad")
    return f"{shown}  {bad} defaults in {rows} rows"


@group.command("promote")
def model_promote(
    version: str,
    retire_previous: Annotated[
        bool, typer.Option(help="Retire the champion it replaces instead of keeping it.")
    ] = False,
) -> None:
    """Make a registered model the champion; the previous one scores on in shadow."""
    from domain.risk.registry import promote
    from scoring.features import EXTERNAL_FEATURES, PLATFORM_FEATURES

    row = transact(
        settings_or_exit(),
        lambda session: promote(
            session,
            version,
            keep_previous_as_challenger=not retire_previous,
            features=PLATFORM_FEATURES,
            optional=EXTERNAL_FEATURES,
        ),
    )
    typer.echo(f"{row.version} is the champion")


@group.command("score-portfolio")
def model_score_portfolio(
    wait: Annotated[bool, typer.Option(help="Follow it with a progress bar.")] = True,
) -> None:
    """Re-score every active loan with the champion model: a job split into chunks that
    the workers share (on SQLite this process runs them)."""
    settings = settings_or_exit()
    found = guarded(settings, lambda: follow(settings, JOB_KINDS["rescoring"], {}, wait=wait))
    result = found.get("result") or {}
    if not wait:
        print_json(found)
        return
    typer.echo(
        f"scored {result.get('loans', 0)} active loans with {result.get('version')} "
        f"in {result.get('chunks', 0)} chunks"
    )


@group.command("drift")
def model_drift(
    days: Annotated[int, typer.Option(min=1, max=3650, help="Recent window.")] = 90,
) -> None:
    """Population stability of the score and each feature; alerts when unstable."""
    from domain.risk.monitoring import model_drift as measure
    from scoring.drift import verdict

    with working("measuring stability"):
        found = transact(settings_or_exit(), lambda session: measure(session, days=days))
    typer.echo(f"model {found.version}: {found.assessments} assessments in the last {days} days")
    for name, index in sorted(found.indices.items(), key=lambda item: -item[1]):
        typer.echo(f"  {name:<36} PSI {index:7.4f}  {verdict(index)}")
    if found.alert_raised:
        typer.echo("unstable: a risk alert was raised")
