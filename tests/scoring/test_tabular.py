"""A lender's CSV becomes feature rows, specs and labels; what cannot be used says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.spec import Kind
from scoring.tabular import TabularError, read_csv

GERMAN_CREDIT = Path(__file__).resolve().parents[2] / "scoring" / "data" / "german_credit.csv"


def write(tmp_path: Path, text: str, name: str = "book.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BOOK = """\
loan_id,row,grade,employees,revenue,sector,note,constant,blank,outcome
L-001,1,1,3,1200.5,retail trade,paid early,x,,repaid
L-002,2,2,12,,manufacturing of metal,none yet,x,,default
L-003,3,3,7,800,retail trade,late twice,x,,repaid
L-004,4,1,,950.25,none,one call,x,,repaid
L-005,5,2,40,NA,manufacturing of metal,disputed,x,,default
L-006,6,4,5,? ,n/a,again late,x,,repaid
"""


def test_kinds_are_inferred_and_ids_dropped(tmp_path: Path) -> None:
    # given a small book with ids, integer codes, text categories and missing cells
    path = write(tmp_path, BOOK)

    # when
    table = read_csv(path, target="outcome", bad_value="default")

    # then
    kinds = {s.name: s.kind for s in table.specs}
    assert kinds == {
        "grade": Kind.NUMERIC,  # four integer codes stay numeric
        "employees": Kind.NUMERIC,
        "revenue": Kind.NUMERIC,
        "sector": Kind.CATEGORICAL,
    }
    assert all(s.monotone == 0 for s in table.specs)
    assert table.report["dropped"] == {
        "loan_id": "id-like: named like an id, one value per row",
        "row": "id-like: an integer that rises row after row",
        "note": "id-like: text with one value per row",
        "constant": "constant",
        "blank": "empty",
    }
    assert table.labels == [0, 1, 0, 0, 1, 0]
    assert table.rows[0] == {
        "grade": 1.0,
        "employees": 3.0,
        "revenue": 1200.5,
        "sector": "retail trade",
    }
    # empty, NA, "?" and n/a are missing; "none" is an answer
    assert [r["revenue"] for r in table.rows] == [1200.5, None, 800.0, 950.25, None, None]
    assert [r["employees"] for r in table.rows][3] is None
    assert [r["sector"] for r in table.rows][3:] == ["none", "manufacturing of metal", None]
    assert table.report["columns"]["revenue"] == {"kind": "numeric", "distinct": 3, "missing": 3}
    assert table.report["columns"]["sector"]["kind"] == "categorical"
    assert table.report["n_rows"] == 6
    assert table.report["n_bad"] == 2
    assert table.report["good_values"] == ["repaid"]


def test_a_unique_float_column_is_a_measurement_not_an_id(tmp_path: Path) -> None:
    path = write(tmp_path, "ratio,y\n0.5,1\n0.25,0\n0.75,0\n0.1,1\n")

    table = read_csv(path, target="y", bad_value="1")

    assert [s.name for s in table.specs] == ["ratio"]
    assert table.report["dropped"] == {}


def test_a_numeric_column_with_one_text_value_is_categorical(tmp_path: Path) -> None:
    path = write(tmp_path, "code,y\n1,1\n2,0\nB7,0\n2,1\n")

    table = read_csv(path, target="y", bad_value="1")

    assert table.specs[0].kind is Kind.CATEGORICAL
    assert [r["code"] for r in table.rows] == ["1", "2", "B7", "2"]


def test_semicolons_bom_and_numeric_bad_value(tmp_path: Path) -> None:
    # given a European export: semicolons, a byte-order mark, the target written as 2.0
    path = tmp_path / "export.csv"
    path.write_bytes("\ufeffAlter;Branche;Status\n31;Handel;1\n45;Bau;2.0\n29;Bau;1\n".encode())

    # when the bad value is given as 2
    table = read_csv(path, target="Status", bad_value="2")

    # then
    assert table.report["delimiter"] == ";"
    assert [s.name for s in table.specs] == ["Alter", "Branche"]
    assert table.labels == [0, 1, 0]


def test_rows_without_a_target_are_left_out_and_counted(tmp_path: Path) -> None:
    path = write(tmp_path, "x,y\n5,bad\n2,\n3,good\n1,good\n")

    table = read_csv(path, target="y", bad_value="bad")

    assert table.labels == [1, 0, 0]
    assert [r["x"] for r in table.rows] == [5.0, 3.0, 1.0]
    assert table.report["rows_without_target"] == 1


@pytest.mark.parametrize(
    ("text", "target", "bad", "message"),
    [
        ("x,y\n1,0\n2,1\n", "status", "1", "no target column 'status'; the columns are x, y"),
        ("x,y\n1,good\n2,poor\n", "y", "bad", "'bad' does not occur in column 'y'; its values"),
        ("x,y\n1,bad\n2,bad\n", "y", "bad", "every labelled row of 'y' is 'bad'"),
        ("x,y\n1,0\n2,1,3\n", "y", "1", "line 3: 3 fields, the header has 2"),
        ("x,x,y\n1,2,0\n", "y", "0", "column names must be unique and non-empty: ['x']"),
        ("x,y\n", "y", "1", "a header but no data rows"),
        ("", "y", "1", "has no header row"),
        ("id,y\na,0\nb,1\nc,0\n", "y", "1", "no usable feature column is left: id (id-like"),
    ],
)
def test_clear_errors(tmp_path: Path, text: str, target: str, bad: str, message: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(TabularError) as caught:
        read_csv(path, target=target, bad_value=bad)

    assert message in str(caught.value)


def test_the_bad_value_error_lists_what_the_column_holds(tmp_path: Path) -> None:
    path = write(tmp_path, "x,y\n1,good\n2,poor\n")

    with pytest.raises(TabularError, match=r"its values are 'good', 'poor'$"):
        read_csv(path, target="y", bad_value="bad")


@pytest.mark.skipif(not GERMAN_CREDIT.exists(), reason="German Credit is not shipped")
def test_german_credit_reads_as_published() -> None:
    table = read_csv(GERMAN_CREDIT, target="class", bad_value="bad")

    kinds = [s.kind for s in table.specs]
    assert len(table.rows) == 1000
    assert sum(table.labels) == 300
    assert (kinds.count(Kind.NUMERIC), kinds.count(Kind.CATEGORICAL)) == (7, 13)
    assert table.report["dropped"] == {}
    assert table.rows[0]["purpose"] == "radio/television"
    assert table.rows[0]["credit_amount"] == 1169.0
