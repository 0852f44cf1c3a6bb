"""Review of report outputs: each format read back as the reader of that format reads it, an
empty result shaped as a full one, and the run's metadata."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pyarrow.parquet as pq
import pytest

from halo_platform.core.errors import HaloError
from halo_platform.reports.assets import duckdb_connection, write_output
from halo_platform.reports.demo import campaign, write_marketing
from halo_platform.reports.requests import create_request
from halo_platform.reports.xlsx import XLSX_MAX_COLUMNS
from halo_platform_tests.reports.test_reconciliation import seed_two_servers


def _reconcile(store, halo_env, start: str, end: str) -> Path:  # noqa: ANN001
    request = create_request(store, "payment_reconciliation",
                             {"period_start": start, "period_end": end, "format": "parquet"}, wait=True)
    assert request["status"] == "SUCCEEDED", request["error"]
    return Path(halo_env["HALO_HOME"]) / "outbox" / f"payment_reconciliation_{start}_{end}.parquet"


def test_an_empty_weeks_parquet_has_the_schema_of_a_week_with_null_ids(warehouses, halo_env, store):
    """DuckDB wrote a column with no NULL as parquet `required` (arrow `not null`): an empty week's
    file declared every column NOT NULL while a week with a MISSING_PAYMENT has a NULL payment_id,
    so the weekly files did not share one schema (a dataset over them refused to merge them)."""
    seed_two_servers(warehouses)
    full = pq.read_schema(_reconcile(store, halo_env, "2024-03-04", "2024-03-11"))
    empty_path = _reconcile(store, halo_env, "2030-01-07", "2030-01-14")
    assert pq.read_metadata(empty_path).num_rows == 0
    empty = pq.read_schema(empty_path)
    assert empty.equals(full), f"{empty}\n!=\n{full}"
    assert all(f.nullable for f in full)


def test_a_result_wider_than_an_xlsx_sheet_fails_with_one_line_and_leaves_no_file(tmp_path):
    """Excel holds 16,384 columns (A to XFD): a 16,385-column result was written as a workbook
    openpyxl reads but Excel refuses ("we found a problem with some content"), delivered as a
    success. It is refused with one line naming the limit and the formats that hold it."""
    con = duckdb_connection(tmp_path)
    con.execute(f"CREATE TABLE result AS SELECT {', '.join(f'{n} AS c{n}' for n in range(XLSX_MAX_COLUMNS + 1))}")
    with pytest.raises(HaloError, match=r"^16385 columns: an xlsx sheet holds at most 16384; use csv or parquet$"):
        write_output(con, tmp_path / "wide.xlsx", "xlsx")
    assert not (tmp_path / "wide.xlsx").exists()
    con.execute(f"CREATE OR REPLACE TABLE result AS SELECT {', '.join(f'{n} AS c{n}' for n in range(XLSX_MAX_COLUMNS))}")
    write_output(con, tmp_path / "widest.xlsx", "xlsx")
    (header, row) = openpyxl.load_workbook(tmp_path / "widest.xlsx")["report"].iter_rows(values_only=True)
    assert (len(header), header[-1], row[-1]) == (XLSX_MAX_COLUMNS, f"c{XLSX_MAX_COLUMNS - 1}", XLSX_MAX_COLUMNS - 1)


def test_xlsx_of_nanosecond_timestamps_is_written_to_the_microsecond(tmp_path):
    """A TIMESTAMP_NS (a DuckDB warehouse's, a parquet's) with digits past the microsecond failed
    the whole xlsx write (`ArrowInvalid: Casting from timestamp[ns] to timestamp[us] would lose
    data`); an Excel serial holds less than a microsecond anyway: the digits past it are dropped."""
    con = duckdb_connection(tmp_path)
    con.execute("""CREATE TABLE result AS SELECT * FROM (VALUES
        (TIMESTAMP_NS '2024-01-01 00:00:00.123456789', CAST(TIMESTAMP_NS '1969-12-31 23:59:59.5' AS TIMESTAMP_NS)),
        (NULL, TIMESTAMP_NS '2101-06-01 12:00:00')) t(stamped, other)""")
    write_output(con, tmp_path / "ns.xlsx", "xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "ns.xlsx")["report"]
    assert list(sheet.iter_rows(min_row=2, values_only=True)) == [
        (dt.datetime(2024, 1, 1, 0, 0, 0, 123000), dt.datetime(1969, 12, 31, 23, 59, 59, 500000)),
        (None, dt.datetime(2101, 6, 1, 12)),
    ]
    assert sheet["A2"].number_format == "yyyy-mm-dd hh:mm:ss"


def test_a_slack_message_shows_warehouse_text_as_text_not_as_slack_markup(warehouses, halo_env, store, sinks_file,
                                                                          http_fake, tmp_path):
    """Slack reads `<...>` in a message as a link or a mention and `&` as the start of an escape:
    a campaign named `<!channel> Promo & <https://evil.example|Renew budget>` pinged the whole
    channel and showed a link to another site. Text is sent escaped (`&amp;`, `&lt;`, `&gt;`), as
    Slack asks; the file's link stays a link."""
    http_fake.add_route("POST", "/hook", lambda request: (200, "ok"))
    sinks_file({"ops_slack": {"kind": "slack", "webhook_url": f"{http_fake.url}/hook", "link_store": "served"},
                "served": {"kind": "folder", "path": str(tmp_path / "served"), "url": "https://files.example.com/r/"}})
    hostile = {**campaign("C1", dt.date(2024, 5, 10), "100.00"),
               "name": "<!channel> Promo & <https://evil.example|Renew budget>"}
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]), [hostile], [])
    request = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, sinks=["ops_slack"], wait=True)
    assert request["status"] == "SUCCEEDED", request["error"]
    (post,) = http_fake.requests.snapshot()
    text = post.json()["text"]
    assert "&lt;!channel&gt; Promo &amp; &lt;https://evil.example|Renew budget&gt;" in text
    assert "<!channel>" not in text and "<https://evil.example" not in text
    assert "<https://files.example.com/r/campaign_alerts_2024-05-10.csv|campaign_alerts_2024-05-10.csv>" in text
