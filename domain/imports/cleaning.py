"""The cleaning rules of the enterprise import: pure functions over one row's text.

A row of the file is one enterprise and, optionally, one fiscal year of its accounts.
Each row ends ``accepted`` (clean), ``fixed`` (changed by a rule below, nothing
guessed), ``flagged`` (kept, but a person should look) or ``rejected`` (nothing from
it is written); the notes say which rule and why. Notes name fields and show amounts,
never a personal value: the report is stored in plain text.

Accepted spellings (not fixes; a cell's surrounding whitespace is always trimmed)
- Text fields in ASCII by nature (codes, numbers, dates, phone, email, id and account
  numbers) have full-width characters (U+FF01-U+FF5E) turned half-width.
  Names, industry and region only have their whitespace collapsed: Chinese names
  are written with full-width brackets and keep them.
- Amounts: ``1,234.50``, ``1 234.5``, ``¥1234`` / ``￥`` / ``RMB`` / ``CNY`` / a
  trailing ``元``, ``(1,234.00)`` for a negative, ``12.5万`` (x 10,000) and ``3亿``
  (x 100,000,000). A lone dash (``-``, ``—``) is the accountant's nil: 0.
- Dates: ``2021-03-04``, ``2021/3/4``, ``2021.3.4``, ``20210304``, ``2021年3月4日``,
  a spreadsheet date cell, or a spreadsheet serial day number (``44259``).
- Whole numbers: ``12``, ``12.0``, ``1,200``; a fiscal year may read ``2024年``.

Rules (the code in brackets leads each note)
- [C1] unified_social_credit_code missing: rejected.
- [C2] the code holds spaces, hyphens, lower-case or full-width characters: they are
  removed or normalised, fixed.
- [C3] the code fails GB 32100-2015 (length 18, alphabet without I O S V Z, a
  6-digit division code, the organisation code's check character, the final
  check character): rejected, naming the failing part and the expected character.
- [P1] name (2-200 characters), industry and region (1-64), founded_on (a date,
  not in the future, not before 1900) missing or invalid: rejected.
- [P2] employee_count missing: flagged; a new enterprise is recorded with 0, an
  existing one keeps its stored count. Not a whole number, negative, or above
  1,000,000: rejected. [P3] above 10,000 (hardly an SME): flagged.
- [P4] annual_revenue not an amount or negative: rejected. [F5] missing while the
  file holds statements for the enterprise: the latest year's revenue, fixed.
- [P5] a personal value (legal representative's name up to 100 characters, a
  resident id number of 17 digits and a digit or X, a mainland mobile number - a
  leading +86 is dropped - an email address, a bank account of 8-32 digits) not in
  its format: left out, flagged. [P6] a resident id number whose GB 11643 check
  digit does not match: kept, flagged.
- A blank cell is "not given": it never erases a stored value.
- [S1] statement values without a fiscal_year, or a statement missing a figure that
  no identity gives (revenue, cost_of_sales, operating_profit, interest_expense,
  net_profit, current_assets, current_liabilities, operating_cash_flow), or missing
  two of total_assets, total_liabilities and equity: that statement is left out
  (the columns are required and a guess would distort every ratio), flagged; the
  enterprise itself is still written.
- [S2] an amount that does not parse, is 10^15 or more, or is negative where it
  cannot be (revenue, cost_of_sales, interest_expense, assets, liabilities): rejected,
  as submitFinancialStatement refuses it. [S3] more than two decimals: rounded half
  up to the cent, fixed. [S4] scientific notation (``1.2E+06``, a spreadsheet's
  display): kept, flagged, since digits may have been lost.
- [S5] fiscal_year not a year, before the founding year, or not yet closed: rejected.
- [F1] equity missing: total_assets - total_liabilities, fixed. [F2] total_liabilities
  missing: total_assets - equity, fixed. [F3] total_assets missing: liabilities +
  equity, fixed.
- [K1] total_assets differs from total_liabilities + equity by at most 0.01: equity
  takes the rounding difference, fixed; by more: rejected. [K2] current_assets above
  total_assets, or current_liabilities above total_liabilities: rejected.
- Plausible bounds; beyond them the row is flagged [O]: debt-to-asset (liabilities
  / assets) above 1.5, or liabilities with zero assets; current ratio (current assets
  / current liabilities) above 50; operating or net profit above revenue; a loss
  larger than five times revenue; cost of sales above three times revenue; interest
  above half the liabilities; operating cash flow beyond ten times the larger of
  revenue and assets.
- Rows sharing a credit code are one enterprise; rows adding different fiscal years
  is the ordinary layout. [D1] a profile value given differently on several rows:
  the last row that gives it wins, flagged on the group's last row (fields and rows
  named). [D2] the same fiscal year on several rows with the same figures: the
  earlier row is a duplicate, fixed; with other figures: the later row's figures
  win, flagged.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from domain.enterprises.service import Statement
from domain.enterprises.uscc import ALPHABET, organisation_check_character, uscc_check_character

CODE = "unified_social_credit_code"
PROFILE_COLUMNS = (CODE, "name", "industry", "region", "founded_on", "employee_count")
PERSONAL_COLUMNS = (
    "legal_representative_name",
    "legal_representative_id_number",
    "contact_phone",
    "contact_email",
    "bank_account_number",
)
MONEY_COLUMNS = tuple(f.name for f in dataclasses.fields(Statement) if f.name != "fiscal_year")
STATEMENT_COLUMNS = ("fiscal_year", *MONEY_COLUMNS)
# A file must name these; every other column is optional.
REQUIRED_COLUMNS = PROFILE_COLUMNS
COLUMNS = (*PROFILE_COLUMNS, "annual_revenue", *PERSONAL_COLUMNS, *STATEMENT_COLUMNS)

_CENT = Decimal("0.01")
_LARGEST = Decimal("1e15")
_NON_NEGATIVE = frozenset(
    {
        "revenue",
        "cost_of_sales",
        "interest_expense",
        "total_assets",
        "current_assets",
        "total_liabilities",
        "current_liabilities",
    }
)
_BALANCE = ("total_assets", "total_liabilities", "equity")
EARLIEST_FOUNDING = date(1900, 1, 1)
MAX_EMPLOYEES = 1_000_000
SME_EMPLOYEES = 10_000

# Plausible bounds (rule O).
MAX_DEBT_TO_ASSET = Decimal("1.5")
MAX_CURRENT_RATIO = Decimal(50)
MAX_LOSS_TO_REVENUE = Decimal(5)
MAX_COST_TO_REVENUE = Decimal(3)
MAX_INTEREST_TO_LIABILITIES = Decimal("0.5")
MAX_CASH_FLOW_MULTIPLE = Decimal(10)


class Outcome(enum.StrEnum):
    """In rising severity: a row's outcome is the worst of its notes."""

    ACCEPTED = "accepted"
    FIXED = "fixed"
    FLAGGED = "flagged"
    REJECTED = "rejected"


_RANK = {outcome: rank for rank, outcome in enumerate(Outcome)}


@dataclass(frozen=True, slots=True)
class Note:
    outcome: Outcome
    text: str


@dataclass(frozen=True, slots=True)
class Profile:
    """An enterprise as the file gives it; None is a blank cell (keeps what is stored)."""

    unified_social_credit_code: str
    name: str
    industry: str
    region: str
    founded_on: date
    employee_count: int | None
    annual_revenue: Decimal | None
    legal_representative_name: str | None = None
    legal_representative_id_number: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    bank_account_number: str | None = None


@dataclass(slots=True)
class CleanRow:
    number: int
    code: str
    notes: list[Note] = field(default_factory=list)
    profile: Profile | None = None
    statement: Statement | None = None
    # The worst outcome among the notes, kept as they are added.
    outcome: Outcome = Outcome.ACCEPTED

    def note(self, outcome: Outcome, text: str) -> None:
        self.notes.append(Note(outcome, text))
        if _RANK[outcome] > _RANK[self.outcome]:
            self.outcome = outcome


# ------------------------------------------------------------------ spellings

_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_HALF_WIDTH[0x3000] = 0x20  # ideographic space
_HALF_WIDTH[0xFFE5] = ord("¥")  # full-width yen sign


def half_width(text: str) -> str:
    return text.translate(_HALF_WIDTH)


def collapse(text: str) -> str:
    """Whitespace (the ideographic space included) trimmed and collapsed to one space."""
    return " ".join(text.split())


def normalise_code(text: str) -> str:
    """A credit code as compared and stored: half-width, no spaces or hyphens, upper-case."""
    return "".join(half_width(text).split()).replace("-", "").upper()


def uscc_problem(code: str) -> str | None:
    """What is wrong with a (normalised) credit code, or None when it is valid."""
    if len(code) != 18:
        return f"has {len(code)} characters, needs 18"
    bad = sorted({char for char in code if char not in ALPHABET})
    if bad:
        return f"holds {', '.join(bad)}: not in the code's alphabet (no I, O, S, V, Z)"
    if not all(char in "0123456789" for char in code[2:8]):
        return "characters 3-8 must be a 6-digit administrative division code"
    organisation = organisation_check_character(code[8:16])
    if code[16] != organisation:
        return f"17th character (organisation code check) should be {organisation}"
    check = uscc_check_character(code[:17])
    if code[17] != check:
        return f"check character should be {check}, not {code[17]}"
    return None


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_UNITS = (
    ("亿元", Decimal(100_000_000)),
    ("亿", Decimal(100_000_000)),
    ("万元", Decimal(10_000)),
    ("万", Decimal(10_000)),
)
# Hyphen, double hyphen, em dash, en dash (full-width ones are made half-width first).
_NIL = frozenset({"-", "--", "\u2014", "\u2013"})
_CURRENCY = ("RMB", "CNY", "¥", "元")


class Unreadable(ValueError):
    """A cell that no accepted spelling reads."""


# The spelling of nearly every cell: read at once, and known to fit (rules S2, S3).
_PLAIN_AMOUNT = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,2})?\Z")


def parse_amount(text: str | None) -> tuple[Decimal | None, bool]:
    """(amount, written in scientific notation); (None, False) for a blank cell."""
    if text is None:
        return None, False
    if _PLAIN_AMOUNT.match(text):
        return Decimal(text), False
    value = half_width(text).strip()
    if not value:
        return None, False
    if value in _NIL:
        return Decimal(0), False
    negative = False
    if value.startswith("(") and value.endswith(")"):
        negative, value = True, value[1:-1].strip()
    for symbol in _CURRENCY:
        value = value.replace(symbol, "")
    multiplier = Decimal(1)
    for unit, factor in _UNITS:
        if value.endswith(unit):
            multiplier, value = factor, value[: -len(unit)]
            break
    value = "".join(value.split()).replace(",", "")
    if not _NUMBER.match(value):
        raise Unreadable("not an amount")
    try:
        number = Decimal(value) * multiplier
    except InvalidOperation:
        raise Unreadable("not an amount") from None
    return (-number if negative else number), "e" in value.lower()


def parse_whole(text: str | None, *, year: bool = False) -> int | None:
    if text is None:
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    value = half_width(text).strip().replace(",", "")
    if year:
        value = value.removesuffix("年")
    if not value:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise Unreadable("not a whole number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise Unreadable("not a whole number")
    return int(number)


_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
_EXCEL_EPOCH = date(1899, 12, 30)


def parse_date(text: str | None) -> date | None:
    if text is None:
        return None
    value = half_width(text).strip()
    if not value:
        return None
    try:
        found = _DATE.match(value)
        if found:
            return date(int(found[1]), int(found[2]), int(found[3]))
        if len(value) == 8 and value.isascii() and value.isdigit():
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        if 1 <= len(value) <= 5 and value.isascii() and value.isdigit():
            return _EXCEL_EPOCH + timedelta(days=int(value))
    except ValueError:
        pass
    raise Unreadable("not a date")


# ------------------------------------------------------------------ one row

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_RESIDENT_ID = re.compile(r"^\d{17}[\dX]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ACCOUNT = re.compile(r"^\d{8,32}$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check_digit(first17: str) -> str:
    """GB 11643 (ISO 7064 MOD 11-2) check digit of a resident id number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def _phone(text: str) -> str:
    digits = "".join(half_width(text).split())
    for separator in "-()":
        digits = digits.replace(separator, "")
    for prefix in ("+86", "0086"):
        digits = digits.removeprefix(prefix)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def _personal(row: CleanRow, raw: Mapping[str, str | None]) -> dict[str, str | None]:
    """Rule P5/P6: each personal value normalised, or left out (flagged) when malformed."""
    found: dict[str, str | None] = {}
    for column in PERSONAL_COLUMNS:
        given = raw.get(column)
        text = given.strip() if given else ""
        if not text:
            found[column] = None
            continue
        value: str
        valid: bool
        if column == "legal_representative_name":
            value = collapse(text)
            valid = len(value) <= 100
        elif column == "legal_representative_id_number":
            value = "".join(half_width(text).split()).upper()
            valid = bool(_RESIDENT_ID.match(value))
        elif column == "contact_phone":
            value = _phone(text)
            valid = bool(_MOBILE.match(value))
        elif column == "contact_email":
            value = half_width(text).strip()
            valid = len(value) <= 254 and bool(_EMAIL.match(value))
        else:
            value = "".join(half_width(text).split()).replace("-", "")
            valid = bool(_ACCOUNT.match(value))
        if not valid:
            row.note(Outcome.FLAGGED, f"[P5] {column}: not in the expected format; left out")
            found[column] = None
            continue
        if column == "legal_representative_id_number" and id_check_digit(value[:17]) != value[17]:
            row.note(Outcome.FLAGGED, f"[P6] {column}: the check digit does not match (GB 11643)")
        found[column] = value
    return found


def _text(
    row: CleanRow, raw: Mapping[str, str | None], column: str, low: int, high: int
) -> str | None:
    value = collapse(raw.get(column) or "")
    if not value:
        row.note(Outcome.REJECTED, f"[P1] {column}: missing")
        return None
    if not low <= len(value) <= high:
        row.note(Outcome.REJECTED, f"[P1] {column}: needs {low} to {high} characters")
        return None
    return value


def _profile(row: CleanRow, raw: Mapping[str, str | None], today: date) -> Profile | None:
    name = _text(row, raw, "name", 2, 200)
    industry = _text(row, raw, "industry", 1, 64)
    region = _text(row, raw, "region", 1, 64)
    founded_on: date | None = None
    try:
        founded_on = parse_date(raw.get("founded_on"))
    except Unreadable:
        row.note(Outcome.REJECTED, "[P1] founded_on: not a date")
    else:
        if founded_on is None:
            row.note(Outcome.REJECTED, "[P1] founded_on: missing")
        elif founded_on > today:
            row.note(Outcome.REJECTED, f"[P1] founded_on: {founded_on} lies in the future")
            founded_on = None
        elif founded_on < EARLIEST_FOUNDING:
            row.note(Outcome.REJECTED, f"[P1] founded_on: {founded_on} is before 1900")
            founded_on = None
    employees: int | None = None
    try:
        employees = parse_whole(raw.get("employee_count"))
    except Unreadable:
        row.note(Outcome.REJECTED, "[P2] employee_count: not a whole number")
    else:
        if employees is None:
            row.note(
                Outcome.FLAGGED,
                "[P2] employee_count: missing; a new enterprise is recorded with 0, "
                "an existing one keeps its stored count",
            )
        elif not 0 <= employees <= MAX_EMPLOYEES:
            row.note(Outcome.REJECTED, f"[P2] employee_count: must be 0 to {MAX_EMPLOYEES:,}")
        elif employees > SME_EMPLOYEES:
            row.note(Outcome.FLAGGED, f"[P3] employee_count: {employees:,} is beyond an SME")
    revenue: Decimal | None = None
    try:
        revenue = _amount(row, "annual_revenue", raw.get("annual_revenue"))
    except Unreadable:
        row.note(Outcome.REJECTED, "[P4] annual_revenue: not an amount")
    if revenue is not None and revenue < 0:
        row.note(Outcome.REJECTED, "[P4] annual_revenue: negative")
    personal = _personal(row, raw)
    if name is None or industry is None or region is None or founded_on is None:
        return None
    return Profile(
        unified_social_credit_code=row.code,
        name=name,
        industry=industry,
        region=region,
        founded_on=founded_on,
        employee_count=employees,
        annual_revenue=revenue,
        **personal,
    )


def _amount(row: CleanRow, column: str, text: str | None) -> Decimal | None:
    """Rules S2-S4 for one cell; raises Unreadable for S2's unparseable amounts."""
    if text is not None and _PLAIN_AMOUNT.match(text):
        return Decimal(text)
    value, scientific = parse_amount(text)
    if value is None:
        return None
    if not value.is_finite() or abs(value) >= _LARGEST:
        row.note(Outcome.REJECTED, f"[S2] {column}: an amount below 10^15 in size")
        return None
    if scientific:
        row.note(Outcome.FLAGGED, f"[S4] {column}: in scientific notation; digits may be lost")
    cents = value.quantize(_CENT, rounding=ROUND_HALF_UP)
    if cents != value:
        row.note(Outcome.FIXED, f"[S3] {column}: {value} rounded to the cent ({cents})")
    return cents


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    return (numerator / denominator).quantize(_CENT)


def _outliers(row: CleanRow, s: Statement) -> None:
    """Rule O: plausible bounds. A flag asks a person to look; nothing is changed."""
    flags: list[str] = []
    if s.total_assets > 0:
        if s.total_liabilities > s.total_assets * MAX_DEBT_TO_ASSET:
            ratio = _ratio(s.total_liabilities, s.total_assets)
            flags.append(f"debt-to-asset {ratio} above {MAX_DEBT_TO_ASSET}")
    elif s.total_liabilities > 0:
        flags.append("liabilities with zero total_assets")
    if s.current_liabilities > 0 and s.current_assets > s.current_liabilities * MAX_CURRENT_RATIO:
        ratio = _ratio(s.current_assets, s.current_liabilities)
        flags.append(f"current ratio {ratio} above {MAX_CURRENT_RATIO}")
    if s.operating_profit > s.revenue:
        flags.append("operating_profit above revenue")
    if s.net_profit > s.revenue:
        flags.append("net_profit above revenue")
    if -s.net_profit > s.revenue * MAX_LOSS_TO_REVENUE:
        flags.append(f"a loss above {MAX_LOSS_TO_REVENUE} times revenue")
    if s.cost_of_sales > s.revenue * MAX_COST_TO_REVENUE:
        flags.append(f"cost_of_sales above {MAX_COST_TO_REVENUE} times revenue")
    if s.interest_expense > s.total_liabilities * MAX_INTEREST_TO_LIABILITIES:
        flags.append("interest_expense above half the liabilities")
    if abs(s.operating_cash_flow) > max(s.revenue, s.total_assets) * MAX_CASH_FLOW_MULTIPLE:
        flags.append(f"operating_cash_flow beyond {MAX_CASH_FLOW_MULTIPLE} times revenue or assets")
    for flag in flags:
        row.note(Outcome.FLAGGED, f"[O] {s.fiscal_year}: {flag}")


def _statement(
    row: CleanRow, raw: Mapping[str, str | None], founded_on: date | None, today: date
) -> Statement | None:
    given = {column: raw.get(column) for column in STATEMENT_COLUMNS}
    if not any(text and text.strip() for text in given.values()):
        return None
    values: dict[str, Decimal | None] = {}
    for column in MONEY_COLUMNS:
        try:
            values[column] = _amount(row, column, given[column])
        except Unreadable:
            row.note(Outcome.REJECTED, f"[S2] {column}: not an amount")
            values[column] = None
            continue
        value = values[column]
        if value is not None and value < 0 and column in _NON_NEGATIVE:
            row.note(Outcome.REJECTED, f"[S2] {column}: negative")
    try:
        year = parse_whole(given["fiscal_year"], year=True)
    except Unreadable:
        row.note(Outcome.REJECTED, "[S5] fiscal_year: not a year")
        return None
    if year is None:
        row.note(Outcome.FLAGGED, "[S1] fiscal_year: missing; this row's statement is left out")
        return None
    if founded_on is not None and not founded_on.year <= year < today.year:
        row.note(
            Outcome.REJECTED,
            f"[S5] fiscal_year: {year} is outside {founded_on.year} (founded) to "
            f"{today.year - 1} (the last closed year)",
        )
    if row.outcome is Outcome.REJECTED:
        return None
    return _balanced(row, year, values)


def _balanced(row: CleanRow, year: int, values: dict[str, Decimal | None]) -> Statement | None:
    """Rules F1-F3, S1 and K1-K2 on a statement whose cells all parsed."""
    missing_balance = [column for column in _BALANCE if values[column] is None]
    if len(missing_balance) >= 2:
        row.note(
            Outcome.FLAGGED,
            f"[S1] {year}: {' and '.join(missing_balance)} missing; needs two of "
            f"{', '.join(_BALANCE)}; the statement is left out",
        )
        return None
    if missing_balance:
        assets, liabilities, equity = (values[c] for c in _BALANCE)
        column = missing_balance[0]
        if column == "equity" and assets is not None and liabilities is not None:
            filled, rule, how = assets - liabilities, "F1", "total_assets - total_liabilities"
        elif column == "total_liabilities" and assets is not None and equity is not None:
            filled, rule, how = assets - equity, "F2", "total_assets - equity"
        else:
            assert liabilities is not None
            assert equity is not None
            filled, rule, how = liabilities + equity, "F3", "total_liabilities + equity"
        values[column] = filled
        row.note(Outcome.FIXED, f"[{rule}] {year}: {column} missing; filled as {how} = {filled}")
        if filled < 0 and column in _NON_NEGATIVE:
            row.note(Outcome.REJECTED, f"[{rule}] {year}: {column} would be negative")
            return None
    missing = [column for column in MONEY_COLUMNS if values[column] is None]
    if missing:
        row.note(
            Outcome.FLAGGED,
            f"[S1] {year}: {', '.join(missing)} missing (not derived from other figures); "
            "the statement is left out",
        )
        return None
    figures = {column: value for column, value in values.items() if value is not None}
    difference = figures["total_assets"] - (figures["total_liabilities"] + figures["equity"])
    if difference and abs(difference) <= _CENT:
        figures["equity"] += difference
        row.note(
            Outcome.FIXED,
            f"[K1] {year}: total_assets differs from liabilities + equity by {difference}; "
            f"equity adjusted to {figures['equity']}",
        )
    elif difference:
        row.note(
            Outcome.REJECTED,
            f"[K1] {year}: total_assets {figures['total_assets']:,} is not total_liabilities "
            f"+ equity ({figures['total_liabilities'] + figures['equity']:,})",
        )
    if figures["current_assets"] > figures["total_assets"]:
        row.note(Outcome.REJECTED, f"[K2] {year}: current_assets above total_assets")
    if figures["current_liabilities"] > figures["total_liabilities"]:
        row.note(Outcome.REJECTED, f"[K2] {year}: current_liabilities above total_liabilities")
    if row.outcome is Outcome.REJECTED:
        return None
    statement = Statement(fiscal_year=year, **figures)
    _outliers(row, statement)
    return statement


def clean_row(number: int, raw: Mapping[str, str | None], *, today: date) -> CleanRow:
    """Every rule that needs only the row itself; ``raw`` maps column names to cell text."""
    given = (raw.get(CODE) or "").strip()
    code = normalise_code(given)
    row = CleanRow(number=number, code=code)
    if not code:
        row.note(Outcome.REJECTED, f"[C1] {CODE}: missing")
    else:
        if code != given:
            row.note(Outcome.FIXED, f"[C2] {CODE}: spaces, case or full-width forms normalised")
        problem = uscc_problem(code)
        if problem:
            row.note(Outcome.REJECTED, f"[C3] {CODE}: {problem} (GB 32100-2015)")
    profile = _profile(row, raw, today)
    statement = _statement(row, raw, profile.founded_on if profile else None, today)
    if row.outcome is not Outcome.REJECTED:
        row.profile, row.statement = profile, statement
    return row


def rejected_row(number: int, raw: Mapping[str, str | None], reason: str) -> CleanRow:
    """A row the reader could not split into the header's columns."""
    row = CleanRow(number=number, code=normalise_code(raw.get(CODE) or ""))
    row.note(Outcome.REJECTED, reason)
    return row


# ------------------------------------------------------------------ one enterprise


@dataclass(slots=True)
class Group:
    """The rows of one credit code, merged into one enterprise and its statements."""

    code: str
    # Every row of the code, rejected ones included; ``last`` is the last kept one.
    rows: list[CleanRow]
    last: CleanRow
    profile: Profile
    # fiscal year -> the statement kept for it
    statements: dict[int, Statement]


def merge(rows: Sequence[CleanRow]) -> Group | None:
    """Rules D1, D2 and F5 over the rows of one code (in file order); None if all rejected."""
    valid = [row for row in rows if row.outcome is not Outcome.REJECTED and row.profile]
    if not valid:
        return None
    last = valid[-1]
    if len(valid) == 1:  # the usual case: nothing to merge
        assert last.profile is not None
        alone = {} if last.statement is None else {last.statement.fiscal_year: last.statement}
        return _filled(Group(last.code, list(rows), last, last.profile, alone))
    merged: dict[str, Any] = {}
    given_on: dict[str, list[int]] = {}
    conflicts: dict[str, set[int]] = {}
    for row in valid:
        assert row.profile is not None
        for f in dataclasses.fields(Profile):
            value = getattr(row.profile, f.name)
            if value is None:
                continue
            if f.name in merged and merged[f.name] != value:
                conflicts.setdefault(f.name, set()).update((*given_on[f.name], row.number))
            merged[f.name] = value
            given_on.setdefault(f.name, []).append(row.number)
    fields: dict[str, Any] = {f.name: merged.get(f.name) for f in dataclasses.fields(Profile)}
    profile = Profile(**fields)
    if conflicts:
        numbers = sorted(set().union(*conflicts.values()))
        last.note(
            Outcome.FLAGGED,
            f"[D1] {', '.join(sorted(conflicts))} differ between rows "
            f"{', '.join(map(str, numbers))}; the last value given is kept",
        )
    statements: dict[int, Statement] = {}
    from_row: dict[int, CleanRow] = {}
    for row in valid:
        if row.statement is None:
            continue
        year = row.statement.fiscal_year
        earlier = from_row.get(year)
        if earlier is not None:
            if statements[year] == row.statement:
                earlier.note(Outcome.FIXED, f"[D2] {year}: a duplicate of row {row.number}")
            else:
                row.note(
                    Outcome.FLAGGED,
                    f"[D2] {year}: also on row {earlier.number} with other figures; "
                    "this row's are kept",
                )
        statements[year] = row.statement
        from_row[year] = row
    return _filled(Group(last.code, list(rows), last, profile, statements))


def _filled(group: Group) -> Group:
    """Rule F5."""
    if group.profile.annual_revenue is None and group.statements:
        latest = group.statements[max(group.statements)]
        group.profile = dataclasses.replace(group.profile, annual_revenue=latest.revenue)
        group.last.note(
            Outcome.FIXED,
            f"[F5] annual_revenue: missing; the {latest.fiscal_year} revenue ({latest.revenue})",
        )
    return group
