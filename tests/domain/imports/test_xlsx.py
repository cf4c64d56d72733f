"""The workbook reader on sheets written by hand: each kind of cell Excel stores."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import pytest

from domain.imports.cleaning import CODE
from domain.imports.errors import FileProblem, MalformedFile
from domain.imports.reader import TableFile
from domain.imports.xlsx import Cell, Workbook

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

STRINGS = f"""<?xml version="1.0" encoding="UTF-8"?>
<sst xmlns="{MAIN}" count="3" uniqueCount="3">
  <si><t>plain &amp; simple</t></si>
  <si><r><rPr><b/></rPr><t>福州</t></r><r><t xml:space="preserve"> 示例</t></r>
      <rPh sb="0" eb="2"><t>フクシュウ</t></rPh></si>
  <si><t/></si>
</sst>"""

# cellXfs: 0 General, 1 a built-in date (14), 2 a custom date format, 3 a money format,
# 4 a duration.
STYLES = f"""<?xml version="1.0" encoding="UTF-8"?>
<styleSheet xmlns="{MAIN}">
  <numFmts count="3">
    <numFmt numFmtId="164" formatCode="yyyy/mm/dd"/>
    <numFmt numFmtId="165" formatCode="#,##0.00&quot;元&quot;"/>
    <numFmt numFmtId="166" formatCode="[h]:mm:ss"/>
  </numFmts>
  <cellStyleXfs count="1"><xf numFmtId="0"/></cellStyleXfs>
  <cellXfs count="5">
    <xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/><xf numFmtId="165"/>
    <xf numFmtId="166"/>
  </cellXfs>
</styleSheet>"""

SHEET = f"""<?xml version="1.0" encoding="UTF-8"?>
<worksheet xmlns="{MAIN}"><sheetData>
  <row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>
  <row r="2">
    <c r="A2" t="inlineStr"><is><t>inline</t></is></c>
    <c r="D2"><v>1200000.5</v></c>
    <c r="E2" s="3"><v>42</v></c>
  </row>
  <row r="5">
    <c r="B5" s="1"><v>42064</v></c>
    <c r="C5" s="2"><v>42064.75</v></c>
    <c r="D5" t="b"><v>1</v></c>
    <c r="E5" t="e"><v>#DIV/0!</v></c>
    <c r="F5" t="str"><f>A1&amp;"!"</f><v>plain &amp; simple!</v></c>
    <c r="G5" t="d"><v>2015-03-01T00:00:00</v></c>
    <c r="H5"/>
    <c r="I5" t="s"><v>2</v></c>
  </row>
  <row><c t="inlineStr"><is><t>no references</t></is></c><c><v>7</v></c></row>
</sheetData></worksheet>"""


def excel(text: str) -> datetime:
    """A date and time as a workbook holds it: no time zone."""
    return datetime.fromisoformat(text)


def workbook(
    sheet: str = SHEET,
    *,
    date1904: bool = False,
    target: str = "worksheets/data.xml",
    strings: str | None = STRINGS,
) -> bytes:
    pr = '<workbookPr date1904="1"/>' if date1904 else "<workbookPr/>"
    parts = {
        "xl/workbook.xml": f'<workbook xmlns="{MAIN}" xmlns:r="{REL}">{pr}'
        '<sheets><sheet name="Data" sheetId="1" r:id="rId7"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId7" Type="{REL}/worksheet" Target="{target}"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": STYLES,
        "xl/" + target.lstrip("/").removeprefix("xl/"): sheet,
    }
    if strings is not None:
        parts["xl/sharedStrings.xml"] = strings
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, text in parts.items():
            zipped.writestr(name, text)
    return out.getvalue()


def rows(data: bytes) -> list[tuple[int, list[Cell]]]:
    book = Workbook(io.BytesIO(data))
    try:
        return list(book.rows())
    finally:
        book.close()


def test_every_kind_of_cell_reads_as_excel_shows_it() -> None:
    found = rows(workbook())

    assert found == [
        (1, ["plain & simple", "福州 示例"]),  # the phonetic guide is not the value
        (2, ["inline", None, None, 1200000.5, 42.0]),  # gaps kept; money is a number
        (
            5,
            [
                None,
                excel("2015-03-01"),
                excel("2015-03-01 18:00"),
                True,
                "#DIV/0!",
                "plain & simple!",  # a formula's cached result
                excel("2015-03-01"),
                None,
                "",
            ],
        ),
        (6, ["no references", 7.0]),  # numbered on from the row before
    ]


def test_the_1904_date_system_and_an_absolute_sheet_path() -> None:
    found = rows(workbook(date1904=True, target="/xl/worksheets/sheet9.xml"))

    assert found[2][1][1] == excel("2019-03-02")  # 42064 days after 1904-01-01


def test_a_workbook_without_shared_strings_reads_its_inline_cells() -> None:
    sheet = SHEET.replace(
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>', ""
    )
    sheet = sheet.replace('<c r="I5" t="s"><v>2</v></c>', "")

    found = rows(workbook(sheet, strings=None))

    assert [number for number, _ in found] == [2, 5, 6]


HEADER = "".join(
    f'<c r="{column}1" t="inlineStr"><is><t>{name}</t></is></c>'
    for column, name in zip(
        "ABCDEF",
        [CODE, "name", "industry", "region", "founded_on", "employee_count"],
        strict=True,
    )
)
TABLE = (
    f'<worksheet xmlns="{MAIN}"><sheetData><row r="1">{HEADER}</row><row r="2">'
    '<c r="A2" t="inlineStr"><is><t>91350100M000100Y43</t></is></c>'
    '<c r="B2" t="s"><v>1</v></c>'
    '<c r="C2" t="inlineStr"><is><t>manufacturing</t></is></c>'
    '<c r="D2" t="inlineStr"><is><t>Fujian</t></is></c>'
    '<c r="E2" s="1"><v>42064</v></c><c r="F2"><v>25</v></c>'
    "</row></sheetData></worksheet>"
)


def test_through_the_table_reader_dates_and_numbers_become_csv_text() -> None:
    with TableFile(io.BytesIO(workbook(TABLE)), name="x.xlsx") as table:
        table.check()
        (batch,) = list(table.batches(10))

    assert batch[0].number == 2
    assert batch[0].values["name"] == "福州 示例"
    assert batch[0].values["founded_on"] == date(2015, 3, 1).isoformat()
    assert batch[0].values["employee_count"] == "25"


@pytest.mark.parametrize(
    "sheet",
    [
        TABLE.replace('t="s"><v>1</v>', 't="s"><v>99</v>'),  # no such string
        TABLE.replace("</row></sheetData></worksheet>", "<c><v>1"),  # cut off
    ],
    ids=["missing shared string", "cut off XML"],
)
def test_a_damaged_sheet_is_a_malformed_file(sheet: str) -> None:
    with (
        TableFile(io.BytesIO(workbook(sheet)), name="x.xlsx") as table,
        pytest.raises(MalformedFile) as raised,
    ):
        table.check()

    assert raised.value.problem is FileProblem.TRUNCATED


LAUGHS = '<!DOCTYPE w [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'


@pytest.mark.parametrize("part", ["sheet", "strings"])
def test_entity_declarations_are_refused_not_expanded(part: str) -> None:
    if part == "sheet":
        data = workbook(LAUGHS + TABLE.replace("<t>Fujian</t>", "<t>&b;</t>"))
    else:
        data = workbook(
            TABLE, strings=LAUGHS + STRINGS.split("?>", 1)[1].replace("<t/>", "<t>&b;</t>")
        )

    with (
        TableFile(io.BytesIO(data), name="x.xlsx") as table,
        pytest.raises(MalformedFile) as raised,
    ):
        table.check()

    assert raised.value.problem is FileProblem.FORMAT
    assert "declares XML entities" in str(raised.value)


def test_a_workbook_with_no_sheet_says_so() -> None:
    data = workbook()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            text = src.read(item)
            if item.filename == "xl/workbook.xml":
                text = f'<workbook xmlns="{MAIN}"><sheets/></workbook>'.encode()
            dst.writestr(item, text)

    with pytest.raises(MalformedFile) as raised:
        TableFile(io.BytesIO(out.getvalue()), name="x.xlsx").check()

    assert raised.value.problem is FileProblem.EMPTY
