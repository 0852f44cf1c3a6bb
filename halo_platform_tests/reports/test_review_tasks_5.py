"""Review of report tasks (tasks5): the demo's SQLite warehouses, ..."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from halo_platform.reports.requests import create_request
from halo_platform_tests.reports.test_reconciliation import seed_two_servers


@pytest.fixture
def sqlite_warehouses(halo_env, tmp_path, monkeypatch) -> dict:  # noqa: ANN001
    """The demo's kind of warehouses (config/warehouses.yaml): SQLite payments and gateway files."""
    urls = {"payments": f"sqlite:///{tmp_path / 'payments.db'}", "gateway": f"sqlite:///{tmp_path / 'gateway.db'}",
            "marketing": f"duckdb:///{tmp_path / 'marketing.duckdb'}"}
    path = tmp_path / "warehouses.yaml"
    path.write_text(yaml.safe_dump({"warehouses": {k: {"url": v} for k, v in urls.items()}}))
    monkeypatch.setenv("HALO_WAREHOUSES_FILE", str(path))
    return urls


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
