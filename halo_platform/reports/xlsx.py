"""xlsx written as a stream of Arrow record batches: the sheet XML of each batch is built by
Arrow's compute kernels (column by column, in C) and streamed into the zip, so a report of
any size never sits in Python memory and 1M rows take seconds, not minutes.

A sheet holds at most 1,048,576 rows (Excel's limit, header included): a longer result
continues on `report_2`, `report_3`, ... each with the header again, and the sheet names
are returned so that the caller can say so.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from halo_platform.core.errors import HaloError

XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_COLUMNS = 16_384  # A to XFD: Excel refuses a sheet with more
MAX_CELL_CHARS = 32_767  # Excel refuses longer text in a cell
_EXCEL_EPOCH_DAYS = 25_569  # 1970-01-01 as an Excel serial day (1900 date system)
# The 1900 date system counts a 29 February 1900 (serial 60) that never was: the days before
# 1900-03-01 (-25,508 days from 1970) are one serial lower than counted from 1970. It holds
# 1900-01-01 (serial 1) to 9999-12-31 (days from 1970, inclusive).
_EXCEL_FAKE_LEAP_DAY, _EXCEL_FIRST_DAY, _EXCEL_LAST_DAY = -25_508, -25_567, 2_932_896
_DATE_STYLE, _DATETIME_STYLE, _UTC_DATETIME_STYLE = 1, 2, 3
# Excel holds 15 significant digits of a number: one with more (a BIGINT id past 2^53, a DECIMAL(38,10)
# amount of 17 digits) is written as its text, which keeps every digit, rather than a rounded number.
EXCEL_DIGITS = 15
# What XML 1.0 has no character for: the C0 controls but tab, line feed and carriage return, and
# the noncharacters U+FFFE and U+FFFF (valid UTF-8: a warehouse stores and returns them). The
# surrogates are not listed: Arrow strings are UTF-8, which cannot hold them.
_ILLEGAL_XML = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{FFFE}\x{FFFF}]"
# "&" first: the others' replacements hold one. A carriage return is legal, but XML parsers
# read a raw one as a line feed ("\r\n" as one): a character reference keeps it.
_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;"))

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "{sheets}</Types>"
)
_SHEET_TYPE = ('<Override PartName="/xl/worksheets/sheet{n}.xml" '
               'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{sheets}</sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}'
    '<Relationship Id="rIdStyles" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
    'Target="styles.xml"/></Relationships>'
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="3"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/>'
    '<numFmt numFmtId="166" formatCode="yyyy-mm-dd hh:mm:ss&quot; UTC&quot;"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)
_SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
_SHEET_TAIL = b"</sheetData></worksheet>"


def _text(values: pa.Array) -> pa.Array:
    """Cell text: XML-escaped, characters XML has none for dropped, cut at Excel's limit."""
    values = pc.utf8_slice_codeunits(values, 0, MAX_CELL_CHARS)
    values = pc.replace_substring_regex(values, _ILLEGAL_XML, "")
    for char, entity in _ENTITIES:
        values = pc.replace_substring(values, char, entity)
    return values


def _wrap(values: pa.Array, head: str, tail: str) -> pa.Array:
    """`head + value + tail` per row; a null value is an empty `<c/>` (cells carry no reference,
    so each row must hold every column for the next cells to stay in their columns)."""
    return pc.fill_null(pc.binary_join_element_wise(head, values, tail, ""), "<c/>")


_TEXT_CELL = ('<c t="inlineStr"><is><t xml:space="preserve">', "</t></is></c>")


def _text_cells(text: pa.Array) -> pa.Array:
    """Inline text cells: never a formula (that is a `<f>` element), whatever the text begins with."""
    return _wrap(_text(text), *_TEXT_CELL)


def _number_or_text(text: pa.Array) -> pa.Array:
    """Numbers (their exact text) as number cells when Excel holds all their significant digits, else as text."""
    digits = pc.utf8_rtrim(pc.utf8_ltrim(pc.replace_substring_regex(text, r"[-+.]", ""), "0"), "0")
    held = pc.fill_null(pc.less_equal(pc.utf8_length(digits), EXCEL_DIGITS), True)
    as_number = _wrap(text, "<c><v>", "</v></c>")
    if pc.all(held).as_py():
        return as_number
    return pc.if_else(held, as_number, _text_cells(text))


def _cells(column: pa.Array, name: str) -> pa.Array:
    """One column of a batch as `<c>` elements (strings), typed as Excel types them."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_boolean(kind):
        return _wrap(pc.cast(pc.cast(column, pa.int8()), pa.string()), '<c t="b"><v>', "</v></c>")
    if pa.types.is_integer(kind) or pa.types.is_decimal(kind):
        return _number_or_text(pc.cast(column, pa.string()))
    if pa.types.is_floating(kind):  # NaN and the infinities as their text (nan, inf, -inf), as in the csv: not blank
        text = pc.cast(column, pa.string())
        return pc.if_else(pc.fill_null(pc.is_finite(column), True), _wrap(text, "<c><v>", "</v></c>"), _text_cells(text))
    if pa.types.is_date(kind):
        days = pc.cast(pc.cast(column, pa.date32()), pa.int32())
        serial = pc.add(days, pc.if_else(pc.less(days, _EXCEL_FAKE_LEAP_DAY), _EXCEL_EPOCH_DAYS - 1, _EXCEL_EPOCH_DAYS))
        return _serial_or_text(column, days, serial, _DATE_STYLE, days, 2**31 - 1)
    if pa.types.is_timestamp(kind):
        # unsafe: nanoseconds past the microsecond (TIMESTAMP_NS) failed the write; no serial holds them
        micros = pc.cast(pc.cast(column, pa.timestamp("us", kind.tz), safe=False), pa.int64())
        # unsafe: past 2^53 microseconds (before 1685, after 2255) a double is not exact to the
        # microsecond, which no serial is anyway; the safe cast failed the write of 9999-12-31
        since = pc.divide(pc.cast(micros, pa.float64(), safe=False), 86_400e6)
        days = pc.floor(since)
        epoch = pc.if_else(pc.less(days, _EXCEL_FAKE_LEAP_DAY), float(_EXCEL_EPOCH_DAYS - 1), float(_EXCEL_EPOCH_DAYS))
        # a timestamp with time zone is its UTC time, and its format says so
        style = _DATETIME_STYLE if kind.tz is None else _UTC_DATETIME_STYLE
        return _serial_or_text(column, days, pc.add(since, epoch), style, micros, 2**63 - 1)
    try:
        text = pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        raise HaloError(f"column {name!r} ({kind}) cannot be written to xlsx; use csv or parquet") from None
    return _text_cells(text)


def _serial_or_text(column: pa.Array, days: pa.Array, serial: pa.Array, style: int, raw: pa.Array, top: int) -> pa.Array:
    """Dates and times as Excel serials (`days`: since 1970-01-01), styled; one Excel cannot hold
    (before 1900 or after 9999) as its ISO text, rather than a serial that means another day;
    DuckDB's infinities (`raw` = +-`top`) as `infinity` and `-infinity`."""
    held = pc.fill_null(pc.and_(pc.greater_equal(days, _EXCEL_FIRST_DAY), pc.less_equal(days, _EXCEL_LAST_DAY)), True)
    as_serial = _wrap(pc.cast(serial, pa.string()), f'<c s="{style}"><v>', "</v></c>")
    if pc.all(held).as_py():
        return as_serial
    text = pc.replace_substring_regex(pc.cast(column, pa.string()), r"\.0+(Z?)$", r"\1")  # no ".000000"
    text = pc.if_else(pc.equal(raw, top), "infinity", pc.if_else(pc.equal(raw, -top), "-infinity", text))
    return pc.if_else(held, as_serial, _text_cells(text))


def _rows_xml(batch: pa.RecordBatch) -> memoryview:
    """The batch as `<row>...</row>` elements, one contiguous buffer."""
    cells = [_cells(col, name) for col, name in zip(batch.columns, batch.schema.names, strict=True)]
    rows = pc.binary_join_element_wise("<row>", *cells, "</row>", "")
    if len(rows) == 0:
        return memoryview(b"")
    _, offsets, data = rows.buffers()
    bounds = memoryview(offsets).cast("i")  # int32 offsets of a string array
    return memoryview(data)[bounds[rows.offset]:bounds[rows.offset + len(rows)]]


def _cut_cells(batch: pa.RecordBatch) -> int:
    """How many of the batch's text cells are longer than a cell holds (`_text` cuts them)."""
    return sum(pc.sum(pc.greater(pc.utf8_length(column), MAX_CELL_CHARS)).as_py() or 0
               for column in batch.columns if pa.types.is_string(column.type) or pa.types.is_large_string(column.type))


def _header_xml(names: list[str]) -> bytes:
    cells = _cells(pa.array(names, pa.string()), "header")
    return ("<row>" + "".join(cells.to_pylist()) + "</row>").encode()


def _sheet_names(sheet: str, count: int) -> list[str]:
    return [sheet if n == 1 else f"{sheet}_{n}" for n in range(1, count + 1)]


def write_xlsx(batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path, sheet: str = "report",
               max_rows: int = XLSX_MAX_ROWS) -> dict[str, Any]:
    """Write the batches to an xlsx workbook at `path`, a header row on each sheet and at most
    `max_rows` rows per sheet. Returns what the run's metadata says about it: the sheet names
    written (one unless the rows overflowed) and, if any text was longer than a cell holds, how
    many cells were cut to `MAX_CELL_CHARS`. A schema wider than a sheet is refused before any file is written."""
    if len(schema) > XLSX_MAX_COLUMNS:
        raise HaloError(f"{len(schema)} columns: an xlsx sheet holds at most {XLSX_MAX_COLUMNS}; use csv or parquet")
    header = _header_xml(schema.names)
    capacity = max_rows - 1
    cut = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        count, room = 0, 0
        out = None
        try:
            for batch in batches:
                cut += _cut_cells(batch)
                offset = 0
                while offset < batch.num_rows or out is None:
                    if out is None or room == 0:
                        if out is not None:
                            out.write(_SHEET_TAIL)
                            out.close()
                        count += 1
                        out = zf.open(f"xl/worksheets/sheet{count}.xml", "w", force_zip64=True)
                        out.write(_SHEET_HEAD + header)
                        room = capacity
                    take = min(room, batch.num_rows - offset)
                    out.write(_rows_xml(batch.slice(offset, take)))
                    offset, room = offset + take, room - take
            if out is None:  # no batch at all: a sheet with the header only
                count += 1
                out = zf.open(f"xl/worksheets/sheet{count}.xml", "w", force_zip64=True)
                out.write(_SHEET_HEAD + header)
            out.write(_SHEET_TAIL)
        finally:
            if out is not None:
                out.close()
        names = _sheet_names(sheet, count)
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES.format(
            sheets="".join(_SHEET_TYPE.format(n=n) for n in range(1, count + 1))))
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK.format(sheets="".join(
            f'<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>' for n, name in enumerate(names, 1))))
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS.format(rels="".join(
            f'<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
            f'Target="worksheets/sheet{n}.xml"/>' for n in range(1, count + 1))))
        zf.writestr("xl/styles.xml", _STYLES)
    return {"xlsx_sheets": names, "xlsx_cells_cut": cut} if cut else {"xlsx_sheets": names}
