"""Reading an import file as a table, a batch of rows at a time.

Two formats, told apart by their first bytes rather than their names: an Excel
workbook (.xlsx, a zip; its first sheet is read by ``domain.imports.xlsx``) or
CSV text in UTF-8 (a byte-order mark is allowed). Legacy .xls and UTF-16 text are
refused with a message saying how to save the file instead.

The first non-blank row names the columns (``cleaning.COLUMNS``; snake_case,
camelCase and the usual Chinese captions are understood, a trailing unit in brackets
such as ``(元)``, full-width or not, is ignored). ``cleaning.REQUIRED_COLUMNS`` must
be there; columns not understood are ignored and listed. Row numbers are the file's:
the CSV line or the sheet row where a record starts, the header being row 1. [R1] A
CSV record with fewer values than the header (or more, not all empty) is rejected:
a delimiter inside an unquoted value, most likely.

A file is read twice and never held whole: :meth:`TableFile.check` goes through it
once and raises :class:`MalformedFile` for what makes it unreadable as a table (not
UTF-8, no header, the wrong delimiter, cut off, damaged) before anything is
written; :meth:`TableFile.batches` then yields the rows lazily.
"""

from __future__ import annotations

import csv
import enum
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import IO, BinaryIO
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException

from domain.imports import xlsx
from domain.imports.cleaning import CODE, COLUMNS, REQUIRED_COLUMNS, half_width, normalise_code
from domain.imports.errors import FileProblem, MalformedFile
from kernel.errors import InvalidInput

# Delimiters a header is tried with, to say "wrong delimiter?" instead of "no header".
CANDIDATE_DELIMITERS = (",", ";", "\t", "|")

_CAPTIONS: dict[str, str] = {
    "统一社会信用代码": CODE,
    "信用代码": CODE,
    "企业名称": "name",
    "名称": "name",
    "行业": "industry",
    "所属行业": "industry",
    "地区": "region",
    "所属地区": "region",
    "区域": "region",
    "成立日期": "founded_on",
    "员工人数": "employee_count",
    "从业人数": "employee_count",
    "年营业收入": "annual_revenue",
    "法定代表人": "legal_representative_name",
    "法定代表人姓名": "legal_representative_name",
    "法定代表人身份证号": "legal_representative_id_number",
    "法定代表人身份证号码": "legal_representative_id_number",
    "联系电话": "contact_phone",
    "手机号": "contact_phone",
    "电子邮箱": "contact_email",
    "邮箱": "contact_email",
    "银行账号": "bank_account_number",
    "会计年度": "fiscal_year",
    "年度": "fiscal_year",
    "营业收入": "revenue",
    "营业成本": "cost_of_sales",
    "营业利润": "operating_profit",
    "利息费用": "interest_expense",
    "净利润": "net_profit",
    "资产总计": "total_assets",
    "总资产": "total_assets",
    "流动资产合计": "current_assets",
    "流动资产": "current_assets",
    "负债合计": "total_liabilities",
    "总负债": "total_liabilities",
    "流动负债合计": "current_liabilities",
    "流动负债": "current_liabilities",
    "所有者权益合计": "equity",
    "所有者权益": "equity",
    "净资产": "equity",
    "经营活动产生的现金流量净额": "operating_cash_flow",
    "经营现金流": "operating_cash_flow",
}
_KNOWN = frozenset(COLUMNS)
_DAMAGED = "the workbook is damaged or cut off; save it again as .xlsx"
_UNIT = re.compile(r"\s*[(][^()]*[)]$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def column_name(caption: str | None) -> str | None:
    """The column a header caption names, or None when it is not one of ours."""
    if caption is None:
        return None
    text = _UNIT.sub("", half_width(caption).strip().removeprefix("\ufeff")).strip()
    if text in _CAPTIONS:
        return _CAPTIONS[text]
    snake = _CAMEL.sub("_", text).lower().replace(" ", "_").replace("-", "_")
    return snake if snake in _KNOWN else None


class FileFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


@dataclass(frozen=True, slots=True)
class RawRow:
    number: int
    # column -> the cell's text; None for an empty cell
    values: dict[str, str | None]
    # Set when the record could not be split into the header's columns.
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class FileCheck:
    """What the checking pass learnt: enough to import in one more pass."""

    rows: int
    columns: tuple[str, ...]
    ignored: tuple[str, ...]
    # credit code -> the number of the last row holding it, for codes on several rows
    last_row_of: dict[str, int] = field(default_factory=dict)


def _cell_text(value: object) -> str | None:
    """A spreadsheet cell as the text a CSV export would hold."""
    if isinstance(value, str):
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        # repr is the shortest text that reads back as the same float.
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class _Lines:
    """A binary file's lines, decoded as UTF-8 one at a time (the line named on error)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.number = 0
        self.ends_with_newline = True
        self.exhausted = False

    def __iter__(self) -> Iterator[str]:
        for raw in self._stream:
            self.number += 1
            if self.number == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise MalformedFile(
                    FileProblem.ENCODING,
                    "the file is UTF-16 text; save it as CSV UTF-8 (comma delimited)",
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedFile(
                    FileProblem.ENCODING,
                    f"line {self.number} is not UTF-8 (byte 0x{raw[exc.start]:02x} at "
                    f"position {exc.start + 1}); save the file as CSV UTF-8: GBK and other "
                    "encodings are not read",
                ) from None
            if self.number == 1:
                text = text.removeprefix("\ufeff")
            self.ends_with_newline = text.endswith("\n")
            yield text
        self.exhausted = True


class TableFile:
    """An import file, CSV or XLSX, on a seekable binary stream the caller owns."""

    def __init__(self, stream: BinaryIO, *, name: str, delimiter: str = ",") -> None:
        if len(delimiter) != 1 or delimiter in '\r\n"':
            raise InvalidInput(
                f"delimiter: one character, not a quote or line end: {delimiter!r}",
                field="delimiter",
            )
        self._stream = stream
        self.name = name
        self.delimiter = delimiter
        stream.seek(0)
        magic = stream.read(8)
        stream.seek(0)
        if magic.startswith(b"\xd0\xcf\x11\xe0"):
            raise MalformedFile(
                FileProblem.FORMAT,
                "this is a legacy Excel .xls workbook; save it as .xlsx or as CSV UTF-8",
            )
        if not magic:
            raise MalformedFile(FileProblem.EMPTY, "the file is empty")
        self.format = FileFormat.XLSX if magic.startswith(b"PK\x03\x04") else FileFormat.CSV
        self._lines: _Lines | None = None
        # A workbook's rows as CSV, written by the checking pass: parsing the sheet's XML
        # is most of the cost of reading a workbook, so it is paid once.
        self._spool: IO[str] | None = None

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def __enter__(self) -> TableFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- records

    def _records(self) -> Iterator[tuple[int, list[str | None]]]:
        if self._spool is not None:
            self._spool.seek(0)
            for number, *cells in csv.reader(self._spool):
                yield int(number), list(cells)
        elif self.format is FileFormat.XLSX:
            yield from self._sheet_records()
        else:
            yield from self._csv_records()

    def _spooling(
        self, records: Iterator[tuple[int, list[str | None]]]
    ) -> Iterator[tuple[int, list[str | None]]]:
        spool = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115 - kept open for the second pass
        writer = csv.writer(spool)
        try:
            for number, cells in records:
                writer.writerow([number, *("" if c is None else c for c in cells)])
                yield number, cells
        except BaseException:
            spool.close()
            raise
        self._spool = spool

    def _csv_records(self) -> Iterator[tuple[int, list[str | None]]]:
        self._stream.seek(0)
        self._lines = lines = _Lines(self._stream)
        reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
        start = 1
        try:
            for cells in reader:
                if cells:
                    yield start, list(cells)
                start = reader.line_num + 1
        except csv.Error as exc:
            if lines.exhausted:
                raise MalformedFile(
                    FileProblem.TRUNCATED,
                    f"the file ends inside a quoted value opened on line {start}: it looks cut off",
                ) from None
            raise MalformedFile(
                FileProblem.FORMAT,
                f"line {reader.line_num} is not valid CSV ({exc}); a quote inside an unquoted "
                "value?",
            ) from None

    def _sheet_records(self) -> Iterator[tuple[int, list[str | None]]]:
        self._stream.seek(0)
        book: xlsx.Workbook | None = None
        try:
            book = xlsx.Workbook(self._stream)
            for number, values in book.rows():
                cells = [_cell_text(v) for v in values]
                if any(c is not None and c.strip() for c in cells):
                    yield number, cells
        except xlsx.NoSheet:
            raise MalformedFile(FileProblem.EMPTY, "the workbook has no sheet") from None
        except DefusedXmlException:
            raise MalformedFile(
                FileProblem.FORMAT,
                "the workbook declares XML entities, which are refused; save it again as .xlsx",
            ) from None
        except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, OSError, ParseError) as exc:
            raise MalformedFile(FileProblem.TRUNCATED, _DAMAGED) from exc
        except (IndexError, ValueError) as exc:  # a cell naming no string, a bad number
            raise MalformedFile(FileProblem.TRUNCATED, _DAMAGED) from exc
        finally:
            if book is not None:
                book.close()

    # ---------------------------------------------------------------- header

    def _header(
        self, records: Iterator[tuple[int, list[str | None]]]
    ) -> tuple[list[str | None], list[str | None]]:
        """The captions, and the column of each position (None: ignored); raises when the
        header is unusable."""
        first = next(records, None)
        if first is None:
            raise MalformedFile(FileProblem.EMPTY, "the file holds no rows")
        _number, captions = first
        names = [column_name(c) for c in captions]
        seen: set[str] = set()
        for name in names:
            if name is not None and name in seen:
                raise MalformedFile(FileProblem.HEADER, f"the column {name} appears twice")
            if name is not None:
                seen.add(name)
        missing = [c for c in REQUIRED_COLUMNS if c not in seen]
        if not missing:
            return captions, names
        if self.format is FileFormat.CSV:
            self._wrong_delimiter(captions)
        if any(_looks_like_code(c or "") for c in captions):
            raise MalformedFile(
                FileProblem.HEADER,
                "the first row holds data, not column names: add a header row naming "
                f"{', '.join(REQUIRED_COLUMNS)}",
            )
        raise MalformedFile(
            FileProblem.HEADER,
            f"missing header columns: {', '.join(missing)} (required: "
            f"{', '.join(REQUIRED_COLUMNS)})",
        )

    def _wrong_delimiter(self, captions: Sequence[str | None]) -> None:
        line = self.delimiter.join(c or "" for c in captions)
        for candidate in CANDIDATE_DELIMITERS:
            if candidate == self.delimiter:
                continue
            cells = next(csv.reader([line], delimiter=candidate), [])
            found = {column_name(c) for c in cells}
            if all(c in found for c in REQUIRED_COLUMNS):
                shown = "\\t" if candidate == "\t" else candidate
                raise MalformedFile(
                    FileProblem.DELIMITER,
                    f"wrong delimiter? the header splits into columns on {shown!r}, not "
                    f"{self.delimiter!r}; import it with delimiter {shown!r}",
                )

    # ---------------------------------------------------------------- passes

    def check(self) -> FileCheck:
        """Go through the whole file once; raise MalformedFile if it is not a usable table."""
        self.close()
        records = self._records()
        if self.format is FileFormat.XLSX:
            records = self._spooling(records)
        captions, names = self._header(records)
        code_at = names.index(CODE)
        width = len(names)
        last_row_of: dict[str, int] = {}
        repeated: set[str] = set()
        rows = 0
        last: tuple[int, list[str | None]] | None = None
        for number, cells in records:
            rows += 1
            last = (number, cells)
            code = normalise_code(cells[code_at] or "") if code_at < len(cells) else ""
            if code:
                if code in last_row_of:
                    repeated.add(code)
                last_row_of[code] = number
        lines = self._lines
        if (
            last is not None
            and lines is not None
            and not lines.ends_with_newline
            and len(last[1]) < width
        ):
            raise MalformedFile(
                FileProblem.TRUNCATED,
                f"the last row (row {last[0]}) has {len(last[1])} of {width} values and no "
                "line end: the file looks cut off",
            )
        return FileCheck(
            rows=rows,
            columns=tuple(n for n in names if n is not None),
            ignored=tuple(
                c.strip() for c, n in zip(captions, names, strict=True) if n is None and c
            ),
            last_row_of={code: last_row_of[code] for code in repeated},
        )

    def batches(self, size: int) -> Iterator[list[RawRow]]:
        """The data rows, ``size`` at a time, after :meth:`check` passed."""
        records = self._records()
        _captions, names = self._header(records)
        width = len(names)
        read = [(i, name) for i, name in enumerate(names) if name is not None]
        batch: list[RawRow] = []
        for number, cells in records:
            problem = None
            if self.format is FileFormat.CSV and len(cells) != width:
                extra = cells[width:]
                if len(cells) < width or any(c and c.strip() for c in extra):
                    problem = (
                        f"[R1] the row has {len(cells)} values, the header names {width}: "
                        "a delimiter inside an unquoted value?"
                    )
            # Empty cells become None; whitespace-only ones are blank to the cleaning rules.
            values = {name: cells[i] or None for i, name in read if i < len(cells)}
            batch.append(RawRow(number=number, values=values, problem=problem))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch


def _looks_like_code(text: str) -> bool:
    code = normalise_code(text)
    return len(code) == 18 and code[:2].isalnum() and code[2:8].isdigit()
