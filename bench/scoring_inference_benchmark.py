"""How fast applications are scored: one at a time in-process, and streamed in batches.

Issue 6's targets: one application with reasons, median under 2 ms; a batch without
reasons at least 200,000 rows/s on 2 cores, with reasons at least 20,000 rows/s.

Synthetic applications (seeded, the same each run) go through ``scoring.features`` into
platform feature rows. The model is the real pipeline's: ``scoring.training.fit`` on
``--train`` labelled rows (or an artifact directory given with ``--model``, e.g. the
champion's in the model store). Then:

- single: ``Scorer.assess`` on ``--singles`` different rows, with and without reasons;
  median and p95 wall-clock per application, and the mean CPU time. The SHAP leaf
  tables are built before the timing (the first application of a process pays that
  once; printed separately).
- batch: ``Scorer.assess_many`` over ``--rows`` rows (a pool of ``--pool`` distinct rows
  cycled by a generator, so the portfolio is streamed, never held), chunks of
  ``--chunk``; rows/s of the best of ``--runs`` runs (wall clock, and per second of
  CPU the process used on all its threads), and every run.

- columns (issue 23): the same ``--rows`` rows as columns (a DataFrame, built before
  the timing), scored at once by ``Scorer.score_columns``, beside CatBoost's own
  ``predict_proba`` on a ``Pool`` built from the same DataFrame (the Pool's building
  timed too, as ours is) and on a prebuilt Pool; then with reasons, beside CatBoost's
  own ``ShapValues`` of the same Pool. Best of ``--runs`` runs each, and the ratio
  CatBoost / ours (the target: at most 2).

Prints figures only; nothing is asserted. The machine's load average is printed too:
on a shared machine the figures move with it.

    python bench/scoring_inference_benchmark.py [--model DIR | --train N --save DIR] [--rows N]
                                                [--singles N] [--chunk N] [--runs N]
                                                [--threads N] [--pool N] [--quick]

``--quick`` is CI's smoke run (a few seconds): a small, fast-trained model, 200 singles,
10,000 batch rows from 1,000 distinct ones, one run; its figures are not the targets' figures.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import math
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas
from catboost import Pool

from scoring.features import PLATFORM_FEATURES, History, Profile, Request, Statement, features
from scoring.inference import Scorer
from scoring.model import ScoringModel
from scoring.reasons import LeafTables
from scoring.training import fit

AS_OF = date(2026, 6, 30)
POOL_ROWS = 20_000
# Sector risk added to the log-odds: what the accounts do not show.
INDUSTRIES = {
    "manufacturing": 0.0,
    "wholesale_retail": 0.1,
    "construction": 0.45,
    "real_estate": 0.6,
    "information_technology": -0.2,
    "transport_logistics": 0.15,
    "agriculture": 0.3,
    "hospitality": 0.4,
    "healthcare": -0.3,
}
REGIONS = ("Beijing", "Shanghai", "Guangdong", "Zhejiang", "Jiangsu", "Sichuan", "Hubei")
PRODUCTS = ("working_capital_loan", "term_loan", "equipment_leasing", "factoring", "credit_line")
METHODS = ("annuity", "equal_principal", "interest_only")
QUICK_PARAMS: dict[str, Any] = {"iterations": 100, "learning_rate": 0.1, "validation_folds": 2}

Row = dict[str, Any]


def money(x: float) -> Decimal:
    return Decimal(f"{x:.2f}")


def application(rng: random.Random) -> tuple[Row, int]:
    """One application's features and whether it went bad; risk falls with a hidden
    health that also shapes the accounts, so the model has real signal to find."""
    health = rng.gauss(0.0, 1.0)
    industry = rng.choice(list(INDUSTRIES))
    employees = max(1, int(math.exp(rng.gauss(3.0, 1.0))))
    revenue = employees * 400_000 * math.exp(rng.gauss(0.1 * health, 0.4))
    statements = []
    for back in range(rng.choice((0, 1, 2, 2, 3))):
        year_revenue = revenue / (1 + rng.gauss(0.05, 0.1)) ** back
        assets = year_revenue / rng.uniform(0.5, 2.0)
        liabilities = assets * min(max(0.55 - 0.12 * health + rng.gauss(0.0, 0.1), 0.05), 1.1)
        operating = year_revenue * (0.06 + 0.04 * health + rng.gauss(0.0, 0.03))
        interest = liabilities * rng.uniform(0.0, 0.06)
        net = (operating - interest) * 0.75
        statements.append(
            Statement(
                fiscal_year=AS_OF.year - 1 - back,
                revenue=money(year_revenue),
                cost_of_sales=money(year_revenue * 0.7),
                operating_profit=money(operating),
                interest_expense=money(interest),
                net_profit=money(net),
                total_assets=money(assets),
                current_assets=money(assets * rng.uniform(0.3, 0.8)),
                total_liabilities=money(liabilities),
                current_liabilities=money(liabilities * rng.uniform(0.4, 0.9)),
                equity=money(assets - liabilities),
                operating_cash_flow=money(net + assets * 0.04),
            )
        )
    history = None
    if rng.random() < 0.4:
        history = History(
            max_days_past_due=max(0, int(rng.gauss(5 - 10 * health, 15))),
            late_instalments=max(0, int(rng.gauss(1 - health, 1.5))),
            loans_before=rng.randint(1, 4),
        )
    profile = Profile(
        industry=industry,
        region=rng.choice(REGIONS),
        founded_on=AS_OF - timedelta(days=rng.randint(100, 25 * 365)),
        employee_count=employees,
        annual_revenue=money(revenue) if rng.random() < 0.8 else None,
    )
    request = Request(
        amount=money(revenue * rng.uniform(0.05, 0.6)),
        term_months=rng.choice((6, 12, 24, 36, 60)),
        product_type=rng.choice(PRODUCTS),
        repayment_method=rng.choice(METHODS),
    )
    row = features(profile, statements, request, history, as_of=AS_OF)
    logit = -3.0 - 0.8 * health + INDUSTRIES[industry] + rng.gauss(0.0, 0.6)
    logit += 0.5 if history is None else 0.0
    return row, int(rng.random() < 1.0 / (1.0 + math.exp(-logit)))


def sample(n: int, seed: int) -> tuple[list[Row], list[int]]:
    rng = random.Random(seed)
    pairs = [application(rng) for _ in range(n)]
    return [r for r, _ in pairs], [y for _, y in pairs]


def portfolio(pool: list[Row], n: int) -> Iterator[Row]:
    return itertools.islice(itertools.cycle(pool), n)


def single(scorer: Scorer, rows: list[Row], *, with_reasons: bool) -> tuple[list[float], float]:
    """Wall-clock ms per ``assess``, and the process's CPU ms per ``assess`` overall."""
    clock = time.perf_counter_ns
    out = []
    gc.collect()
    cpu = time.process_time()
    for row in rows:
        started = clock()
        scorer.assess(row, with_reasons=with_reasons)
        out.append((clock() - started) / 1e6)
    return out, (time.process_time() - cpu) * 1e3 / len(rows)


def batch(
    scorer: Scorer, pool: list[Row], n: int, chunk: int, *, with_reasons: bool
) -> tuple[float, float]:
    """Rows per wall-clock second and per CPU second (all threads) of one streamed run."""
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    count = sum(
        1 for _ in scorer.assess_many(portfolio(pool, n), chunk=chunk, with_reasons=with_reasons)
    )
    elapsed, used = time.perf_counter() - started, time.process_time() - cpu
    assert count == n
    return n / elapsed, n / used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a model artifact directory (else trained)")
    parser.add_argument("--train", type=int, default=20_000, help="rows to train on")
    parser.add_argument("--save", type=Path, help="keep the trained model here, for --model")
    parser.add_argument("--rows", type=int, default=200_000, help="batch rows")
    parser.add_argument("--singles", type=int, default=2_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=-1, help="CatBoost threads in batches")
    parser.add_argument("--pool", type=int, default=POOL_ROWS, help="distinct rows cycled")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI")
    args = parser.parse_args()
    params = None
    if args.quick:
        args.train, args.rows, args.singles, args.runs, args.pool = 1_000, 10_000, 200, 1, 1_000
        params = QUICK_PARAMS

    load = os.getloadavg()
    print(f"cpus {os.cpu_count()}  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.model is not None:
        model = ScoringModel.load(args.model, expected=PLATFORM_FEATURES)
        print(f"model       {args.model}")
    else:
        rows, labels = sample(args.train, args.seed)
        started = time.perf_counter()
        model = fit(rows, labels, PLATFORM_FEATURES, seed=args.seed, params=params)
        print(
            f"model       trained on {len(rows):,} rows ({sum(labels):,} bad) in "
            f"{time.perf_counter() - started:.1f} s, cross-validated AUC "
            f"{model.metrics['auc']:.3f}"
        )
        if args.save is not None:
            model.save(args.save)
    booster = model.booster
    depth = booster.get_all_params().get("depth")
    print(
        f"            {booster.tree_count_} trees of depth {depth}, "
        f"{len(model.features)} features, calibration a={model.calibration[0]:.3f} "
        f"b={model.calibration[1]:.3f}"
    )

    pool, _ = sample(args.pool, args.seed + 1)
    scorer = Scorer(model, version="bench", threads=args.threads)
    started = time.perf_counter()
    first = scorer.assess(pool[0])
    print(
        f"first assessment with reasons (builds the SHAP leaf tables once per model): "
        f"{(time.perf_counter() - started) * 1e3:.0f} ms"
    )
    tables = LeafTables.build(booster, len(model.features))
    print(f"            leaf tables {tables.dense.nbytes / 1e6:.1f} MB")
    print(f"example     PD {first.pd:.4f}  score {first.score}  grade {first.grade}")
    for reason in first.reasons:
        print(f"            {reason['impact']:+.3f}  {reason['text']}")

    print(f"\nsingle      {args.singles:,} applications, ms per application")
    for with_reasons in (True, False):
        samples, cpu = single(scorer, pool[: args.singles], with_reasons=with_reasons)
        p95 = statistics.quantiles(samples, n=20)[-1]
        label = "with reasons" if with_reasons else "no reasons"
        print(
            f"  {label:13} median {statistics.median(samples):6.3f} ms   p95 {p95:6.3f} ms   "
            f"cpu {cpu:6.3f} ms (mean)"
        )

    print(f"\nbatch       {args.rows:,} rows streamed, chunks of {args.chunk:,}, rows/s")
    for with_reasons in (False, True):
        runs = [
            batch(scorer, pool, args.rows, args.chunk, with_reasons=with_reasons)
            for _ in range(args.runs)
        ]
        label = "with reasons" if with_reasons else "no reasons"
        every = "  ".join(f"{wall:,.0f}" for wall, _ in runs)
        best = max(runs)
        print(
            f"  {label:13} best {best[0]:10,.0f}   per CPU second {best[1]:10,.0f}   runs {every}"
        )
    columns(scorer, pool, args.rows, args.runs)


def best_rate(n: int, runs: int, work: Callable[[], object]) -> float:
    """Rows per wall-clock second of the best of ``runs`` runs of ``work``."""
    times = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return n / min(times)


def columns(scorer: Scorer, pool: list[Row], n: int, runs: int) -> None:
    """The column batch path beside CatBoost's own figures on the same rows."""
    rows = list(portfolio(pool, n))
    frame = pandas.DataFrame(scorer.columns(rows))
    del rows
    booster = scorer.model.booster
    categorical = list(booster.get_cat_feature_indices())
    threads = scorer.threads
    prebuilt = Pool(frame, cat_features=categorical)

    def raw_catboost() -> object:
        return booster.predict_proba(Pool(frame, cat_features=categorical), thread_count=threads)

    def raw_shap() -> object:
        return booster.get_feature_importance(
            Pool(frame, cat_features=categorical), type="ShapValues", thread_count=threads
        )

    figures = {
        "catboost": best_rate(n, runs, raw_catboost),
        "prebuilt": best_rate(
            n, runs, lambda: booster.predict_proba(prebuilt, thread_count=threads)
        ),
        "ours": best_rate(n, runs, lambda: scorer.score_columns(frame)),
        "shap": best_rate(n, runs, raw_shap),
        "reasons": best_rate(n, runs, lambda: scorer.score_columns(frame, with_reasons=True)),
    }
    print(f"\ncolumns     {n:,} rows as one DataFrame, scored at once, rows/s (best of {runs})")
    print(f"  catboost predict_proba, Pool built from the frame  {figures['catboost']:12,.0f}")
    print(f"  catboost predict_proba, prebuilt Pool              {figures['prebuilt']:12,.0f}")
    print(
        f"  score_columns, no reasons                          {figures['ours']:12,.0f}   "
        f"ratio catboost/ours {figures['catboost'] / figures['ours']:.2f} (target <= 2)"
    )
    print(f"  catboost ShapValues, Pool built from the frame     {figures['shap']:12,.0f}")
    print(
        f"  score_columns, with reasons                        {figures['reasons']:12,.0f}   "
        f"ratio catboost predict_proba/ours {figures['catboost'] / figures['reasons']:.2f}"
    )


if __name__ == "__main__":
    main()
