"""Review of report outputs and the sinks they reach: an xlsx cell Excel cannot hold to the digit,
the addresses the file sinks record for what they wrote, and the media types of email attachments;
each read back from the file or the real server."""

from __future__ import annotations

import openpyxl

from halo_platform.reports.assets import duckdb_connection, write_output


def test_xlsx_doubles_of_more_than_15_significant_digits_are_their_exact_text(tmp_path):
    """Excel keeps 15 significant digits, and the README promises a number with more as its exact
    text: a BIGINT and a DECIMAL were, a DOUBLE was a number cell (0.1234567890123456789 read
    back 0.12345678901234568 as a number Excel shows as 0.123456789012346). A double of at most
    15 digits, in any notation (1e+20, 1.2345e-05), stays a number."""
    con = duckdb_connection(tmp_path)
    con.execute("""CREATE TABLE result AS SELECT * FROM (VALUES
        (CAST(0.1234567890123456789 AS DOUBLE), CAST(0.1 AS FLOAT)), (CAST(12345678901234567.0 AS DOUBLE), CAST(0.5 AS FLOAT)),
        (CAST(1e20 AS DOUBLE), CAST(1 AS FLOAT) / 3), (CAST(1.2345e-5 AS DOUBLE), NULL), (CAST(-123456789012345.0 AS DOUBLE), NULL),
        (CAST(0.1 AS DOUBLE) + CAST(0.2 AS DOUBLE), NULL), (CAST('-inf' AS DOUBLE), NULL)) t(ratio, single)""")
    write_output(con, tmp_path / "out.xlsx", "xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx")["report"]
    assert [[(c.value, c.data_type) for c in row] for row in sheet.iter_rows(min_row=2)] == [
        [("0.12345678901234568", "s"), (0.1, "n")],
        [("1.2345678901234568e+16", "s"), (0.5, "n")],
        [(1e20, "n"), (0.33333334, "n")],
        [(1.2345e-05, "n"), (None, "n")],
        [(-123456789012345, "n"), (None, "n")],
        [("0.30000000000000004", "s"), (None, "n")],
        [("-inf", "s"), (None, "n")],
    ]
