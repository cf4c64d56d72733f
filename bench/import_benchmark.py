"""How fast enterprises and their statements are imported in bulk, and imported again.

Writes a deterministic CSV (or, with ``--xlsx``, a workbook) of ``--rows`` rows, one
enterprise and one year of accounts each, a few percent of them dirty (a second year
of an enterprise further down, a missing equity, a lower-case or full-width credit
code, a wrong check character, a missing employee count, an implausible ratio, a
malformed phone number). Migrates a fresh database (a temporary SQLite file unless
``--database-url`` says otherwise; on PostgreSQL the ``public`` schema is dropped and
recreated first), imports the file, then imports it again (which must change
nothing), and prints the wall times and the outcomes.

    python bench/import_benchmark.py [--rows N] [--quick] [--xlsx] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select, text

from domain.enterprises.models import Enterprise, FinancialStatement
from domain.enterprises.uscc import generate_uscc
from domain.imports.cleaning import COLUMNS, id_check_digit
from domain.imports.models import RowEffect
from domain.imports.service import ImportReport, import_enterprises
from kernel.db import create_engine, session_factory
from migrations.runner import upgrade
from privacy.keys import generate

DIVISIONS = ("110105", "310115", "330106", "440106", "510104", "350102", "320102", "420106")
REGIONS = ("Beijing", "Shanghai", "Zhejiang", "Guangdong", "Sichuan", "Fujian", "Jiangsu", "Hubei")
INDUSTRIES = ("manufacturing", "wholesale_retail", "construction", "information_technology")


def _money(value: float) -> str:
    return f"{value:.2f}"


def make_rows(count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    rows: list[list[str]] = []
    seen: set[str] = set()
    repeat_later: list[tuple[int, list[str]]] = []
    for index in range(count):
        if repeat_later and repeat_later[0][0] <= index:
            # Dirty: the same enterprise again, with its previous year's accounts.
            _, again = repeat_later.pop(0)
            rows.append(again)
            continue
        place = rng.randrange(len(DIVISIONS))
        code = generate_uscc(rng, division_code=DIVISIONS[place])
        while code in seen:
            code = generate_uscc(rng, division_code=DIVISIONS[place])
        seen.add(code)
        assets = rng.uniform(2e5, 5e7)
        liabilities = assets * rng.uniform(0.1, 0.9)
        revenue = assets * rng.uniform(0.3, 2.0)
        cost = revenue * rng.uniform(0.5, 0.85)
        operating = (revenue - cost) * rng.uniform(0.1, 0.6)
        born = f"19{rng.randint(60, 99)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}"
        id_first17 = f"{DIVISIONS[place]}{born}{rng.randint(100, 999)}"
        values = {
            "unified_social_credit_code": code,
            "name": f"示例{index:06d}科技有限公司",
            "industry": rng.choice(INDUSTRIES),
            "region": REGIONS[place],
            "founded_on": f"{rng.randint(1995, 2020)}-{rng.randint(1, 12):02d}-15",
            "employee_count": str(rng.randint(3, 400)),
            "annual_revenue": _money(revenue),
            "legal_representative_name": rng.choice(("王伟", "李娜", "张敏", "刘洋", "陈静")),
            "legal_representative_id_number": id_first17 + id_check_digit(id_first17),
            "contact_phone": f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}",
            "contact_email": f"finance@e{index:06d}.bench.test",
            "bank_account_number": f"6222{rng.randint(0, 10**15 - 1):015d}",
            "fiscal_year": "2024",
            "revenue": _money(revenue),
            "cost_of_sales": _money(cost),
            "operating_profit": _money(operating),
            "interest_expense": _money(liabilities * rng.uniform(0.01, 0.06)),
            "net_profit": _money(operating * 0.75),
            "total_assets": _money(assets),
            "current_assets": _money(assets * rng.uniform(0.2, 0.7)),
            "total_liabilities": _money(liabilities),
            "current_liabilities": _money(liabilities * rng.uniform(0.3, 0.8)),
            "equity": "",
            "operating_cash_flow": _money(operating * rng.uniform(0.5, 1.2)),
        }
        values["equity"] = _money(
            float(values["total_assets"]) - float(values["total_liabilities"])
        )
        dirt = rng.random()
        if dirt < 0.02:
            previous = dict(values, fiscal_year="2023", revenue=_money(revenue * 0.9))
            repeat_later.append((index + rng.randint(50, 5000), [previous[c] for c in COLUMNS]))
        elif dirt < 0.03:
            values["equity"] = ""
        elif dirt < 0.035:
            values["unified_social_credit_code"] = code.lower()
        elif dirt < 0.04:
            values["unified_social_credit_code"] = code[:17] + ("0" if code[17] != "0" else "1")
        elif dirt < 0.045:
            values["employee_count"] = ""
        elif dirt < 0.05:
            values["current_liabilities"] = _money(float(values["current_assets"]) / 60)
        elif dirt < 0.055:
            values["contact_phone"] = "0591-8888"
        rows.append([values[c] for c in COLUMNS])
    return rows


def write_file(folder: Path, rows: list[list[str]], *, xlsx: bool) -> Path:
    if xlsx:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(list(COLUMNS))
        for row in rows:
            sheet.append(row)
        path = folder / "enterprises.xlsx"
        book.save(path)
        return path
    path = folder / "enterprises.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


async def run(url: str, path: Path, batch_size: int) -> list[tuple[ImportReport, float]]:
    engine = create_engine(url)
    keys = generate()
    timed: list[tuple[ImportReport, float]] = []
    try:
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
        sessions = session_factory(engine)
        for _ in range(2):
            started = time.perf_counter()
            with path.open("rb") as stream:
                report = await import_enterprises(
                    sessions, stream, name=path.name, keys=keys, batch_size=batch_size
                )
            timed.append((report, time.perf_counter() - started))
        async with sessions() as session:
            for model in (Enterprise, FinancialStatement):
                found = await session.scalar(select(func.count()).select_from(model))
                print(f"  {model.__tablename__:<22}{found:>10,} rows stored")
        print(f"database   {engine.dialect.name}")
        return timed
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="2,000 rows (a CI smoke run)")
    parser.add_argument("--xlsx", action="store_true", help="an .xlsx workbook, not CSV")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", help="default: a fresh temporary SQLite file")
    args = parser.parse_args()
    count = 2_000 if args.quick else args.rows

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        started = time.perf_counter()
        path = write_file(folder, make_rows(count, args.seed), xlsx=args.xlsx)
        made = time.perf_counter() - started
        url = args.database_url or f"sqlite+aiosqlite:///{folder / 'import.db'}"
        size = path.stat().st_size / 1e6
        print(f"file       {path.name}: {count:,} rows, {size:.1f} MB ({made:.1f} s to make)")
        (first, first_s), (second, second_s) = asyncio.run(run(url, path, args.batch_size))

    for label, report, seconds in (("import", first, first_s), ("again", second, second_s)):
        outcomes = ", ".join(f"{k.value} {v:,}" for k, v in sorted(report.outcomes.items()))
        effects = ", ".join(
            f"{e.value} {report.effects[e]:,}" for e in RowEffect if e is not RowEffect.NONE
        )
        print(
            f"{label:<10} {seconds:6.1f} s  {count / seconds:8,.0f} rows/s  "
            f"{report.status.value}, batches {report.batches_landed} landed "
            f"{report.batches_failed} failed"
        )
        print(f"           {outcomes}")
        print(f"           {effects}")
    if second.effects[RowEffect.CREATED] or second.effects[RowEffect.UPDATED]:
        raise SystemExit("the second import changed something: it must not")


if __name__ == "__main__":
    main()
