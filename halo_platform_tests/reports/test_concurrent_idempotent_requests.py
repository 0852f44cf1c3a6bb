"""The same task request sent several times at the same instant with one `Idempotency-Key` (a
client and its proxy both retrying, a double click), to the real `halo serve` submitting to the
real Dagster webserver. Each POST finds no earlier request with the key, so each submits a run;
the key's unique index lets one request keep it, and every other one cancels its own run through
Dagster and answers with the first. What the caller and the audit trail see: one request, the
same answer to every POST; each run canceled as a repeat recorded CANCELED (in Dagster and in
`task_requests`), never started, never delivering."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from halo_platform.access.keys import create_key
from halo_platform.core.store import StoreResource
from halo_platform.reports.audit import TERMINAL, get_request
from halo_platform_tests.fixtures.dagster_webserver import dagster_daemon
from halo_platform_tests.fixtures.halo_serve import halo_serve
from halo_platform_tests.reports.test_requests import _seed_marketing

URL = "/v1/tasks/campaign_alerts/requests"
AT_ONCE = 4


def post_at_once(url: str, api_key: str, idempotency_key: str, bodies: list[dict]) -> list[httpx.Response]:
    """POST each body on a connection of its own, all released at the same moment."""
    barrier = threading.Barrier(len(bodies))
    answers: list[httpx.Response | None] = [None] * len(bodies)

    def send(i: int) -> None:
        headers = {"Authorization": f"Bearer {api_key}", "Idempotency-Key": idempotency_key}
        with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
            client.get("/health")  # connected before the barrier: the POSTs leave together
            barrier.wait()
            answers[i] = client.post(URL, json=bodies[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def rows_of(store: StoreResource, requested_by: str) -> list[dict]:
    with store.read() as conn:
        ids = conn.execute(sa.text("SELECT request_id FROM task_requests WHERE requested_by = :who ORDER BY created_at"),
                           {"who": requested_by}).scalars().all()
    return [get_request(store, request_id) for request_id in ids]


def assert_one_request_kept_the_key(rows: list[dict], key: str, first_id: str, runs: dict[str, dg.DagsterRun]) -> list[dict]:
    """The request answered holds the key and its run is queued; every other row is a repeat,
    CANCELED before it started, naming the first, its Dagster run CANCELED. Returns the repeats."""
    kept = [r for r in rows if r["idempotency_key"] == key]
    assert [r["request_id"] for r in kept] == [first_id], rows
    assert (kept[0]["status"], kept[0]["trigger"]) == ("QUEUED", "api")
    assert runs[first_id].status == dg.DagsterRunStatus.QUEUED
    repeats = [r for r in rows if r["request_id"] != first_id]
    for repeat in repeats:
        assert repeat["status"] == "CANCELED" and repeat["started_at"] is None and repeat["finished_at"], repeat
        assert repeat["error"] == f"a repeat of request {first_id} (same idempotency key): canceled"
        assert repeat["idempotency_key"] is None and repeat["deliveries"] == []
        assert runs[repeat["request_id"]].status == dg.DagsterRunStatus.CANCELED
    return repeats


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, halo_env, monkeypatch) -> Iterator[StoreResource]:  # noqa: ANN001
    """The operational store of `halo serve`: SQLite by default, PostgreSQL in production."""
    if request.param == "postgresql":
        monkeypatch.setenv("HALO_DB_URL", request.getfixturevalue("migrated_pg_url"))
    resource = StoreResource(db_url=os.environ["HALO_DB_URL"])
    yield resource
    resource.dispose()


def test_identical_requests_sent_at_once_with_one_key_are_one_request_answered_to_all(submitting, store, tmp_path):
    api_key = create_key(store, "ops-dashboard", ["tasks:request", "tasks:read"], rate_per_second=1000)
    body = {"payload": {"as_of": "2024-05-10"}, "sinks": ["outbox"]}
    with halo_serve(tmp_path, env=dict(os.environ)) as url:
        answers = post_at_once(url, api_key, "may-10", [body] * AT_ONCE)
        assert [a.status_code for a in answers] == [202] * AT_ONCE, [a.text for a in answers]
        first_id = answers[0].json()["request_id"]
        assert [a.json() for a in answers] == [{"request_id": first_id, "status": "QUEUED"}] * AT_ONCE

        # the same key sent at once with other payloads: one of them is the request, the others 409 naming it
        other = [{"payload": {"as_of": f"2024-05-{day}"}} for day in range(11, 11 + AT_ONCE)]
        refused = post_at_once(url, api_key, "may-11", other)
    rows = rows_of(store, "ops-dashboard")
    with submitting.instance() as instance:
        runs = {r.run_id: r for r in instance.get_runs(dg.RunsFilter(run_ids=[r["request_id"] for r in rows]))}
    assert set(runs) == {r["request_id"] for r in rows}  # every run submitted has its audit row

    first_rows = [r for r in rows if r["payload"] == {"as_of": "2024-05-10", "sinks": ["outbox"]}]
    repeats = assert_one_request_kept_the_key(first_rows, "may-10", first_id, runs)
    # the POSTs left together: those that found no request with the key submitted a run of their own
    assert repeats, f"no POST raced another: the cancel path was not taken ({first_rows})"

    assert sorted(a.status_code for a in refused) == [202] + [409] * (AT_ONCE - 1), [a.text for a in refused]
    winner = next(a.json()["request_id"] for a in refused if a.status_code == 202)
    for answer in refused:
        if answer.status_code == 409:
            assert answer.json() == {"error": f"Idempotency-Key already sent with another task or payload: request {winner}",
                                     "detail": None}
    assert_one_request_kept_the_key([r for r in rows if r not in first_rows], "may-11", winner, runs)


def test_the_one_request_runs_and_delivers_once_and_the_repeats_never_start(submitting, warehouses, halo_env, tmp_path):
    """With the daemon running the queue, as under `halo up`: the request answered to every POST
    runs to SUCCEEDED and its sink receives the file once; no canceled repeat ever runs."""
    _seed_marketing(warehouses)
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    api_key = create_key(store, "ops-dashboard", ["tasks:request", "tasks:read"], rate_per_second=1000)
    with halo_serve(tmp_path, env=dict(os.environ)) as url:
        answers = post_at_once(url, api_key, "may-10", [{"payload": {"as_of": "2024-05-10"}}] * AT_ONCE)
    assert len({a.json()["request_id"] for a in answers}) == 1, [a.text for a in answers]
    first_id = answers[0].json()["request_id"]
    with dagster_daemon(dict(os.environ), tmp_path / "daemon.log"), submitting.instance() as instance:
        deadline = time.monotonic() + 90  # the run's own end too: a run worker stopped after its audit row ends is interrupted
        while time.monotonic() < deadline and not (instance.get_run_by_id(first_id).is_finished and all(
                r["status"] in TERMINAL for r in rows_of(store, "ops-dashboard"))):
            time.sleep(1)  # and the audit sensor's record of the canceled repeats (a tick under load came after the run's end)
    rows = rows_of(store, "ops-dashboard")
    done = next(r for r in rows if r["request_id"] == first_id)
    assert done["status"] == "SUCCEEDED", done
    assert [(d["sink"], d["status"]) for d in done["deliveries"]] == [("outbox", "DELIVERED")]
    assert (Path(halo_env["HALO_HOME"]) / "outbox" / "campaign_alerts_2024-05-10.csv").exists()
    with submitting.instance() as instance:
        runs = {r.run_id: r for r in instance.get_runs(dg.RunsFilter(run_ids=[r["request_id"] for r in rows]))}
    assert runs[first_id].status == dg.DagsterRunStatus.SUCCESS
    for repeat in (r for r in rows if r["request_id"] != first_id):
        assert (repeat["status"], repeat["started_at"], repeat["deliveries"]) == ("CANCELED", None, []), repeat
        assert runs[repeat["request_id"]].status == dg.DagsterRunStatus.CANCELED
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM task_deliveries")).scalar_one() == 1
    store.dispose()
