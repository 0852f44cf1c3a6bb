"""The audit row only moves forward, whoever reports and in whatever order, also when several
writers race on a request that has no row yet (SQLite and PostgreSQL operational stores)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator

import pytest

from halo_platform.core.store import StoreResource
from halo_platform.reports.audit import get_request, list_requests, record_status
from halo_platform_tests.reports.conftest import at_once


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, halo_env) -> Iterator[StoreResource]:  # noqa: ANN001
    url = request.getfixturevalue("migrated_pg_url") if request.param == "postgresql" else halo_env["HALO_DB_URL"]
    resource = StoreResource(db_url=url)
    yield resource
    resource.dispose()


def test_status_never_moves_backwards_and_a_terminal_status_is_kept(store):
    record_status(store, "r1", "QUEUED", task="t", payload={"a": 1}, trigger="api", requested_by="ana")
    record_status(store, "r1", "RUNNING", task="t")
    record_status(store, "r1", "SUCCEEDED", task="t", outputs=["file:///x.csv"], row_count=3)
    record_status(store, "r1", "RUNNING", task="t")  # a late report
    record_status(store, "r1", "FAILED", task="t", error="late sensor")
    row = get_request(store, "r1")
    assert (row["status"], row["outputs"], row["row_count"], row["error"]) == ("SUCCEEDED", ["file:///x.csv"], 3, None)
    assert (row["payload"], row["trigger"], row["requested_by"]) == ({"a": 1}, "api", "ana")
    assert row["created_at"] <= row["started_at"] <= row["finished_at"]


def test_racing_writers_on_a_new_request_leave_one_row_in_the_furthest_state(store):
    statuses = ["RUNNING", "SUCCEEDED", "RUNNING", "QUEUED"] * 3
    assert at_once([functools.partial(record_status, store, "race", status, task="t") for status in statuses]) == []
    assert [r["status"] for r in list_requests(store, task="t")] == ["SUCCEEDED"]


def test_a_requests_error_is_kept_masked_as_log_lines_are(store):
    """The error line is shown on the request's page and by the API: an address or a phone number
    an exception quoted (a warehouse row, a server's answer) is masked before it is stored."""
    record_status(store, "r2", "QUEUED", task="t")
    record_status(store, "r2", "FAILED", task="t",
                  error="IntegrityError: duplicate key (email)=(ada.lovelace@hospital.example) for +33612345678")
    error = get_request(store, "r2")["error"]
    assert error.startswith("IntegrityError: duplicate key (email)=(")
    assert "ada.lovelace@hospital.example" not in error and "+33612345678" not in error


def test_a_request_that_never_started_keeps_started_at_empty_whatever_ended_it(store):
    """`started_at` is when the run started: a request canceled or failed while still queued (or
    recorded terminal before any other state) never started, so it stays null; a terminal status
    reported with the Dagster run's start (a run whose asset body never ran) records that start."""
    started = dt.datetime(2024, 5, 10, 8, 0, 1, tzinfo=dt.UTC)
    record_status(store, "canceled", "QUEUED", task="t")
    record_status(store, "canceled", "CANCELED", task="t", error="canceled")
    record_status(store, "refused", "QUEUED", task="t")
    record_status(store, "refused", "FAILED", task="t", error="could not start the run: webserver down")
    record_status(store, "first-seen-failed", "FAILED", task="t", error="run failed")
    record_status(store, "worker-lost", "QUEUED", task="t")
    record_status(store, "worker-lost", "FAILED", task="t", error="run worker lost", started_at=started)
    record_status(store, "ran", "QUEUED", task="t")
    record_status(store, "ran", "RUNNING", task="t")
    record_status(store, "ran", "FAILED", task="t", error="late report", started_at=started)
    rows = {r: get_request(store, r) for r in ("canceled", "refused", "first-seen-failed", "worker-lost", "ran")}
    assert {r: row["started_at"] for r, row in rows.items() if r not in ("worker-lost", "ran")} == {
        "canceled": None, "refused": None, "first-seen-failed": None}
    assert all(row["finished_at"] is not None for row in rows.values())
    assert dt.datetime.fromisoformat(rows["worker-lost"]["started_at"]) == started
    assert dt.datetime.fromisoformat(rows["ran"]["started_at"]) > started  # the RUNNING report's is kept
