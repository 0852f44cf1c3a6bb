"""Review of report outputs: each format read back as the reader of that format reads it, an
empty result shaped as a full one, and the run's metadata."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from halo_platform.reports.requests import create_request
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
