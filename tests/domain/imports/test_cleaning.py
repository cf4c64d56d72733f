"""Each cleaning rule of the enterprise import, on one row (or one code's rows) at a time."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.imports.cleaning import (
    CleanRow,
    Outcome,
    clean_row,
    merge,
    parse_amount,
    parse_date,
    parse_whole,
    uscc_problem,
)
from tests.domain.imports.rows import CODE, ID_NUMBER, TODAY, base_row


def clean(number: int = 2, **overrides: str) -> CleanRow:
    return clean_row(number, base_row(**overrides), today=TODAY)


def full_width(text: str) -> str:
    """Text typed with a Chinese input method's full-width forms (U+FF01-U+FF5E)."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


def texts(row: CleanRow, outcome: Outcome | None = None) -> list[str]:
    return [n.text for n in row.notes if outcome is None or n.outcome is outcome]


def test_a_clean_row_is_accepted_with_its_profile_and_statement() -> None:
    row = clean()

    assert row.outcome is Outcome.ACCEPTED, texts(row)
    assert row.notes == []
    assert row.profile is not None
    assert row.profile.contact_phone == "13812345678"
    assert row.statement is not None
    assert row.statement.total_assets == Decimal("2000000.00")


# ------------------------------------------------------------------ accepted spellings


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1,234.50", Decimal("1234.50")),
        ("1 234.5", Decimal("1234.5")),
        ("¥1234", Decimal(1234)),
        ("￥1,234", Decimal(1234)),
        ("RMB 500", Decimal(500)),
        ("800元", Decimal(800)),
        ("(1,000.00)", Decimal("-1000.00")),
        ("-250", Decimal(-250)),
        ("12.5万", Decimal(125000)),
        ("3亿", Decimal(300000000)),
        (full_width("123"), Decimal(123)),
        ("-", Decimal(0)),
        ("—", Decimal(0)),
    ],
)
def test_amounts_are_read_in_the_usual_spellings(text: str, amount: Decimal) -> None:
    assert parse_amount(text) == (amount, False)


def test_a_blank_amount_is_not_given() -> None:
    assert parse_amount("  ") == (None, False)
    assert parse_amount(None) == (None, False)


@pytest.mark.parametrize(
    "text",
    [
        "2021-03-04",
        "2021/3/4",
        "2021.3.4",
        "20210304",
        "2021年3月4日",
        "2021-03-04 00:00:00",
        "44259",
    ],
)
def test_dates_are_read_in_the_usual_spellings(text: str) -> None:
    assert parse_date(text) == date(2021, 3, 4)


@pytest.mark.parametrize(("text", "number"), [("12", 12), ("12.0", 12), ("1,200", 1200)])
def test_whole_numbers_are_read_in_the_usual_spellings(text: str, number: int) -> None:
    assert parse_whole(text) == number


def test_a_fiscal_year_may_carry_its_character() -> None:
    assert parse_whole("2024年", year=True) == 2024


# ------------------------------------------------------------------ the credit code


def test_c1_a_missing_credit_code_rejects_the_row() -> None:
    row = clean(unified_social_credit_code="  ")

    assert row.outcome is Outcome.REJECTED
    assert texts(row) == ["[C1] unified_social_credit_code: missing"]
    assert row.profile is None


def test_c2_spaces_case_and_full_width_forms_in_the_code_are_fixed() -> None:
    spelled = full_width("91350100") + " m000-100y 43"

    row = clean(unified_social_credit_code=spelled)

    assert row.outcome is Outcome.FIXED
    assert row.code == CODE
    assert row.profile is not None
    assert row.profile.unified_social_credit_code == CODE
    assert texts(row, Outcome.FIXED)[0].startswith("[C2]")


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        (CODE[:17] + "4", "check character should be 3, not 4"),
        (CODE[:17], "has 17 characters, needs 18"),
        ("91350100I000100Y43", "holds I: not in the code's alphabet"),
        ("9135010AM000100Y43", "characters 3-8 must be a 6-digit administrative division code"),
        ("91350100M000100Y53", "17th character (organisation code check) should be 4"),
    ],
)
def test_c3_a_code_failing_gb_32100_is_rejected_with_what_failed(code: str, problem: str) -> None:
    row = clean(unified_social_credit_code=code)

    assert row.outcome is Outcome.REJECTED
    assert any(problem in text and text.startswith("[C3]") for text in texts(row)), texts(row)


def test_a_valid_code_has_no_problem() -> None:
    assert uscc_problem(CODE) is None


# ------------------------------------------------------------------ the profile


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("name", "", "[P1] name: missing"),
        ("name", "X", "[P1] name: needs 2 to 200 characters"),
        ("industry", "", "[P1] industry: missing"),
        ("region", " ", "[P1] region: missing"),
        ("founded_on", "", "[P1] founded_on: missing"),
        ("founded_on", "yesterday", "[P1] founded_on: not a date"),
        ("founded_on", "2027-01-01", "[P1] founded_on: 2027-01-01 lies in the future"),
        ("founded_on", "1899-12-31", "[P1] founded_on: 1899-12-31 is before 1900"),
        ("employee_count", "many", "[P2] employee_count: not a whole number"),
        ("employee_count", "-3", "[P2] employee_count: must be 0 to 1,000,000"),
        ("employee_count", "12.5", "[P2] employee_count: not a whole number"),
        ("annual_revenue", "-5", "[P4] annual_revenue: negative"),
        ("annual_revenue", "lots", "[P4] annual_revenue: not an amount"),
    ],
)
def test_p1_p2_p4_an_invalid_profile_value_rejects_the_row(
    column: str, value: str, reason: str
) -> None:
    row = clean(**{column: value})

    assert row.outcome is Outcome.REJECTED
    assert reason in texts(row, Outcome.REJECTED)
    assert row.profile is None
    assert row.statement is None


def test_p2_a_missing_employee_count_is_flagged_not_invented() -> None:
    row = clean(employee_count="")

    assert row.outcome is Outcome.FLAGGED
    assert row.profile is not None
    assert row.profile.employee_count is None
    assert texts(row)[0].startswith("[P2] employee_count: missing")


def test_p3_more_employees_than_an_sme_has_is_flagged() -> None:
    row = clean(employee_count="12000")

    assert row.outcome is Outcome.FLAGGED
    assert texts(row) == ["[P3] employee_count: 12,000 is beyond an SME"]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("legal_representative_name", "王" * 101),
        ("legal_representative_id_number", "1101051949123100"),
        ("contact_phone", "0591-8888888"),
        ("contact_email", "finance at example"),
        ("bank_account_number", "6222-ABCD"),
    ],
)
def test_p5_a_malformed_personal_value_is_left_out_flagged_and_never_shown(
    column: str, value: str
) -> None:
    row = clean(**{column: value})

    assert row.outcome is Outcome.FLAGGED
    assert row.profile is not None
    assert getattr(row.profile, column) is None
    assert texts(row) == [f"[P5] {column}: not in the expected format; left out"]
    assert all(value not in text for text in texts(row))


def test_p5_personal_values_are_normalised() -> None:
    row = clean(
        contact_phone="+86 138-1234-5678",
        legal_representative_id_number=ID_NUMBER.lower(),
        bank_account_number="6222 0202 0011 2233 445",
    )

    assert row.outcome is Outcome.ACCEPTED, texts(row)
    assert row.profile is not None
    assert row.profile.contact_phone == "13812345678"
    assert row.profile.legal_representative_id_number == ID_NUMBER
    assert row.profile.bank_account_number == "6222020200112233445"


def test_p6_an_id_number_with_a_wrong_check_digit_is_kept_and_flagged() -> None:
    row = clean(legal_representative_id_number=ID_NUMBER[:17] + "1")

    assert row.outcome is Outcome.FLAGGED
    assert row.profile is not None
    assert row.profile.legal_representative_id_number == ID_NUMBER[:17] + "1"
    assert texts(row)[0].startswith("[P6]")


def test_names_keep_their_full_width_brackets_and_lose_extra_spaces() -> None:
    row = clean(name="  福州示例\uff08分公司\uff09\u3000有限公司 ")

    assert row.profile is not None
    assert row.profile.name == "福州示例\uff08分公司\uff09 有限公司"


# ------------------------------------------------------------------ the statement


def test_s1_statement_values_without_a_fiscal_year_are_left_out_and_flagged() -> None:
    row = clean(fiscal_year="")

    assert row.outcome is Outcome.FLAGGED
    assert row.profile is not None
    assert row.statement is None
    assert texts(row) == ["[S1] fiscal_year: missing; this row's statement is left out"]


def test_s1_a_figure_no_identity_gives_is_flagged_not_filled() -> None:
    row = clean(current_assets="")

    assert row.outcome is Outcome.FLAGGED
    assert row.statement is None
    assert row.profile is not None
    assert "current_assets missing (not derived" in texts(row)[0]


def test_s1_two_missing_balance_sheet_totals_leave_the_statement_out() -> None:
    row = clean(total_liabilities="", equity="")

    assert row.outcome is Outcome.FLAGGED
    assert row.statement is None
    assert texts(row)[0].startswith("[S1] 2024: total_liabilities and equity missing")


def test_a_row_without_any_statement_value_is_a_profile_only() -> None:
    blank = dict.fromkeys(
        (
            "fiscal_year",
            "revenue",
            "cost_of_sales",
            "operating_profit",
            "interest_expense",
            "net_profit",
            "total_assets",
            "current_assets",
            "total_liabilities",
            "current_liabilities",
            "equity",
            "operating_cash_flow",
        ),
        "",
    )

    row = clean(**blank)

    assert row.outcome is Outcome.ACCEPTED
    assert row.statement is None
    assert row.profile is not None


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("revenue", "-1", "[S2] revenue: negative"),
        ("total_liabilities", "-1", "[S2] total_liabilities: negative"),
        ("revenue", "n/a", "[S2] revenue: not an amount"),
        ("revenue", "1e15", "[S2] revenue: an amount below 10^15 in size"),
    ],
)
def test_s2_an_amount_that_cannot_be_is_rejected(column: str, value: str, reason: str) -> None:
    row = clean(**{column: value})

    assert row.outcome is Outcome.REJECTED
    assert reason in texts(row)


def test_s3_more_than_two_decimals_are_rounded_half_up_and_fixed() -> None:
    row = clean(operating_cash_flow="130000.125")

    assert row.outcome is Outcome.FIXED
    assert row.statement is not None
    assert row.statement.operating_cash_flow == Decimal("130000.13")
    assert texts(row)[0].startswith("[S3] operating_cash_flow")


def test_s4_scientific_notation_is_kept_and_flagged() -> None:
    row = clean(revenue="1.2E+06")

    assert row.outcome is Outcome.FLAGGED
    assert row.statement is not None
    assert row.statement.revenue == Decimal("1200000.00")
    assert texts(row)[0].startswith("[S4] revenue")


@pytest.mark.parametrize(("year", "founded"), [("2014", "2015-03-01"), ("2026", "2015-03-01")])
def test_s5_a_fiscal_year_before_founding_or_not_closed_is_rejected(
    year: str, founded: str
) -> None:
    row = clean(fiscal_year=year, founded_on=founded)

    assert row.outcome is Outcome.REJECTED
    assert texts(row)[0].startswith(f"[S5] fiscal_year: {year} is outside 2015")


def test_s5_a_fiscal_year_that_is_no_year_is_rejected() -> None:
    row = clean(fiscal_year="FY")

    assert row.outcome is Outcome.REJECTED
    assert texts(row) == ["[S5] fiscal_year: not a year"]


@pytest.mark.parametrize(
    ("missing", "rule", "value"),
    [
        ("equity", "F1", Decimal("900000.00")),
        ("total_liabilities", "F2", Decimal("1100000.00")),
        ("total_assets", "F3", Decimal("2000000.00")),
    ],
)
def test_f1_f3_one_missing_balance_sheet_total_is_filled_from_the_other_two(
    missing: str, rule: str, value: Decimal
) -> None:
    row = clean(**{missing: ""})

    assert row.outcome is Outcome.FIXED
    assert row.statement is not None
    assert getattr(row.statement, missing) == value
    assert texts(row)[0].startswith(f"[{rule}] 2024: {missing} missing; filled as")


def test_k1_a_cent_of_rounding_goes_into_equity() -> None:
    row = clean(equity="899999.99")

    assert row.outcome is Outcome.FIXED
    assert row.statement is not None
    assert row.statement.equity == Decimal("900000.00")
    assert texts(row)[0].startswith("[K1] 2024: total_assets differs")


def test_k1_a_balance_sheet_that_does_not_balance_is_rejected() -> None:
    row = clean(equity="800000.00")

    assert row.outcome is Outcome.REJECTED
    assert texts(row) == [
        "[K1] 2024: total_assets 2,000,000.00 is not total_liabilities + equity (1,900,000.00)"
    ]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"current_assets": "2000000.01"}, "[K2] 2024: current_assets above total_assets"),
        (
            {"current_liabilities": "1100000.01"},
            "[K2] 2024: current_liabilities above total_liabilities",
        ),
    ],
)
def test_k2_a_current_part_above_its_total_is_rejected(
    overrides: dict[str, str], reason: str
) -> None:
    row = clean(**overrides)

    assert row.outcome is Outcome.REJECTED
    assert reason in texts(row)


@pytest.mark.parametrize(
    ("overrides", "flag"),
    [
        (
            {"total_liabilities": "3200000.00", "equity": "-1200000.00"},
            "debt-to-asset 1.60 above 1.5",
        ),
        ({"current_liabilities": "10000.00"}, "current ratio 90.00 above 50"),
        ({"operating_profit": "1300000.00"}, "operating_profit above revenue"),
        ({"net_profit": "1300000.00"}, "net_profit above revenue"),
        ({"net_profit": "-6100000.00"}, "a loss above 5 times revenue"),
        ({"cost_of_sales": "3700000.00"}, "cost_of_sales above 3 times revenue"),
        ({"interest_expense": "600000.00"}, "interest_expense above half the liabilities"),
        ({"operating_cash_flow": "-20000001.00"}, "operating_cash_flow beyond 10 times"),
    ],
)
def test_o_a_ratio_beyond_plausible_bounds_is_flagged(overrides: dict[str, str], flag: str) -> None:
    row = clean(**overrides)

    assert row.outcome is Outcome.FLAGGED, texts(row)
    assert row.statement is not None
    assert any(text.startswith("[O] 2024: " + flag) for text in texts(row)), texts(row)


def test_o_liabilities_without_assets_are_flagged() -> None:
    row = clean(
        total_assets="0",
        current_assets="0",
        total_liabilities="50000.00",
        current_liabilities="50000.00",
        equity="-50000.00",
        operating_cash_flow="0",
    )

    assert "[O] 2024: liabilities with zero total_assets" in texts(row)


def test_the_worst_note_decides_the_outcome() -> None:
    row = clean(unified_social_credit_code=CODE.lower(), employee_count="", revenue="-1")

    assert [n.outcome for n in row.notes] == [Outcome.FIXED, Outcome.FLAGGED, Outcome.REJECTED]
    assert row.outcome is Outcome.REJECTED


# ------------------------------------------------------------------ rows of one code


def test_d_rows_adding_fiscal_years_merge_without_notes() -> None:
    rows = [clean(2, fiscal_year="2023"), clean(3, fiscal_year="2024")]

    group = merge(rows)

    assert group is not None
    assert sorted(group.statements) == [2023, 2024]
    assert all(row.notes == [] for row in rows)


def test_d1_a_profile_value_given_differently_keeps_the_last_and_is_flagged() -> None:
    rows = [
        clean(2, fiscal_year="2023", name="旧名称有限公司", contact_phone="13900000000"),
        clean(3, fiscal_year="2024", contact_phone=""),
    ]

    group = merge(rows)

    assert group is not None
    assert group.profile.name == "福州示例科技有限公司"
    # A blank cell does not erase: the earlier row's phone stands.
    assert group.profile.contact_phone == "13900000000"
    assert rows[1].outcome is Outcome.FLAGGED
    assert texts(rows[1]) == ["[D1] name differ between rows 2, 3; the last value given is kept"]


def test_d2_the_same_year_twice_with_the_same_figures_is_a_duplicate() -> None:
    rows = [clean(2), clean(3)]

    group = merge(rows)

    assert group is not None
    assert list(group.statements) == [2024]
    assert texts(rows[0]) == ["[D2] 2024: a duplicate of row 3"]
    assert rows[0].outcome is Outcome.FIXED
    assert rows[1].outcome is Outcome.ACCEPTED


def test_d2_the_same_year_with_other_figures_keeps_the_later_row_flagged() -> None:
    rows = [clean(2), clean(3, net_profit="90000.00")]

    group = merge(rows)

    assert group is not None
    assert group.statements[2024].net_profit == Decimal("90000.00")
    assert rows[1].outcome is Outcome.FLAGGED
    assert texts(rows[1])[0].startswith("[D2] 2024: also on row 2 with other figures")


def test_a_rejected_row_does_not_take_part_in_a_merge() -> None:
    rows = [clean(2, fiscal_year="2023"), clean(3, fiscal_year="2024", equity="1")]

    group = merge(rows)

    assert group is not None
    assert group.last is rows[0]
    assert list(group.statements) == [2023]


def test_a_code_whose_rows_are_all_rejected_makes_no_enterprise() -> None:
    assert merge([clean(2, name=""), clean(3, region="")]) is None


def test_f5_a_missing_annual_revenue_is_the_latest_years_revenue() -> None:
    rows = [
        clean(2, fiscal_year="2023", revenue="1000000.00", annual_revenue=""),
        clean(3, fiscal_year="2024", annual_revenue=""),
    ]

    group = merge(rows)

    assert group is not None
    assert group.profile.annual_revenue == Decimal("1200000.00")
    assert rows[1].outcome is Outcome.FIXED
    assert texts(rows[1]) == ["[F5] annual_revenue: missing; the 2024 revenue (1200000.00)"]
