"""Every value of a report's result reaches its file as DuckDB holds it, in each format: csv (DuckDB's
text of each value, unaltered: text beginning with `=` is data there), parquet (typed) and xlsx
(typed cells where Excel holds the value, else its text; text never a formula)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import zipfile
from decimal import Decimal

import duckdb
import openpyxl
import pyarrow.parquet as pq
import pytest

from halo_platform.reports.assets import duckdb_connection, write_output

FORMULAS = ['=HYPERLINK("http://x","click")', "=1+1", "+1", "-1", "@SUM(A1)", "=cmd|' /C calc'!A0"]


def _result(tmp_path, sql: str) -> duckdb.DuckDBPyConnection:
    con = duckdb_connection(tmp_path)
    con.execute(f"CREATE TABLE result AS {sql}")
    return con


def _xlsx(tmp_path, sql: str) -> openpyxl.worksheet.worksheet.Worksheet:
    write_output(_result(tmp_path, sql), tmp_path / "out.xlsx", "xlsx")
    return openpyxl.load_workbook(tmp_path / "out.xlsx")["report"]


def test_xlsx_text_that_looks_like_a_formula_is_written_as_text_not_a_live_formula(tmp_path):
    """Cells are inline strings (`t="inlineStr"`), never `<f>`: a warehouse value such as
    `=HYPERLINK(...)` reads back as that text (data_type 's'), in the header too."""
    values = ", ".join("'" + v.replace("'", "''") + "'" for v in FORMULAS)
    sheet = _xlsx(tmp_path, f'SELECT unnest([{values}]) AS "=1+1"')
    cells = [row[0] for row in sheet.iter_rows()]
    assert [(c.value, c.data_type) for c in cells] == [("=1+1", "s")] + [(v, "s") for v in FORMULAS]
    with zipfile.ZipFile(tmp_path / "out.xlsx") as zf:
        assert b"<f>" not in zf.read("xl/worksheets/sheet1.xml")


def test_xlsx_numbers_excel_cannot_hold_to_the_digit_are_their_exact_text(tmp_path):
    """Excel keeps 15 significant digits: 9007199254740993 (a BIGINT past 2^53) and a DECIMAL(38,10)
    of 17 digits were number cells that Excel rounds (openpyxl read 1.2345678901234568e+16)."""
    sheet = _xlsx(tmp_path, """SELECT * FROM (VALUES
        (9007199254740993, CAST('12345678901234567.89' AS DECIMAL(38,10)), CAST(170141183460469231731687303715884105727 AS HUGEINT)),
        (123456789012345, CAST('0.10' AS DECIMAL(38,10)), CAST(1000000000000000000000 AS HUGEINT)),
        (-1, CAST('-0.0000000001' AS DECIMAL(38,10)), NULL)) t(big, amount, total)""")
    assert [[(c.value, c.data_type) for c in row] for row in sheet.iter_rows(min_row=2)] == [
        [("9007199254740993", "s"), ("12345678901234567.8900000000", "s"), ("170141183460469231731687303715884105727", "s")],
        [(123456789012345, "n"), (0.1, "n"), (1000000000000000000000, "n")],
        [(-1, "n"), (-1e-10, "n"), (None, "n")],
    ]


def test_xlsx_timestamps_far_from_1970_infinite_and_with_time_zone_are_written(tmp_path):
    """A timestamp before 1685 or after 2255 (past 2^53 microseconds) failed the whole write (a
    checked float cast): 9999-12-31 is a common "no end" in warehouses. DuckDB's infinity was
    `<value out of range>` text. A timestamp with time zone was its UTC time with nothing saying so."""
    sheet = _xlsx(tmp_path, """SELECT * FROM (VALUES
        (TIMESTAMP '9999-12-31 23:59:59', TIMESTAMPTZ '2026-01-01 23:30:00+07', DATE '9999-12-31'),
        (TIMESTAMP '0001-01-01 00:00:00', TIMESTAMPTZ '1899-12-31 23:00:00+00', DATE '-infinity'),
        (TIMESTAMP 'infinity', TIMESTAMPTZ '-infinity', DATE 'infinity')) t(ts, tstz, day)""")
    assert list(sheet.iter_rows(min_row=2, values_only=True)) == [
        (dt.datetime(9999, 12, 31, 23, 59, 59), dt.datetime(2026, 1, 1, 16, 30), dt.datetime(9999, 12, 31)),
        ("0001-01-01 00:00:00", "1899-12-31 23:00:00Z", "-infinity"),
        ("infinity", "-infinity", "infinity"),
    ]
    assert sheet["B2"].number_format == 'yyyy-mm-dd hh:mm:ss" UTC"' and sheet["A2"].number_format == "yyyy-mm-dd hh:mm:ss"


def test_xlsx_keeps_nan_apart_from_null_and_empty_text_apart_from_null(tmp_path):
    """NaN was an empty cell, as NULL is; it is its text `nan`, as in the csv."""
    sheet = _xlsx(tmp_path, """SELECT * FROM (VALUES (CAST('nan' AS DOUBLE), ''), (CAST('-inf' AS DOUBLE), NULL), (NULL, 'x'),
        (0.1, '😀 שלום' || chr(0) || 'end')) t(ratio, note)""")
    assert list(sheet.iter_rows(min_row=2, values_only=True)) == [("nan", ""), ("-inf", None), (None, "x"), (0.1, "😀 שלוםend")]


def test_xlsx_columns_of_types_excel_has_no_cell_for_are_duckdbs_text_of_them(tmp_path):
    """A BLOB failed the write (Invalid UTF8 payload), a TIME WITH TIME ZONE lost its offset, an
    INTERVAL or a list was refused ("use csv or parquet"): each is now the text the csv has."""
    expressions = {"blob": "'\\x01\\xff'::BLOB", "timetz": "'12:00:00+07'::TIMETZ", "span": "INTERVAL 3 DAY",
                   "items": "[1, 2]", "pair": "{'a': 1}", "clock": "TIME '12:34:56.789'",
                   "id": "'6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID"}
    sql = "SELECT " + ", ".join(f"{e} AS {n}" for n, e in expressions.items())
    sheet = _xlsx(tmp_path, sql)
    expected = duckdb.sql("SELECT " + ", ".join(f"CAST({e} AS VARCHAR)" for e in expressions.values())).fetchall()[0]
    assert next(sheet.iter_rows(min_row=2, values_only=True)) == expected
    assert expected[:2] == ("\\x01\\xFF", "12:00:00+07")


def test_parquet_keeps_every_digit_of_a_hugeint(tmp_path):
    """DuckDB writes a HUGEINT (the type of a sum of BIGINTs) to parquet as a DOUBLE: 2^53 + 3 came
    back as 9007199254740996.0. It is DECIMAL(38,0) in the file now."""
    con = _result(tmp_path, "SELECT sum(x) AS total, 'a' AS k FROM (VALUES (9007199254740993), (2)) v(x)")
    write_output(con, tmp_path / "out.parquet", "parquet")
    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == [{"total": Decimal("9007199254740995"), "k": "a"}]


def test_csv_writes_values_as_duckdb_holds_them_with_null_apart_from_empty_text(tmp_path):
    con = _result(tmp_path, """SELECT * FROM (VALUES
        ('=1+1', CAST('12345678901234567.89' AS DECIMAL(38,2)), 9007199254740993, DATE '1969-12-31', true, '😀 שלום'),
        ('', CAST('0.10' AS DECIMAL(38,2)), NULL, DATE '0001-01-01', false, NULL)) t(note, amount, big, day, ok, more)""")
    write_output(con, tmp_path / "out.csv", "csv")
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines() == [
        "note,amount,big,day,ok,more",
        "=1+1,12345678901234567.89,9007199254740993,1969-12-31,true,😀 שלום",
        '"",0.10,,0001-01-01,false,',
    ]


def test_a_timestamp_with_time_zone_comes_out_the_same_whatever_the_machines_time_zone(tmp_path):
    """DuckDB renders TIMESTAMPTZ in the machine's zone: under TZ=Asia/Jakarta the csv said
    `2026-01-01 23:30:00+07` where a UTC machine wrote `16:30:00+00`, and the date of it was another day."""
    script = (
        "import pathlib, sys\n"
        "from halo_platform.reports.assets import duckdb_connection, write_output\n"
        "out = pathlib.Path(sys.argv[1]); con = duckdb_connection(out)\n"
        "con.execute(\"CREATE TABLE result AS SELECT TIMESTAMPTZ '2026-01-01 16:30:00+00' AS at_utc, "
        "CAST(TIMESTAMPTZ '2026-01-01 20:00:00+00' AS DATE) AS day\")\n"
        "write_output(con, out / 'out.csv', 'csv')\n"
    )
    env = {**os.environ, "TZ": "Asia/Jakarta"}
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, env=env, timeout=120)
    assert (tmp_path / "out.csv").read_text().splitlines() == ["at_utc,day", "2026-01-01 16:30:00+00,2026-01-01"]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_a_report_from_postgresql_and_mariadb_keeps_every_value_in_each_format(halo_env, warehouses, pg_url, mysql_url,
                                                                               tmp_path, fmt):
    """End to end: values of the real warehouses, joined in DuckDB, in each format's file."""
    import dagster as dg
    import sqlalchemy as sa

    from halo_platform.core.warehouses import WarehousesResource
    from halo_platform.reports.assets import build_report
    from halo_platform.reports.task import Query, Task, TaskConfig

    def table(url: str, columns: str, rows: str) -> None:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS fidelity_report"))
            conn.execute(sa.text(f"CREATE TABLE fidelity_report ({columns})"))
            conn.execute(sa.text(f"INSERT INTO fidelity_report VALUES {rows}"))  # noqa: S608 - the test's own literals
        engine.dispose()

    table(pg_url, "id int, free numeric, big bigint, tstz timestamptz, note text",
          "(1, 12345678901234567.89, 9007199254740993, '2026-01-01 23:30:00+07', '=HYPERLINK(\"http://x\",\"click\")'), (2, 0.1, -1, NULL, '')")
    table(mysql_url, "id INT, money DECIMAL(30,2), fine DECIMAL(65,30)",
          "(1, 12345678901234567.89, 0.000000000000000000000000000001), (2, 0.10, NULL)")
    task = Task(
        name="fidelity", description="Values.", owner="team:test", config=TaskConfig,
        queries={"p": Query("payments", "SELECT * FROM fidelity_report"), "m": Query("gateway", "SELECT * FROM fidelity_report")},
        transform="SELECT p.id, p.free, p.big, p.tstz, p.note, m.money, m.fine FROM p JOIN m USING (id) ORDER BY id",
        file_stem=lambda payload: "fidelity", format_of=lambda payload: fmt,
    )
    report = build_report(dg.build_asset_context(), task, {"sinks": []}, WarehousesResource(), tmp_path / "outputs")
    if fmt == "csv":
        assert report.path.read_text().splitlines() == [
            "id,free,big,tstz,note,money,fine",
            '1,12345678901234567.89,9007199254740993,2026-01-01 16:30:00+00,"=HYPERLINK(""http://x"",""click"")",'
            "12345678901234567.89,0.000000000000000000000000000001",
            '2,0.1,-1,,"",0.10,',
        ]
    elif fmt == "parquet":
        assert pq.read_table(report.path).to_pylist() == [
            {"id": 1, "free": "12345678901234567.89", "big": 9007199254740993,
             "tstz": dt.datetime(2026, 1, 1, 16, 30, tzinfo=dt.UTC), "note": '=HYPERLINK("http://x","click")',
             "money": Decimal("12345678901234567.89"), "fine": "0.000000000000000000000000000001"},
            {"id": 2, "free": "0.1", "big": -1, "tstz": None, "note": "", "money": Decimal("0.10"), "fine": None},
        ]
    else:
        sheet = openpyxl.load_workbook(report.path)["report"]
        assert [[(c.value, c.data_type) for c in row] for row in sheet.iter_rows(min_row=2)] == [
            [(1, "n"), ("12345678901234567.89", "s"), ("9007199254740993", "s"), (dt.datetime(2026, 1, 1, 16, 30), "d"),
             ('=HYPERLINK("http://x","click")', "s"), ("12345678901234567.89", "s"), ("0.000000000000000000000000000001", "s")],
            [(2, "n"), ("0.1", "s"), (-1, "n"), (None, "n"), ("", "s"), (0.1, "n"), (None, "n")],
        ]
