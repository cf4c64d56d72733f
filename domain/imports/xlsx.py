"""The first sheet of an .xlsx workbook, a row at a time, straight from its XML.

Why not openpyxl's read-only reader: it builds a cell object per cell and costs about
1.5 ms a row of 24 columns, so 100,000 rows took longer than an import may. This walks
the sheet's XML with the C parser, through defusedxml (an uploaded file may carry no
DTD or entity expansions), clearing each row once read; and takes from openpyxl only
what it knows best: which number formats are dates, and the serial-date arithmetic.

What is read: shared strings (rich text joined, phonetic guides left out), inline
strings, formula results (``str``), numbers, booleans, errors (as their text, e.g.
``#DIV/0!``), ISO dates (``d``), and numbers under a date or time format as dates or
datetimes (the 1900 and 1904 date systems). Cells keep their column from their
reference (``C7``), so a sparse row keeps its gaps; rows keep their sheet numbers.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import IO
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import iterparse
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATION = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PACKAGE = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_ROW, _CELL = f"{MAIN}row", f"{MAIN}c"
_VALUE, _INLINE = f"{MAIN}v", f"{MAIN}is"
_TEXT, _RUN, _PHONETIC = f"{MAIN}t", f"{MAIN}r", f"{MAIN}rPh"
_LETTERS = re.compile(r"[A-Z]+")

Cell = str | float | bool | date | datetime | time | None


class NoSheet(Exception):
    """The workbook holds no worksheet."""


def _text(item: Element) -> str:
    """A string item's text: its ``t``, or its runs' ``t`` joined (phonetic guides,
    ``rPh``, are a reading aid and not part of the value)."""
    direct = item.find(_TEXT)
    if direct is not None:
        return direct.text or ""
    return "".join(t.text or "" for run in item.iterfind(_RUN) for t in run.iterfind(_TEXT))


def _column(reference: str) -> int:
    """0 for ``A1``, 26 for ``AA3``."""
    found = _LETTERS.match(reference)
    index = 0
    for letter in found.group() if found else "":
        index = index * 26 + ord(letter) - 64
    return index - 1


class Workbook:
    """An open .xlsx file: where its first sheet is, its strings, its date styles."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._zip = zipfile.ZipFile(stream)
        self._sheet = self._first_sheet()
        self._epoch = CALENDAR_WINDOWS_1900
        self._strings: list[str] = []
        self._dates: frozenset[int] = frozenset()  # style indexes showing a date or time
        self._durations: frozenset[int] = frozenset()

    def close(self) -> None:
        self._zip.close()

    def _part(self, name: str) -> Iterator[tuple[str, Element]]:
        with self._zip.open(name) as part:
            yield from iterparse(part, events=("end",))

    def _first_sheet(self) -> str:
        target_of = {
            el.get("Id"): el.get("Target", "")
            for _event, el in self._part("xl/_rels/workbook.xml.rels")
            if el.tag == f"{PACKAGE}Relationship"
        }
        for _event, el in self._part("xl/workbook.xml"):
            if el.tag == f"{MAIN}sheet":
                target = target_of.get(el.get(f"{RELATION}id"), "")
                if target.startswith("/"):
                    return target[1:]
                return posixpath.normpath(posixpath.join("xl", target))
        raise NoSheet

    def _load(self) -> None:
        names = set(self._zip.namelist())
        for _event, el in self._part("xl/workbook.xml"):
            if el.tag == f"{MAIN}workbookPr" and el.get("date1904") in ("1", "true"):
                self._epoch = CALENDAR_MAC_1904
        if "xl/sharedStrings.xml" in names:
            for _event, el in self._part("xl/sharedStrings.xml"):
                if el.tag == f"{MAIN}si":
                    self._strings.append(_text(el))
                    el.clear()
        if "xl/styles.xml" in names:
            self._styles()

    def _styles(self) -> None:
        formats: dict[int, str] = dict(BUILTIN_FORMATS)
        shown: list[int] = []
        in_cell_formats = False
        with self._zip.open("xl/styles.xml") as part:
            for event, el in iterparse(part, events=("start", "end")):
                if el.tag == f"{MAIN}cellXfs":
                    in_cell_formats = event == "start"
                elif event == "end" and el.tag == f"{MAIN}numFmt":
                    formats[int(el.get("numFmtId", "0"))] = el.get("formatCode", "")
                elif event == "end" and el.tag == f"{MAIN}xf" and in_cell_formats:
                    shown.append(int(el.get("numFmtId", "0")))
        codes = [formats.get(number, "General") for number in shown]
        self._durations = frozenset(i for i, c in enumerate(codes) if is_timedelta_format(c))
        self._dates = frozenset(
            i for i, c in enumerate(codes) if is_date_format(c) and i not in self._durations
        )

    def rows(self) -> Iterator[tuple[int, list[Cell]]]:
        """(sheet row number, cell values) for each row the sheet holds."""
        self._load()
        strings, dates, durations = self._strings, self._dates, self._durations
        cells: list[Cell] = []
        number = 0
        with self._zip.open(self._sheet) as part:
            for _event, el in iterparse(part, events=("end",)):
                tag = el.tag
                if tag == _CELL:
                    kind = el.get("t", "n")
                    reference = el.get("r")
                    if reference is not None:
                        column = _column(reference)
                        if column > len(cells):
                            cells.extend([None] * (column - len(cells)))
                    if kind == "inlineStr":
                        found = el.find(_INLINE)
                        cells.append(None if found is None else _text(found))
                        continue
                    raw = el.findtext(_VALUE)
                    value: Cell
                    if raw is None:
                        value = None
                    elif kind == "n":
                        style = int(el.get("s", "0"))
                        amount = float(raw)
                        if style in dates:
                            value = from_excel(amount, self._epoch)
                        elif style in durations:
                            value = from_excel(amount, self._epoch, timedelta=True)
                        else:
                            value = amount
                    elif kind == "s":
                        value = strings[int(raw)]
                    elif kind == "b":
                        value = raw == "1"
                    elif kind == "d":
                        value = datetime.fromisoformat(raw)
                    else:  # "str" (a formula's text), "e" (an error such as #N/A)
                        value = raw
                    cells.append(value)
                elif tag == _ROW:
                    given = el.get("r")
                    number = int(given) if given else number + 1
                    yield number, cells
                    cells = []
                    el.clear()
