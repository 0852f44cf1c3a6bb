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
