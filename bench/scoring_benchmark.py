"""How well the scoring pipeline ranks and calibrates on public data (issue 6's target).

Runs ``scoring.training.evaluate_csv`` on the UCI Statlog German Credit data shipped in
``scoring/data/german_credit.csv`` (or any CSV given with ``--csv``): the whole training
pipeline (CatBoost with early stopping and Platt calibration, all inside each fold)
under stratified k-fold cross-validation, and a logistic-regression baseline on the
same folds. Prints the JSON report, a summary line per model and the elapsed seconds.
Target on German Credit, 5 folds, seed 42: AUC mean at least 0.79 and not below the
baseline. Prints figures only; nothing is asserted.

    python bench/scoring_benchmark.py [--csv PATH --target COLUMN --bad-value VALUE]
                                      [--folds N] [--seed S] [--quick]

``--quick`` is CI's smoke run: 2 folds, at most 200 trees, 2 validation folds inside
training; its figures are not comparable with the full run's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from scoring.training import evaluate_csv

GERMAN_CREDIT = Path(__file__).resolve().parent.parent / "scoring" / "data" / "german_credit.csv"
QUICK_PARAMS: dict[str, Any] = {
    "iterations": 200,
    "learning_rate": 0.1,
    "early_stopping_rounds": 50,
    "validation_folds": 2,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=GERMAN_CREDIT)
    parser.add_argument("--target", default="class")
    parser.add_argument("--bad-value", default="bad")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI")
    args = parser.parse_args()
    params = None
    if args.quick:
        args.folds, params = 2, QUICK_PARAMS

    started = time.perf_counter()
    result = evaluate_csv(
        args.csv, args.target, args.bad_value, args.folds, args.seed, params=params
    )
    elapsed = time.perf_counter() - started
    print(json.dumps(result, indent=2))
    baseline = result["baseline"]
    print(f"\n{args.csv.name}: {result['n_rows']} rows, {result['n_bad']} bad, {args.folds} folds")
    for name, figures in (("catboost", result), ("logistic baseline", baseline)):
        aucs = " ".join(f"{a:.4f}" for a in figures["aucs"])
        print(
            f"{name:18} AUC {figures['auc_mean']:.4f} ± {figures['auc_std']:.4f} "
            f"(folds {aucs})  KS {figures['ks']:.3f}  Brier {figures['brier']:.4f}  "
            f"ECE {figures['ece']:.4f}"
        )
    print(f"folds where catboost >= baseline: {result['folds_won']}/{args.folds}")
    print(f"elapsed: {elapsed:.1f} s")


if __name__ == "__main__":
    main()
