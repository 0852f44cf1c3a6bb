"""Review of report tasks (tasks5): the demo's SQLite warehouses, a warehouse that takes the
connection and never answers, a SQLite warehouse holding text in a NUMERIC or TIMESTAMP column."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from halo_platform.core import warehouses as warehouses_module
from halo_platform.core.errors import HaloError
from halo_platform.reports.requests import create_request
from halo_platform_tests.reports.test_reconciliation import seed_two_servers


def _name_warehouses(tmp_path, monkeypatch, urls: dict) -> dict:  # noqa: ANN001
    path = tmp_path / "warehouses.yaml"
    path.write_text(yaml.safe_dump({"warehouses": {k: {"url": v} for k, v in urls.items()}}))
    monkeypatch.setenv("HALO_WAREHOUSES_FILE", str(path))
    return urls


@pytest.fixture
def sqlite_warehouses(halo_env, tmp_path, monkeypatch) -> dict:  # noqa: ANN001
    """The demo's kind of warehouses (config/warehouses.yaml): SQLite payments and gateway files."""
    return _name_warehouses(tmp_path, monkeypatch, {
        "payments": f"sqlite:///{tmp_path / 'payments.db'}", "gateway": f"sqlite:///{tmp_path / 'gateway.db'}",
        "marketing": f"duckdb:///{tmp_path / 'marketing.duckdb'}"})


def test_an_empty_weeks_parquet_from_sqlite_warehouses_has_the_schema_of_a_full_week(sqlite_warehouses, halo_env, store):
    """SQLite keeps no column types: a week with no order loaded its id and currency columns as
    DuckDB's NULL type, and the empty week's parquet declared them `null` where every other week's
    declares `string`, so a dataset over the weekly files refused to merge them."""

    def reconcile(start: str, end: str) -> pq.ParquetSchema:
        request = create_request(store, "payment_reconciliation",
                                 {"period_start": start, "period_end": end, "format": "parquet"}, wait=True)
        assert request["status"] == "SUCCEEDED", request["error"]
        return pq.read_schema(Path(halo_env["HALO_HOME"]) / "outbox" / f"payment_reconciliation_{start}_{end}.parquet")

    seed_two_servers(sqlite_warehouses)
    full = reconcile("2024-03-04", "2024-03-11")
    empty = reconcile("2030-01-07", "2030-01-14")
    assert empty.equals(full), f"{empty}\n!=\n{full}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("warehouse", "url", "said"), [
    ("payments", "postgresql+psycopg://halo:secret@127.0.0.1:{port}/payments", "timeout expired"),
    ("gateway", "mysql+pymysql://halo:secret@127.0.0.1:{port}/gateway", "timed out")])
def test_a_warehouse_that_takes_the_connection_and_never_answers_fails_the_request(
        halo_env, tmp_path, monkeypatch, store, warehouse, url, said):  # noqa: ANN001
    """libpq, and pymysql past its TCP connect, wait for ever for a server that accepts the
    connection and says nothing (a hung server, a proxy in front of one that is down): the run, and
    its request, stayed RUNNING with no end and no alert, and held one of the task's run slots.
    Connecting now gives up after CONNECT_TIMEOUT_SECONDS: the request ends FAILED with the
    driver's line, so it alerts."""
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel takes connections; nobody answers them
    try:
        urls = {"payments": f"sqlite:///{tmp_path / 'payments.db'}", "gateway": f"sqlite:///{tmp_path / 'gateway.db'}"}
        seed_two_servers(urls)
        _name_warehouses(tmp_path, monkeypatch, {**urls, warehouse: url.format(port=silent.getsockname()[1])})
        monkeypatch.setattr(warehouses_module, "CONNECT_TIMEOUT_SECONDS", 2)
        started = time.monotonic()
        request = create_request(store, "payment_reconciliation",
                                 {"period_start": "2024-03-04", "period_end": "2024-03-11"}, wait=True)
    finally:
        silent.close()
    assert time.monotonic() - started < 30
    assert request["status"] == "FAILED"
    assert said in request["error"] and "secret" not in request["error"]


@pytest.mark.parametrize(("declared", "value"), [("NUMERIC(12,2)", "N/A"), ("DECIMAL(12,2)", "12,50"),
                                               ("TIMESTAMP", "03/04/2024 10:00"), ("DATETIME", "yesterday")])
def test_a_sqlite_value_that_is_not_its_declared_type_is_one_error_naming_it(tmp_path, declared, value):  # noqa: ANN001
    """SQLite keeps whatever text it is given in a NUMERIC or TIMESTAMP column (a table imported
    from a spreadsheet: 'N/A', a decimal comma, a day/month date): a task selecting the column
    failed with `InvalidOperation: [<class 'decimal.ConversionSyntax'>]`, naming neither the value
    nor what was expected (a timestamp: `Invalid isoformat string`). The error now names the value,
    the declared type and the remedy."""
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE ledger (entry_id TEXT, value {declared})")
        conn.execute("INSERT INTO ledger VALUES ('E1', ?)", (value,))
    (tmp_path / "warehouses.yaml").write_text(f"warehouses:\n  ledger: {{url: 'sqlite:///{path}'}}\n")
    warehouses = warehouses_module.WarehousesResource(warehouses_file=str(tmp_path / "warehouses.yaml"))
    kind = declared.split("(")[0]
    with pytest.raises(HaloError) as raised:
        warehouses.load(duckdb.connect(), "ledger", "ledger", "SELECT entry_id, value FROM ledger")
    assert str(raised.value) == (f"warehouse 'ledger', query ledger: SQLite warehouse: {value!r} in a column declared {kind} is no {kind} value;"
                                 " CAST the column AS TEXT in the query to read it as text")
