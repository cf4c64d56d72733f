"""The policy tables' one reader: comments, blanks and a trailing comma pass; a line
with the wrong number of cells, or months that are not a positive whole number, is an
error that names its line."""

from __future__ import annotations

import pytest

from domain.audit import purge
from kernel import tables
from kernel.tables import InvalidTable


def test_rows_skip_comments_and_blanks_and_allow_a_trailing_comma() -> None:
    text = "# basis, purpose\n\nsubject, marketing,\n  contract , servicing # a loan\n"
    assert list(tables.rows(text, columns=("basis", "purpose"))) == [
        (3, ["subject", "marketing"]),
        (4, ["contract", "servicing"]),
    ]


def test_a_bad_line_of_the_log_schedules_is_an_error_naming_it() -> None:
    bad = {
        "audit, 12, 3\n": "line 1: want 'stream, months'",
        "# header\naudit\n": "line 2: want 'stream, months'",
        "audit, 0\n": "line 1: months must be a positive whole number",
        "audit, twelve\n": "line 1: months must be a positive whole number",
    }
    for text, error in bad.items():
        with pytest.raises(InvalidTable, match=error):
            purge.parse(text)


def test_the_version_changes_with_the_table() -> None:
    assert tables.version("audit, 12\n") != tables.version("audit, 13\n")
    assert len(tables.version("audit, 12\n")) == 16
