"""Review of the Dagster side of the code location (sensors, alerts, run tags), evaluated as the
daemon evaluates them: a real instance, the real store and sinks, the sensor's code location."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
from click.testing import CliRunner

from halo_platform.alerts.sensors import run_failure_alert_sensor
from halo_platform.cli import cli
from halo_platform.core.store import StoreResource
from halo_platform.definitions import defs
from halo_platform.reports.assets import run_config, run_tags
from halo_platform.reports.audit import get_request
from halo_platform.reports.requests import dagster_instance, submit_run
from halo_platform.reports.task import get_task
from halo_platform.sinks import SinksResource
from halo_platform_tests.reports.conftest import store, submitting  # noqa: F401 - fixtures


def _daemon_tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None,
                 origin: dg.DagsterRun) -> dg.SensorResult:
    """A tick of `sensor` as the daemon runs it: in the code location of the run `origin` (one the
    webserver queued), with the repository of the code location."""
    job_origin = origin.remote_job_origin
    with dg.SensorEvaluationContext(
            instance_ref=None, instance=instance, cursor=cursor,
            resources={"store": StoreResource(), "sinks": SinksResource()},
            repository_name=job_origin.repository_origin.repository_name,
            repository_def=defs.get_repository_def(),
            code_location_origin=job_origin.repository_origin.code_location_origin) as context:
        return sensor.evaluate_tick(context)


def _alerts(halo_env: dict) -> list[dict]:
    folder = Path(halo_env["HALO_HOME"]) / "alerts"
    return [json.loads(f.read_text()) for f in sorted(folder.glob("*.json"))] if folder.exists() else []


def test_a_failed_task_run_of_halo_tasks_run_wait_is_alerted_by_the_daemons_failure_sensor(halo_env, store, submitting):  # noqa: F811
    """reports.md: one alert per failed run of any job of the code location. `halo tasks run --wait`
    runs the task's job in its own process (no code location origin on the run); the daemon's
    run_failure_alert_sensor must alert it as it alerts a run the webserver queued."""
    instance = dagster_instance()
    task = get_task("campaign_alerts")
    queued = submit_run(task.name, run_config(task, {}), run_tags(task, "api", None, {}))  # a run of the code location
    origin = instance.get_run_by_id(queued)
    first = _daemon_tick(run_failure_alert_sensor, instance, None, origin)  # the sensor starts after what it has seen

    # no marketing warehouse was seeded: the run fails
    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", '{"as_of": "2024-05-10"}', "--wait"])
    request_id = result.stdout.splitlines()[0]
    assert result.exit_code != 0 and get_request(store, request_id)["status"] == "FAILED", result.output

    tick = _daemon_tick(run_failure_alert_sensor, instance, first.cursor, origin)
    assert [a["run_id"] for a in _alerts(halo_env)] == [request_id], tick.skip_message
    assert tick.skip_message.startswith("1 run failed; alerts: 1 delivered")


def _check_alerts_after(job_name: str, on: StoreResource, halo_env: dict) -> list[dict]:
    """Run `job_name` in-process (as its schedule's run does its work), then a tick of
    asset_check_alert_sensor that reads it; the alerts it sent."""
    from halo_platform.alerts.sensors import asset_check_alert_sensor

    instance = dagster_instance()

    def tick(cursor: str | None) -> str | None:
        with dg.build_sensor_context(instance=instance, cursor=cursor,
                                     resources={"sinks": SinksResource(), "store": on}) as context:
            return asset_check_alert_sensor.evaluate_tick(context).cursor

    cursor = tick(None)
    for f in (Path(halo_env["HALO_HOME"]) / "alerts").glob("*.json"):
        f.unlink()
    defs.resolve_job_def(job_name).execute_in_process(instance=instance, resources={"store": on})
    tick(cursor)
    return _alerts(halo_env)


def test_the_alert_of_a_stale_feed_names_the_feed_and_how_late_it_is(halo_env, tmp_path, monkeypatch):
    """emr.md: a freshness check fails when a feed's lag passes its max_lag_minutes, and its alert
    goes out. With several feeds, the alert must say which one is stale and how late, not only
    'asset check feeds_within_max_lag failed'."""
    import datetime as dt

    from halo_platform.core.definitions import STORE
    from halo_platform_tests.availability.helpers import land, process, read_later

    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  acme: {format: acme, max_lag_minutes: 30}\n  fhir: {format: fhir, max_lag_minutes: 45}\n"
                     "  hl7: {format: hl7}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    (alert,) = _check_alerts_after("emr_freshness_job", STORE, halo_env)
    assert alert["title"] == "check failed: scheduling_items feeds_within_max_lag"
    assert alert["error"] == ("stale feeds: acme: no event applied yet; its max_lag_minutes is 30; "
                              "fhir: no event applied yet; its max_lag_minutes is 45")

    land("acme", "hours.jsonl", '{"type":"hours","provider":"P1","tz":"UTC","week":{"mon":[["09:00","17:00"]]},'
                                '"updated_at":"2026-11-01T00:00:00Z"}\n')
    process(STORE, "2027-01-04", 2)
    read_later(monkeypatch, dt.timedelta(minutes=95))
    feeds.write_text("feeds:\n  acme: {format: acme, max_lag_minutes: 30}\n  hl7: {format: hl7}\n")
    (alert,) = _check_alerts_after("emr_freshness_job", STORE, halo_env)
    assert alert["error"] == "stale feed: acme: newest event applied was received 95 min ago; its max_lag_minutes is 30"
    assert "stale feed: acme: newest event applied was received 95 min ago" in alert["text"]


def test_an_emr_run_whose_partitions_hold_a_feed_removed_from_the_feeds_file_processes_the_others(halo_env, tmp_path, monkeypatch):
    """A feed removed from the feeds file keeps its partitions in the instance: a run over a range of
    feeds that holds it (a backfill of every feed from the UI, a run queued before the removal) failed
    whole with 'KeyError: 'fhir''. The feeds still in the file are processed; the removed one is
    named in a warning of the run."""
    import datetime as dt

    from halo_platform.availability.assets import FEEDS, run_range
    from halo_platform.availability.freshness import freshness
    from halo_platform.core.definitions import STORE
    from halo_platform_tests.availability.helpers import land

    feeds = tmp_path / "feeds.yaml"
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    feeds.write_text("feeds:\n  acme: {format: acme}\n  hl7: {format: hl7}\n")  # fhir removed
    instance = dagster_instance()
    instance.add_dynamic_partitions(FEEDS.name, ["acme", "fhir", "hl7"])
    land("acme", "hours.jsonl", '{"type":"hours","provider":"P1","tz":"UTC","week":{"mon":[["09:00","17:00"]]},'
                                '"updated_at":"2026-11-01T00:00:00Z"}\n')
    day = dt.date.today()
    config = {"as_of": day.isoformat(), "horizon_days": 2}
    result = defs.resolve_job_def("emr_processing_job").execute_in_process(
        instance=instance, raise_on_error=False, tags=run_range(["acme", "hl7"], day, day),
        run_config={"ops": {"scheduling_items": {"config": config}, "available_spans": {"config": config}}})
    failures = [e.event_specific_data.error.message for e in result.all_events if e.is_step_failure]
    assert result.success, failures
    assert freshness(STORE, "acme").applied_at is not None  # acme's file was processed
    warnings = [e.message for e in instance.all_logs(result.run_id) if e.level == 30 and "fhir" in (e.message or "")]
    assert warnings and "no longer in the feeds file" in warnings[0]
