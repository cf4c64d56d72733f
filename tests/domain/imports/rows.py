"""Small, deterministic import files made in the tests: CSV text or an .xlsx workbook."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from datetime import date

from domain.enterprises.uscc import generate_uscc
from domain.imports.cleaning import COLUMNS, MONEY_COLUMNS

TODAY = date(2026, 11, 1)
# A valid code (the example in GB 32100-2015) and a valid resident id number.
CODE = "91350100M000100Y43"
ID_NUMBER = "11010519491231002X"

Row = dict[str, str]
NUMERIC = frozenset({"employee_count", "annual_revenue", "fiscal_year", *MONEY_COLUMNS})


def base_row(**overrides: str) -> Row:
    """A clean row: one enterprise and its 2024 accounts, within every plausible bound."""
    row = {
        "unified_social_credit_code": CODE,
        "name": "福州示例科技有限公司",
        "industry": "manufacturing",
        "region": "Fujian",
        "founded_on": "2015-03-01",
        "employee_count": "25",
        "annual_revenue": "1200000.00",
        "legal_representative_name": "王小明",
        "legal_representative_id_number": ID_NUMBER,
        "contact_phone": "13812345678",
        "contact_email": "finance@example.test",
        "bank_account_number": "6222020200112233445",
        "fiscal_year": "2024",
        "revenue": "1200000.00",
        "cost_of_sales": "800000.00",
        "operating_profit": "150000.00",
        "interest_expense": "20000.00",
        "net_profit": "100000.00",
        "total_assets": "2000000.00",
        "current_assets": "900000.00",
        "total_liabilities": "1100000.00",
        "current_liabilities": "600000.00",
        "equity": "900000.00",
        "operating_cash_flow": "130000.00",
    }
    row.update(overrides)
    return row


def codes(n: int, *, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    found: list[str] = []
    while len(found) < n:
        code = generate_uscc(rng, division_code="350102")
        if code not in found:
            found.append(code)
    return found


def csv_bytes(
    rows: Sequence[Row], *, columns: Sequence[str] = COLUMNS, delimiter: str = ","
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue().encode("utf-8")


def xlsx_bytes(rows: Sequence[Row], *, columns: Sequence[str] = COLUMNS) -> bytes:
    """The same table as a workbook, numbers and dates as typed cells, as Excel keeps them."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(columns))
    for row in rows:
        cells: list[object] = []
        for column in columns:
            text = row.get(column, "")
            if column == "founded_on" and text:
                cells.append(date.fromisoformat(text))
            elif column in NUMERIC and _number(text):
                cells.append(float(text) if "." in text else int(text))
            else:
                cells.append(text or None)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.replace(".", "", 1).isdigit()
