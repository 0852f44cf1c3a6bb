"""Big outputs are streamed: csv and parquet by DuckDB's COPY, xlsx as Arrow batches into the
zip. A million rows come out whole and in the transform's order; past Excel's 1,048,576 rows
per sheet the workbook continues on a second sheet (header repeated) instead of truncating.
A sink that cannot take the file gets a link to it in its link store, and the audit says so."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import dagster as dg
import duckdb
import openpyxl
import pytest

from halo_platform.core.warehouses import WarehousesResource
from halo_platform.reports.assets import build_report, duckdb_connection, write_output
from halo_platform.reports.demo import campaign, write_marketing
from halo_platform.reports.requests import create_request
from halo_platform.reports.task import Query, Task, TaskConfig
from halo_platform.reports.xlsx import XLSX_MAX_ROWS

MILLION = 1_000_000


def sheet_rows(path: Path) -> dict[str, tuple[int, bytes, bytes]]:
    """Per sheet part: (row count, first 300 bytes of rows, last 300 bytes), read as a stream."""
    found = {}
    with zipfile.ZipFile(path) as zf:
        for name in sorted(n for n in zf.namelist() if n.startswith("xl/worksheets/")):
            count, head, tail = 0, b"", b""
            with zf.open(name) as fh:
                carry = b""
                while chunk := fh.read(1 << 22):
                    data = carry + chunk
                    count += data.count(b"<row>") - carry.count(b"<row>")
                    head = head or data[data.find(b"<row>"):][:300]
                    carry = data[-8:]
                    tail = (tail + data)[-300:]
            found[name] = (count, head, tail)
    return found


def million_rows(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb_connection(tmp_path)
    con.execute("""CREATE TABLE result AS
        SELECT 'O' || lpad(CAST(i AS VARCHAR), 9, '0') AS order_id, CAST(i / 100 AS DECIMAL(14,2)) AS amount,
               CASE WHEN i % 2 = 0 THEN 'PAID' ELSE 'REFUNDED' END AS status
        FROM range($rows) r(i) ORDER BY order_id""", {"rows": MILLION})
    return con


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_million_rows_come_out_whole_and_in_order_through_duckdb_copy(tmp_path, fmt):
    con = million_rows(tmp_path)
    path = tmp_path / f"out.{fmt}"
    assert write_output(con, path, fmt) == {}
    reader = f"read_{fmt}('{path}')"
    count, unordered = duckdb.sql(f"""SELECT count(*), count(*) FILTER (WHERE order_id < prev) FROM
        (SELECT order_id, lag(order_id) OVER (ORDER BY rownum) AS prev FROM (SELECT *, row_number() OVER () AS rownum
         FROM {reader}))""").fetchall()[0]  # noqa: S608 - test paths
    assert (count, unordered) == (MILLION, 0)
    assert duckdb.sql(f"SELECT max(order_id), sum(CAST(amount AS DECIMAL(14,2))) FROM {reader}").fetchall()[0] == (  # noqa: S608
        "O000999999", Decimal("4999995000.00"))


def test_xlsx_cells_keep_their_types_and_odd_text_is_escaped(tmp_path):
    con = duckdb_connection(tmp_path)
    con.execute("""CREATE TABLE result AS SELECT * FROM (VALUES
        ('O1', CAST(12.34 AS DECIMAL(14,2)), 3, 0.5, DATE '2024-03-04', TIMESTAMP '2024-03-04 10:11:12', true,
         'a<b & c>' || chr(1) || ' ', NULL),
        ('O2', NULL, NULL, CAST('nan' AS DOUBLE), NULL, NULL, false, '', 'x')
    ) t(order_id, amount, n, ratio, day, "at", ok, note, extra)""")
    assert write_output(con, tmp_path / "out.xlsx", "xlsx") == {"xlsx_sheets": ["report"]}
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx")["report"]
    assert list(sheet.iter_rows(values_only=True)) == [
        ("order_id", "amount", "n", "ratio", "day", "at", "ok", "note", "extra"),
        ("O1", 12.34, 3, 0.5, dt.datetime(2024, 3, 4), dt.datetime(2024, 3, 4, 10, 11, 12), True, "a<b & c> ", None),
        ("O2", None, None, "nan", None, None, False, "", "x"),  # NaN is not NULL: its text, as in the csv
    ]
    assert sheet["E2"].number_format == "yyyy-mm-dd"


def test_xlsx_text_with_characters_xml_forbids_still_opens_and_a_carriage_return_is_kept(tmp_path):
    """XML 1.0 forbids U+FFFE and U+FFFF as well as the C0 controls: valid UTF-8 that a warehouse
    stores and returns, written as is it made the sheet malformed (Excel and openpyxl refuse the
    file) under a SUCCEEDED request. They are dropped like the controls. A carriage return is legal
    but every XML parser turns it into a line feed: it is written as a character reference."""
    con = duckdb_connection(tmp_path)
    con.execute("""CREATE TABLE result AS SELECT * FROM (VALUES
        ('O' || chr(65535) || '1', 'a' || chr(13) || chr(10) || 'b' || chr(13) || 'c' || chr(9) || 'd' || chr(10) || 'e'),
        ('O' || chr(65534) || '2', chr(65533) || chr(1114109) || chr(65536))
    ) t(order_id, "note\uffff")""")
    path = tmp_path / "odd.xlsx"
    write_output(con, path, "xlsx")
    with zipfile.ZipFile(path) as zf:
        ElementTree.fromstring(zf.read("xl/worksheets/sheet1.xml"))  # well-formed
    assert list(openpyxl.load_workbook(path)["report"].iter_rows(values_only=True)) == [
        ("order_id", "note"),
        ("O1", "a\r\nb\rc\td\ne"),
        ("O2", "\ufffd\U0010fffd\U00010000"),
    ]


def test_an_empty_result_is_a_workbook_with_its_header(tmp_path):
    con = duckdb_connection(tmp_path)
    con.execute("CREATE TABLE result (order_id VARCHAR, amount DECIMAL(14,2))")
    assert write_output(con, tmp_path / "empty.xlsx", "xlsx") == {"xlsx_sheets": ["report"]}
    assert list(openpyxl.load_workbook(tmp_path / "empty.xlsx")["report"].values) == [("order_id", "amount")]


def test_a_report_from_postgresql_past_excels_row_limit_continues_on_a_second_sheet(halo_env, warehouses, tmp_path):
    """1,048,600 rows streamed from PostgreSQL into DuckDB and out as xlsx: the first sheet is
    full (header + 1,048,575 rows), the other 25 rows are on `report_2` under the header again."""

    class BigConfig(TaskConfig):
        rows: int = 1

    total = XLSX_MAX_ROWS + 24
    task = Task(
        name="big_rows", description="Many rows.", owner="team:test", config=BigConfig,
        queries={"numbers": Query("payments", "SELECT g AS n, 'row ' || g AS label FROM generate_series(1, :rows) g",
                                  lambda payload: {"rows": payload["rows"]})},
        transform="SELECT n, label FROM numbers ORDER BY n", file_stem=lambda payload: "big_rows",
        format_of=lambda payload: "xlsx",
    )
    report = build_report(dg.build_asset_context(), task, {"rows": total, "sinks": []}, WarehousesResource(),
                          tmp_path / "outputs")
    assert report.row_count == total and report.metadata["xlsx_sheets"] == ["report", "report_2"]
    sheets = sheet_rows(report.path)
    first, second = sheets["xl/worksheets/sheet1.xml"], sheets["xl/worksheets/sheet2.xml"]
    assert (first[0], second[0]) == (XLSX_MAX_ROWS, 1 + 25)  # rows counted with their header
    assert first[1].startswith(b'<row><c t="inlineStr"><is><t xml:space="preserve">n</t>')
    assert re.search(rb"<v>1048575</v>.*row 1048575</t></is></c></row></sheetData>", first[2])
    assert second[1].startswith(b'<row><c t="inlineStr"><is><t xml:space="preserve">n</t>')
    assert re.search(rb"<row><c><v>1048576</v>", second[1] + second[2])
    assert second[2].endswith(b"row 1048600</t></is></c></row></sheetData></worksheet>")
    with zipfile.ZipFile(report.path) as zf:  # (openpyxl would take 20 s to open it)
        assert re.findall(rb'<sheet name="([^"]+)"', zf.read("xl/workbook.xml")) == [b"report", b"report_2"]


def test_a_report_reaches_a_sink_without_file_room_as_a_link_recorded_in_its_deliveries(warehouses, halo_env, store,
                                                                                      sinks_file, http_fake, tmp_path):
    http_fake.add_route("POST", "/hook", lambda request: (200, "ok"))
    sinks_file({"ops_slack": {"kind": "slack", "webhook_url": f"{http_fake.url}/hook", "link_store": "served"},
                "served": {"kind": "folder", "path": str(tmp_path / "served"), "url": "https://files.example.com/r/"}})
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]),
                    [campaign("C1", dt.date(2024, 5, 10), "100.00")], [])
    request = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, sinks=["ops_slack"], wait=True)
    assert request["status"] == "SUCCEEDED", request["error"]
    stored = tmp_path / "served" / "campaign_alerts_2024-05-10.csv"
    assert [(d["sink"], d["status"], d["target"]) for d in request["deliveries"]] == [
        ("ops_slack", "DELIVERED", "slack://127.0.0.1"), ("ops_slack", "DELIVERED", stored.resolve().as_uri())]
    assert request["deliveries"][0]["detail"] == (  # Slack carries no files: not 'over None bytes'
        f"this sink carries no files, sent as a link via served: campaign_alerts_2024-05-10.csv ({stored.stat().st_size} bytes)")
    (post,) = http_fake.requests.snapshot()
    assert "<https://files.example.com/r/campaign_alerts_2024-05-10.csv|campaign_alerts_2024-05-10.csv>" in post.json()["text"]
    assert stored.read_text().startswith("campaign_id,name,owner_email,alert")


def test_xlsx_dates_of_early_1900_keep_their_day_and_dates_excel_cannot_hold_are_iso_text(tmp_path):
    """Excel's 1900 date system counts a 29 February 1900 that never was (serial 60): a serial
    counted from 1970 is one day late for every date before 1900-03-01, and a date before 1900 has
    no serial at all. Before, 1900-01-01 came out as serial 2 (read back 1900-01-02) and 1899-12-31
    as serial 1 (1900-01-01): a silently shifted day. Dates Excel cannot hold are ISO text now."""
    con = duckdb_connection(tmp_path)
    con.execute("""CREATE TABLE result AS SELECT * FROM (VALUES
        (DATE '1900-01-01', TIMESTAMP '1900-01-01 06:00:00'), (DATE '1900-02-28', TIMESTAMP '1900-02-28 23:00:00'),
        (DATE '1900-03-01', TIMESTAMP '1900-03-01 00:00:00'), (DATE '2024-02-29', TIMESTAMP '2024-02-29 12:30:00'),
        (DATE '1899-12-31', TIMESTAMP '1899-12-31 18:00:00'), (NULL, NULL)
    ) t(day, "at")""")
    path = tmp_path / "dates.xlsx"
    write_output(con, path, "xlsx")
    sheet = openpyxl.load_workbook(path)["report"]
    assert list(sheet.iter_rows(min_row=2, values_only=True)) == [
        (dt.datetime(1900, 1, 1), dt.datetime(1900, 1, 1, 6)),
        (dt.datetime(1900, 2, 28), dt.datetime(1900, 2, 28, 23)),
        (dt.datetime(1900, 3, 1), dt.datetime(1900, 3, 1)),
        (dt.datetime(2024, 2, 29), dt.datetime(2024, 2, 29, 12, 30)),
        ("1899-12-31", "1899-12-31 18:00:00"),
        (None, None),
    ]
    with zipfile.ZipFile(path) as zf:  # the serials Excel itself gives these days
        serials = re.findall(rb'<c s="1"><v>([^<]*)</v>', zf.read("xl/worksheets/sheet1.xml"))
    assert serials[:4] == [b"1", b"59", b"61", b"45351"]


def test_xlsx_text_past_excels_cell_limit_is_cut_and_the_metadata_counts_it(tmp_path):
    """Excel holds 32,767 characters in a cell and refuses (repairs) a workbook with more: such text
    is cut to the limit, and the run's metadata says how many cells were, rather than nothing."""
    con = duckdb_connection(tmp_path)
    con.execute("""CREATE TABLE result AS SELECT * FROM (VALUES
        ('O1', repeat('é', 40000), repeat('x', 32767)),
        ('O2', 'short', repeat('y', 32768))
    ) t(order_id, note, other)""")
    path = tmp_path / "long.xlsx"
    assert write_output(con, path, "xlsx") == {"xlsx_sheets": ["report"], "xlsx_cells_cut": 2}
    rows = list(openpyxl.load_workbook(path)["report"].iter_rows(values_only=True))
    assert rows[1] == ("O1", "é" * 32767, "x" * 32767)
    assert rows[2] == ("O2", "short", "y" * 32767)
    con.execute("DROP TABLE result")
    con.execute("CREATE TABLE result AS SELECT repeat('z', 32767) AS note")
    assert write_output(con, path, "xlsx") == {"xlsx_sheets": ["report"]}
