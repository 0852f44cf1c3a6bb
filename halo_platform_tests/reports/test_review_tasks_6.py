"""Review of report tasks (tasks6): a SQLite DATE that is no date, load errors that named no
warehouse, a warehouse query that never ends, a weekday field naming Sunday twice."""

from __future__ import annotations

import sqlite3
import time

import duckdb
import pytest
import sqlalchemy as sa

from halo_platform.core import warehouses as warehouses_module
from halo_platform.core.errors import HaloError
from halo_platform.reports.requests import create_request
from halo_platform.reports.schedules import cron_in_words, next_runs
from halo_platform_tests.fixtures.ports import closed_port
from halo_platform_tests.reports.test_reconciliation import seed_two_servers


def _warehouses(tmp_path, urls: dict) -> warehouses_module.WarehousesResource:  # noqa: ANN001
    path = tmp_path / "warehouses.yaml"
    path.write_text("warehouses:\n" + "".join(f"  {name}: {{url: '{url}'}}\n" for name, url in urls.items()))
    return warehouses_module.WarehousesResource(warehouses_file=str(path))


@pytest.mark.parametrize("value", ["2024-02-30", "30/01/2024"])
def test_a_sqlite_date_that_is_no_date_is_one_error_naming_it(tmp_path, value):  # noqa: ANN001
    """sqlite3's own DATE converter read '2024-02-30' as a bare `ValueError: day is out of range
    for month` ('30/01/2024': `invalid literal for int()`), naming neither the value nor the column
    type; it is now the error a NUMERIC or TIMESTAMP column gives."""
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE ledger (entry_id TEXT, booked DATE)")
        conn.execute("INSERT INTO ledger VALUES ('E1', ?), ('E2', '2024-02-29')", (value,))
    warehouses = _warehouses(tmp_path, {"ledger": f"sqlite:///{path}"})
    with pytest.raises(HaloError) as raised:
        warehouses.load(duckdb.connect(), "ledger", "ledger", "SELECT entry_id, booked FROM ledger")
    assert str(raised.value) == (f"warehouse 'ledger', query ledger: SQLite warehouse: {value!r} in a column declared DATE is no DATE value;"
                                 " CAST the column AS TEXT in the query to read it as text")


def test_a_sqlite_date_column_still_loads_as_dates(tmp_path):  # noqa: ANN001
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE ledger (entry_id TEXT, booked DATE)")
        conn.execute("INSERT INTO ledger VALUES ('E1', '2024-02-29'), ('E2', NULL)")
    con = duckdb.connect()
    _warehouses(tmp_path, {"ledger": f"sqlite:///{path}"}).load(con, "ledger", "ledger", "SELECT * FROM ledger")
    assert con.execute("SELECT typeof(booked), CAST(booked AS TEXT) FROM ledger ORDER BY entry_id").fetchall() == [
        ("DATE", "2024-02-29"), ("DATE", None)]


@pytest.mark.parametrize(("url", "said"), [
    ("postgresql+psycopg://halo:secret@127.0.0.1:{port}/payments", "Connection refused"),
    ("mysql+pymysql://halo:secret@127.0.0.1:{port}/payments", "Connection refused")])
def test_a_warehouse_that_cannot_be_reached_is_named_in_the_requests_error(
        halo_env, tmp_path, monkeypatch, store, url, said):  # noqa: ANN001
    """A refused port failed the request with `OperationalError: IO: [libpq] Failed to connect:
    connection to server at "127.0.0.1", port 5999 failed: Connection refused`: which of the task's
    warehouses, and which query, was left to guess. The error now names both, never the password."""
    urls = {"payments": f"sqlite:///{tmp_path / 'payments.db'}", "gateway": f"sqlite:///{tmp_path / 'gateway.db'}"}
    seed_two_servers(urls)
    with closed_port() as port:
        monkeypatch.setenv("HALO_WAREHOUSES_FILE", _warehouses(tmp_path, {**urls, "payments": url.format(port=port)}).warehouses_file)
        request = create_request(store, "payment_reconciliation",
                                 {"period_start": "2024-03-04", "period_end": "2024-03-11"}, wait=True)
    assert request["status"] == "FAILED"
    assert "warehouse 'payments', query " in request["error"] and said in request["error"], request["error"]
    assert "secret" not in request["error"] and "\n" not in request["error"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("kind", "sql", "said"), [
    ("pg", "SELECT pg_sleep(3600) AS s", "canceling statement due to statement timeout"),
    ("mysql", "SELECT SLEEP(3600) AS s FROM one_row", "the query ran past the warehouse statement timeout of 1 s")])
def test_a_query_that_never_ends_fails_naming_the_warehouse(tmp_path, monkeypatch, pg_url, mysql_url, kind, sql, said):  # noqa: ANN001, PLR0913
    """Once connected, nothing bounded a query: `SELECT pg_sleep(3600)` (a lock wait, a runaway join)
    held the run, and its request, RUNNING with no alert. A query now has QUERY_TIMEOUT_SECONDS
    (PostgreSQL's statement_timeout, MariaDB's max_statement_time), then fails naming the warehouse."""
    monkeypatch.setattr(warehouses_module, "QUERY_TIMEOUT_SECONDS", 1)
    if kind == "mysql":  # a query on a table: LIMIT 0 around one on none runs it (the column probe)
        with sa.create_engine(mysql_url).begin() as conn:
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS one_row (x INT)"))
            conn.execute(sa.text("INSERT INTO one_row VALUES (1)"))
    warehouses = _warehouses(tmp_path, {"slow": pg_url if kind == "pg" else mysql_url})
    started = time.monotonic()
    with pytest.raises(Exception) as raised:  # noqa: PT011 - a driver's, carried by DuckDB
        warehouses.load(duckdb.connect(), "slow", "slow", sql)
    assert time.monotonic() - started < 30
    assert "warehouse 'slow', query slow: " in str(raised.value) and said in str(raised.value), str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.timeout(60)
def test_a_postgresql_url_that_sets_its_statement_timeout_keeps_it(tmp_path, monkeypatch, pg_url):  # noqa: ANN001
    monkeypatch.setattr(warehouses_module, "QUERY_TIMEOUT_SECONDS", 1)
    warehouses = _warehouses(tmp_path, {"slow": f"{pg_url}?options=-cstatement_timeout%3D20000"})
    con = duckdb.connect()
    warehouses.load(con, "slow", "slow", "SELECT pg_sleep(2) AS s, current_setting('statement_timeout') AS t")
    assert con.execute("SELECT t FROM slow").fetchall() == [("20s",)]


@pytest.mark.parametrize(("cron", "words"), [
    ("0 0 * * 0-7", "every day at 00:00, UTC"),
    ("0 0 * * 0,7", "every Sunday at 00:00, UTC"),
    ("0 0 * * sun,7", "every Sunday at 00:00, UTC"),
    ("0 0 * * 6,7,0", "every Sunday and Saturday at 00:00, UTC"),
    ("0 0 * * 1-5,0-7", "every day at 00:00, UTC"),
    ("0 0 * * 0-7/2", "every Sunday, Tuesday, Thursday, and Saturday at 00:00, UTC"),
    ("0 0 1 * 0-7", "At 00:00, on day 1 of the month, Sunday through Saturday, UTC"),
    ("0 6 * * 1", "every Monday at 06:00, UTC"),  # unchanged
    ("0 0 * * 5-7", "every Friday through Sunday at 00:00, UTC"),  # unchanged
])
def test_cron_in_words_says_sunday_once_and_every_day_as_such(cron, words):  # noqa: ANN001
    """0 and 7 are both Sunday: `0 0 * * 0-7` (it runs every day) was shown on the Control Center as
    'At 00:00, Sunday through Sunday', `0 0 * * 0,7` as 'only on Sunday and Sunday'."""
    assert cron_in_words(cron, "UTC") == words
    assert next_runs(cron, "UTC", 3)  # the schedule itself is unchanged and valid
