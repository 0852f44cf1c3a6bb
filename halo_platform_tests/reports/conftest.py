"""Report-task fixtures: the payments warehouse in PostgreSQL, the gateway in MariaDB, the
marketing warehouse in a DuckDB file, all named in a warehouses YAML written in tmp."""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import yaml

from halo_platform.core.definitions import STORE
from halo_platform.core.store import StoreResource


@pytest.fixture(autouse=True)
def _fresh_shared_store():  # noqa: ANN202
    """The shared store instance (bound by the domain, used by the CLI and the API) opens its
    engine on this test's database, not on one an earlier test left."""
    STORE.dispose()
    yield
    STORE.dispose()


@pytest.fixture
def store(halo_env) -> StoreResource:  # noqa: ANN001, ARG001
    """The store the domain binds, on this test's database."""
    return STORE


@pytest.fixture(params=["sqlite", "postgresql"])
def on_store(request, halo_env, monkeypatch):  # noqa: ANN001, ANN201
    """The shared store (the API's and the CLI's) on SQLite or PostgreSQL."""
    if request.param == "postgresql":
        monkeypatch.setenv("HALO_DB_URL", request.getfixturevalue("migrated_pg_url"))
    STORE.dispose()
    yield STORE
    STORE.dispose()


@pytest.fixture
def warehouses(halo_env, pg_url, mysql_url, tmp_path, monkeypatch) -> dict:  # noqa: ANN001
    """Warehouse URLs by name; HALO_WAREHOUSES_FILE points at them."""
    urls = {"payments": pg_url, "gateway": mysql_url, "marketing": f"duckdb:///{tmp_path / 'marketing.duckdb'}"}
    path = tmp_path / "warehouses.yaml"
    path.write_text(yaml.safe_dump({"warehouses": {k: {"url": v} for k, v in urls.items()}}))
    monkeypatch.setenv("HALO_WAREHOUSES_FILE", str(path))
    return urls


@pytest.fixture
def sinks_file(halo_env, tmp_path, monkeypatch):  # noqa: ANN001
    """Write a sinks YAML (name -> settings) in tmp and point HALO_SINKS_FILE at it."""

    def write(sinks: dict) -> Path:
        path = tmp_path / "sinks.yaml"
        path.write_text(yaml.safe_dump({"sinks": sinks}))
        monkeypatch.setenv("HALO_SINKS_FILE", str(path))
        return path

    monkeypatch.setenv("HALO_SINK_BACKOFF", "0.05")
    return write


def at_once(calls: Sequence[Callable[[], object]]) -> list[Exception]:
    """Run each call on a thread of its own, all released at the same moment; returns what they raised."""
    barrier = threading.Barrier(len(calls))
    errors: list[Exception] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def submitting(dagster_webserver, halo_env, monkeypatch):  # noqa: ANN001, ANN201
    """This test's platform submitting runs to the session's Dagster webserver (its instance is
    the DAGSTER_HOME here too); runs left queued are deleted after the test, so that no later
    daemon on that instance runs them."""
    for key, value in dagster_webserver.env({}).items():
        monkeypatch.setenv(key, value)
    yield dagster_webserver
    dagster_webserver.clear_queue()
