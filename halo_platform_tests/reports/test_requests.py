"""Task requests through the CLI and the HTTP API: validated up front, recorded in
`task_requests` / `task_deliveries` at every state change, whatever started the run."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient

from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.core.store import StoreResource
from halo_platform.definitions import defs
from halo_platform.http import create_app
from halo_platform.reports.audit import get_request, list_requests
from halo_platform.reports.demo import campaign, write_marketing
from halo_platform.reports.requests import dagster_instance
from halo_platform_tests.fixtures.access import authorized_client, bearer, make_key
from halo_platform_tests.fixtures.dagster_webserver import dagster_daemon


def _seed_marketing(urls: dict) -> None:
    write_marketing(Path(urls["marketing"].split("duckdb:///", 1)[1]),
                    [campaign("C1", dt.date(2024, 5, 11), "100.00")], [])


def _request_count(store) -> int:  # noqa: ANN001
    with store.read() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM task_requests")).scalar_one()


def test_cli_run_with_wait_prints_the_id_status_and_outputs_and_the_log_shows_it(warehouses, halo_env, store):
    _seed_marketing(warehouses)
    runner = CliRunner()
    result = runner.invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", '{"as_of": "2024-05-10"}', "--wait",
                                 "--requested-by", "ana"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    request = get_request(store, lines[0])
    assert request["status"] == "SUCCEEDED" and request["requested_by"] == "ana"
    assert lines[1] == "status: SUCCEEDED"
    assert lines[2] == f"output: {(Path(halo_env['HALO_HOME']) / 'outbox' / 'campaign_alerts_2024-05-10.csv').as_uri()}"
    log = runner.invoke(cli, ["tasks", "log", "--task", "campaign_alerts", "--status", "succeeded", "--limit", "5"])
    assert log.exit_code == 0 and request["request_id"] in log.stdout and "SUCCEEDED  manual  by=ana  rows=1" in log.stdout
    assert "no task requests" in runner.invoke(cli, ["tasks", "log", "--status", "FAILED"]).stdout
    listed = runner.invoke(cli, ["tasks", "list"]).stdout
    assert "payment_reconciliation\tteam:finance" in listed and "campaign_alerts\tteam:marketing" in listed


def test_an_invalid_payload_is_one_line_and_nothing_is_queued(warehouses, halo_env, store):
    runner = CliRunner()
    for args, message in [
        (["--payload", '{"tolerance": -1}'], "error: payment_reconciliation: invalid payload: tolerance: Input should be greater than or equal to 0"),
        (["--payload", '{"period_start": "2024-03-11", "period_end": "2024-03-04"}'], "error: payment_reconciliation: invalid payload: period_end: must be after period_start (2024-03-11)"),
        (["--payload", '{"colour": "red"}'], "error: payment_reconciliation: invalid payload: unknown field(s) colour;"
         " known: sinks, period_start, period_end, tolerance, format"),
        (["--payload", "[1]"], "error: --payload must be a JSON object"),
        (["--sink", "nowhere"], "error: unknown sink(s): nowhere; known: alerts, outbox"),
    ]:
        result = runner.invoke(cli, ["tasks", "run", "payment_reconciliation", *args, "--wait"])
        assert result.exit_code == 2, result.output
        assert result.output.strip().splitlines() == [message]
    assert _request_count(store) == 0


def test_the_api_refuses_a_bad_payload_with_422_and_queues_a_good_one_in_dagster(warehouses, halo_env, store, submitting):
    """Who asked is the caller's key, never a field of the body."""
    app = create_app()
    client = TestClient(app)
    client.headers.update(bearer(make_key(app, "tasks:request", "tasks:read", name="ops-dashboard")))
    bad = client.post("/v1/tasks/campaign_alerts/requests", json={"payload": {"expiring_within_days": "soon"}})
    assert bad.status_code == 422
    assert "expiring_within_days" in bad.json()["error"]
    assert client.post("/v1/tasks/nope/requests", json={}).status_code == 404
    assert _request_count(store) == 0

    # reports.md's body names requested_by; access.md: the caller is what is recorded, so its value is ignored
    ok = client.post("/v1/tasks/campaign_alerts/requests", json={"payload": {"as_of": "2024-05-10"}, "sinks": ["outbox"],
                                                                 "requested_by": "ops@example.com"})
    assert ok.status_code == 202, ok.text
    request_id = ok.json()["request_id"]
    body = client.get(f"/v1/task-requests/{request_id}").json()
    assert (body["status"], body["trigger"], body["requested_by"]) == ("QUEUED", "api", "ops-dashboard")
    assert body["payload"] == {"as_of": "2024-05-10", "sinks": ["outbox"]} and body["deliveries"] == []
    run = dagster_instance().get_run_by_id(request_id)  # submitted through the instance: the daemon's queue
    assert run.status == dg.DagsterRunStatus.QUEUED and run.job_name == "campaign_alerts_job"
    assert run.run_config["ops"]["campaign_alerts"]["config"] == {"as_of": "2024-05-10", "sinks": ["outbox"]}
    assert run.tags["halo/trigger"] == "api" and run.tags["owner"] == "team:marketing"
    assert run.remote_job_origin.location_name == "halo_platform.definitions"  # as named by workspace.yaml
    assert client.get("/v1/task-requests/nope").status_code == 404

    # canceled in the UI before it started: the run-status sensor records it
    instance = dagster_instance()
    instance.report_run_canceled(run)
    run_status_tick("task_request_canceled_sensor", instance, store, request_id, dg.DagsterEventType.RUN_CANCELED)
    assert get_request(store, request_id)["status"] == "CANCELED"
    assert [r["status"] for r in list_requests(store, task="campaign_alerts")] == ["CANCELED"]


def test_a_repeated_idempotency_key_answers_the_first_request_and_queues_one_run(warehouses, halo_env, store, submitting):
    """A client or a proxy that retries a POST with the same `Idempotency-Key` gets the first
    request, not a second run; the key reused for another payload is a 409 (nothing queued); the
    key is the caller's own (another key's name may use the same one)."""
    app = create_app()
    client = TestClient(app)
    client.headers.update(bearer(make_key(app, "tasks:request", "tasks:read", name="ops-dashboard")))
    url, body, key = "/v1/tasks/campaign_alerts/requests", {"payload": {"as_of": "2024-05-10"}}, {"Idempotency-Key": "may-10"}
    queued = dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED])
    runs_before = dagster_instance().get_runs_count(queued)
    first = client.post(url, json=body, headers=key)
    again = client.post(url, json=body, headers=key)
    assert (first.status_code, again.status_code) == (202, 202), again.text
    assert again.json()["request_id"] == first.json()["request_id"]
    assert _request_count(store) == 1
    assert dagster_instance().get_runs_count(queued) == runs_before + 1
    # a field given at its default asks for the same as one left out (it was a 409)
    same = client.post(url, json={"payload": {"as_of": "2024-05-10", "sinks": []}}, headers=key)
    assert same.status_code == 202 and same.json()["request_id"] == first.json()["request_id"], same.text

    other = client.post(url, json={"payload": {"as_of": "2024-05-11"}}, headers=key)
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["error"]
    assert first.json()["request_id"] in other.json()["error"]
    assert client.post(url, json=body, headers={"Idempotency-Key": "x" * 256}).status_code == 422
    assert _request_count(store) == 1

    elsewhere = TestClient(app)
    elsewhere.headers.update(bearer(make_key(app, "tasks:request", name="partner")))
    theirs = elsewhere.post(url, json=body, headers=key)
    assert theirs.status_code == 202 and theirs.json()["request_id"] != first.json()["request_id"]
    assert _request_count(store) == 2


def run_status_tick(name: str, instance: dg.DagsterInstance, store: StoreResource, run_id: str,
                    kind: dg.DagsterEventType) -> None:
    """A tick of the run-status sensor `name`, in the code location of run `run_id` as the daemon
    runs it, that reads the run's `kind` event: its cursor is just before that event."""
    (record,) = [r for r in instance.fetch_run_status_changes(kind, limit=100).records if r.run_id == run_id]
    origin = instance.get_run_by_id(run_id).remote_job_origin
    with dg.SensorEvaluationContext(
            instance_ref=None, instance=instance, cursor=str(record.storage_id - 1), resources={"store": store},
            repository_name=origin.repository_origin.repository_name if origin else None,
            code_location_origin=origin.repository_origin.code_location_origin if origin else None) as context:
        defs.resolve_sensor_def(name).evaluate_tick(context)


def enqueue(instance: dg.DagsterInstance, store: StoreResource, run: dg.DagsterRun) -> None:
    """The launchpad's queuing of `run` (its event: a queued run needs a code location's origin,
    which a run made here has none of), then a tick of the queued sensor."""
    instance.event_log_storage.store_event(dg.EventLogEntry(
        error_info=None, level="DEBUG", user_message="", run_id=run.run_id, timestamp=time.time(),
        dagster_event=dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_ENQUEUED.value, job_name=run.job_name)))
    run_status_tick("task_request_queued_sensor", instance, store, run.run_id, dg.DagsterEventType.RUN_ENQUEUED)


def test_a_ui_launched_run_is_recorded_queued_then_failed_by_the_sensors(halo_env, store):
    """The launchpad queues the run (no audit row yet); it dies before the asset body runs."""
    instance = dagster_instance()
    job = defs.resolve_job_def("payment_reconciliation_job")
    run = instance.create_run_for_job(
        job, run_config={"ops": {"payment_reconciliation": {"config": {"tolerance": "0.1"}}}},
        tags={**job.tags, "dagster/user": "ana"}, status=dg.DagsterRunStatus.NOT_STARTED,
    )
    enqueue(instance, store, run)
    request = get_request(store, run.run_id)
    assert (request["status"], request["task"], request["trigger"], request["requested_by"]) == (
        "QUEUED", "payment_reconciliation", "manual", "ana")
    assert request["payload"] == {"tolerance": "0.10"} and request["started_at"] is None

    # the run worker starts the run, then dies before the asset body records RUNNING
    instance.report_dagster_event(dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_START.value,
                                                  job_name=job.name), run.run_id)
    instance.report_run_failed(instance.get_run_by_id(run.run_id), "run worker lost: out of memory")
    run_status_tick("task_request_failure_sensor", instance, store, run.run_id, dg.DagsterEventType.RUN_FAILURE)
    request = get_request(store, run.run_id)
    assert (request["status"], request["error"]) == ("FAILED", "run worker lost: out of memory")
    started = instance.get_run_record_by_id(run.run_id).start_time
    assert dt.datetime.fromisoformat(request["started_at"]).timestamp() == pytest.approx(started, abs=1e-3)
    assert request["finished_at"] is not None


def started_campaign_alerts_run(instance: dg.DagsterInstance, tags: dict[str, str]) -> dg.DagsterRun:
    """A campaign_alerts run (launchpad-made, with `tags`) that the run worker has started, before
    its asset body records anything."""
    job = defs.resolve_job_def("campaign_alerts_job")
    run = instance.create_run_for_job(job, run_config={"ops": {"campaign_alerts": {"config": {}}}},
                                      tags={**job.tags, **tags}, status=dg.DagsterRunStatus.NOT_STARTED)
    instance.report_dagster_event(dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_START.value,
                                                  job_name=job.name), run.run_id)
    return run


def test_a_run_dagster_started_is_recorded_running_with_its_start_before_its_asset_body_runs(halo_env, store):
    """reports.md: QUEUED -> RUNNING, every status change recorded whatever started the run. The
    run worker starts the run (code to load, resources to build) before the asset body records
    RUNNING, and a run that dies in between never did: the started sensor records it then, with
    Dagster's start time."""
    instance = dagster_instance()
    run = started_campaign_alerts_run(instance, {"halo/trigger": "schedule"})
    run_status_tick("task_request_started_sensor", instance, store, run.run_id, dg.DagsterEventType.RUN_START)
    request = get_request(store, run.run_id)
    assert (request["status"], request["task"], request["trigger"]) == ("RUNNING", "campaign_alerts", "schedule")
    start = instance.get_run_record_by_id(run.run_id).start_time
    assert dt.datetime.fromisoformat(request["started_at"]).timestamp() == pytest.approx(start, abs=1e-3)
    assert request["finished_at"] is None


@pytest.mark.parametrize("end", ["canceled", "failed"])
def test_a_launchpad_run_canceled_or_failed_while_queued_has_no_start_time(halo_env, store, end):
    """A run that never started (canceled in the UI, or refused by the run launcher, while queued)
    ends CANCELED or FAILED with `started_at` empty: it was set to the finish time."""
    instance = dagster_instance()
    job = defs.resolve_job_def("campaign_alerts_job")
    run = instance.create_run_for_job(job, run_config={"ops": {"campaign_alerts": {"config": {}}}},
                                      tags={**job.tags, "dagster/user": "ana"}, status=dg.DagsterRunStatus.NOT_STARTED)
    enqueue(instance, store, run)

    if end == "canceled":
        instance.report_run_canceled(run)
        sensor, kind = "task_request_canceled_sensor", dg.DagsterEventType.RUN_CANCELED
    else:
        instance.report_run_failed(run, "could not launch the run: no run worker")
        sensor, kind = "task_request_failure_sensor", dg.DagsterEventType.RUN_FAILURE
    run_status_tick(sensor, instance, store, run.run_id, kind)
    request = get_request(store, run.run_id)
    assert request["status"] == end.upper()
    assert request["finished_at"] is not None
    assert request["started_at"] is None


def test_a_request_whose_dagster_run_is_gone_ends_canceled_instead_of_live_for_good(on_store, monkeypatch):
    """A request's status follows its Dagster run, and a run deleted before it ended (the Dagster UI's
    Delete, a run storage cleanup, a DAGSTER_HOME wiped) reports nothing more: its request stayed QUEUED
    or RUNNING for good, its page polling 'live until terminal', a `halo tasks run --wait` sent again
    with its idempotency key waiting on it forever. Past a grace (a `--wait` records its request before
    Dagster creates the run), a request whose run the instance does not hold now ends CANCELED, saying
    why; one whose run is held, or too recent to have one, is left as it is."""
    from halo_platform.reports import sensors
    from halo_platform.reports.audit import record_status

    instance = dagster_instance()
    running = started_campaign_alerts_run(instance, {"dagster/user": "ana"})
    run_status_tick("task_request_started_sensor", instance, on_store, running.run_id, dg.DagsterEventType.RUN_START)
    job = defs.resolve_job_def("campaign_alerts_job")
    queued, held = (instance.create_run_for_job(job, run_config={"ops": {"campaign_alerts": {"config": {}}}},
                                                tags=job.tags, status=dg.DagsterRunStatus.NOT_STARTED) for _ in range(2))
    for run in (queued, held):
        enqueue(instance, on_store, run)
    instance.delete_run(running.run_id)
    instance.delete_run(queued.run_id)

    def tick() -> str:
        with dg.build_sensor_context(instance=instance, resources={"store": on_store}) as context:
            return defs.resolve_sensor_def("task_request_run_gone_sensor")(context).skip_message

    assert tick() == "0 task requests whose Dagster run is gone: canceled"  # just made: their runs may be on the way
    later = sensors.utcnow() + sensors.RUN_GONE_GRACE
    record_status(on_store, "no-run-yet", "QUEUED", task="campaign_alerts", at=later)  # a `--wait` loading the definitions
    monkeypatch.setattr(sensors, "utcnow", lambda: later)
    assert tick() == "2 task requests whose Dagster run is gone: canceled"
    for run in (running, queued):
        request = get_request(on_store, run.run_id)
        assert (request["status"], request["error"]) == ("CANCELED", sensors.RUN_GONE)
        assert request["finished_at"] is not None
    assert get_request(on_store, running.run_id)["started_at"] is not None
    assert get_request(on_store, queued.run_id)["started_at"] is None
    assert [get_request(on_store, r)["status"] for r in (held.run_id, "no-run-yet")] == ["QUEUED", "QUEUED"]
    assert tick() == "0 task requests whose Dagster run is gone: canceled"


def test_a_queued_request_is_run_by_the_dagster_daemon_and_its_audit_row_completes(warehouses, halo_env, store, submitting,
                                                                                   tmp_path):
    """End to end as under `halo up`: the API queues the run on the webserver, the daemon dequeues and runs it."""
    _seed_marketing(warehouses)
    client = authorized_client(create_app())
    request_id = client.post("/v1/tasks/campaign_alerts/requests", json={"payload": {"as_of": "2024-05-10"}}).json()[
        "request_id"]
    with dagster_daemon(dict(os.environ), tmp_path / "daemon.log"):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and get_request(store, request_id)["status"] in ("QUEUED", "RUNNING"):
            time.sleep(1)
    body = client.get(f"/v1/task-requests/{request_id}").json()
    assert body["status"] == "SUCCEEDED", body
    assert body["started_at"] and body["finished_at"] and body["row_count"] == 1
    assert [(d["sink"], d["status"]) for d in body["deliveries"]] == [("outbox", "DELIVERED")]
    assert (Path(halo_env["HALO_HOME"]) / "outbox" / "campaign_alerts_2024-05-10.csv").exists()


def test_cli_run_with_wait_exits_1_when_the_request_fails(warehouses, halo_env, sinks_file, tmp_path):
    _seed_marketing(warehouses)
    (tmp_path / "a_file").write_text("")
    sinks_file({"outbox": {"kind": "folder", "path": str(tmp_path / "a_file" / "outbox")}})
    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", '{"as_of": "2024-05-10"}', "--wait"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[1] == "status: FAILED"
    assert lines[2].startswith("delivery: outbox FAILED attempts=1 permanent: cannot create folder")
    assert lines[3].startswith("error: delivery failed: outbox: permanent")


def test_a_sink_of_an_unknown_kind_is_refused_when_a_request_or_schedule_names_it(halo_env, store, sinks_file, tmp_path):
    """A typo in a sink's kind (kind: fodler) passed every check and the request was queued; its run
    then failed on it. The CLI, the API and a schedule's save refuse it the way they refuse an
    unknown sink name, in one line naming the sink and its kind, and nothing is queued or saved."""
    from halo_platform.reports.schedules import list_schedules, set_schedule

    sinks_file({"outbox": {"kind": "folder", "path": str(tmp_path / "o")}, "typo": {"kind": "fodler", "path": str(tmp_path)}})
    message = "sink 'typo': unknown kind 'fodler'; known: "
    result = CliRunner().invoke(cli, ["tasks", "run", "payment_reconciliation", "--sink", "outbox", "--sink", "typo"])
    assert result.exit_code == 2 and len(result.output.splitlines()) == 1, result.output
    assert result.output.startswith(f"error: {message}"), result.output
    answer = authorized_client(create_app()).post("/v1/tasks/payment_reconciliation/requests", json={"sinks": ["typo"]})
    assert answer.status_code == 422 and answer.json()["error"].startswith(message), answer.text
    with pytest.raises(HaloError, match=message):
        set_schedule(store, "weekly", task="payment_reconciliation", cron="0 6 * * 1", timezone="Asia/Jakarta", sinks=["typo"])
    assert _request_count(store) == 0 and list_schedules(store) == []


def test_a_huge_invalid_value_is_one_short_error_line(halo_env, store):
    """A 1 MB date was repeated whole in the error line; it is cut to 100 characters and an ellipsis."""
    result = CliRunner().invoke(cli, ["tasks", "run", "payment_reconciliation", "--payload", json.dumps({"period_start": "9" * 1_000_000})])
    assert result.exit_code == 2 and result.output == (
        "error: payment_reconciliation: invalid payload: period_start: not an ISO date (YYYY-MM-DD): '" + "9" * 100 + "…'\n")
    assert _request_count(store) == 0


LONG_NUMBER = '{"tolerance": 1' + "0" * 5000 + "}"  # past Python's 4300 digits: a ValueError, not a JSONDecodeError
DEEP = '{"tolerance": ' + "[" * 5000 + "]" * 5000 + "}"  # a RecursionError


@pytest.mark.parametrize(("args", "message"), [
    (["tasks", "run", "payment_reconciliation", "--payload", LONG_NUMBER],
     "error: --payload cannot be read: Exceeds the limit (4300 digits) for integer string conversion: value has 5001 digits"),
    (["tasks", "run", "payment_reconciliation", "--payload", DEEP], "error: --payload nests too deep to read"),
    (["schedules", "set", "payment_reconciliation_weekly", "--payload", LONG_NUMBER],
     "error: --payload cannot be read: Exceeds the limit (4300 digits) for integer string conversion: value has 5001 digits"),
    (["schedules", "set", "payment_reconciliation_weekly", "--payload", DEEP], "error: --payload nests too deep to read"),
])
def test_a_payload_python_cannot_read_is_one_error_line_and_exit_2(halo_env, store, args, message):
    """json.loads refuses these with a ValueError or a RecursionError, not a JSONDecodeError:
    they were a traceback and exit 1."""
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, repr(result.exception)[:300]
    assert result.output.strip().splitlines() == [message]
    assert _request_count(store) == 0


def test_the_api_answers_a_payload_python_cannot_read_with_a_json_4xx_and_queues_nothing(halo_env, store):
    client = authorized_client(create_app())
    for body, status in ((LONG_NUMBER, 422), (DEEP, 400)):  # not JSON Python reads; nested past the guard's limit
        refused = client.post("/v1/tasks/payment_reconciliation/requests", content=f'{{"payload": {body}}}',
                              headers={"content-type": "application/json"})
        assert refused.status_code == status, refused.text
        assert set(refused.json()) == {"error", "detail"}
    assert _request_count(store) == 0


def test_a_runs_payload_tag_is_masked_before_it_is_cut():
    """The `halo/payload` tag shows in the Dagster UI: an address in a payload is masked there, even
    where the tag's 1,000-character cut would go through it."""
    from halo_platform.reports.assets import run_tags
    from halo_platform.reports.task import get_task

    payload = {"note": "x" * 975 + " ada.lovelace@hospital.example", "contact": "+33612345678"}
    tag = run_tags(get_task("campaign_alerts"), "manual", "ana", payload)["halo/payload"]
    assert len(tag) <= 1000
    assert "+33612345678" not in tag and "ada.lovelace@hosp" not in tag
