"""The run-status sensors of the task audit (`task_requests`): each status change recorded soon
after the run changed, also when many task runs end at once (a warehouse down fails every task of
the hour). The sensors' ticks are evaluated as the daemon runs them (`alert_times`, as for the
alerts), on the platform's real Dagster instance and store."""

import json

import dagster as dg
import pytest

from halo_platform.core.errors import NotFoundError
from halo_platform.definitions import defs
from halo_platform.reports.audit import get_request, list_requests
from halo_platform.reports.requests import dagster_instance
from halo_platform_tests.alerts.test_review_alerts_9 import SPEC_SECONDS, alert_times


def task_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    """A campaign_alerts run as the launchpad makes it (no audit row), not started."""
    job = defs.resolve_job_def("campaign_alerts_job")
    return instance.create_run_for_job(job, run_config={"ops": {"campaign_alerts": {"config": {}}}},
                                       tags={**job.tags, "dagster/user": "ana"}, status=dg.DagsterRunStatus.NOT_STARTED)


def fail(instance: dg.DagsterInstance, run: dg.DagsterRun, message: str = "warehouse marketing: connection refused") -> None:
    instance.report_run_failed(run, message)


@pytest.mark.parametrize(("sensor_name", "end", "status"), [
    ("task_request_failure_sensor", fail, "FAILED"),
    ("task_request_canceled_sensor", lambda instance, run: instance.report_run_canceled(run), "CANCELED"),
])
def test_task_runs_ending_at_once_are_each_recorded_within_a_minute(halo_env, store, sensor_name, end, status):
    """25 task runs failing at once: the last audit row was marked FAILED 75 s after its run
    failed, the Control Center and the API showing it QUEUED meanwhile (Dagster's run-status
    sensors hand a sensor 5 runs a tick, a tick every 15 s)."""
    instance = dagster_instance()
    runs: list[str] = []

    def end_runs() -> list[str]:
        for _ in range(25):
            run = task_run(instance)
            end(instance, run)
            runs.append(run.run_id)
        return runs

    def recorded() -> list[str]:
        return [request["request_id"] for request in list_requests(store, status=status, limit=100)]

    sent, ticks = alert_times(defs.resolve_sensor_def(sensor_name), instance, end_runs, recorded)
    assert max(sent.values()) < SPEC_SECONDS, f"last row {status} {max(sent.values()):.0f} s after its run ended"
    assert max(ticks) < 10


def one_tick(sensor_name: str, instance: dg.DagsterInstance, store, cursor: str | None) -> str | None:  # noqa: ANN001
    """The cursor a tick of the sensor `sensor_name` saved."""
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"store": store}) as context:
        return defs.resolve_sensor_def(sensor_name).evaluate_tick(context).cursor


def test_the_cursor_dagsters_run_failure_sensor_saved_is_taken_up_where_it_stopped(halo_env, store):
    """A deployment upgraded from the run_failure_sensor keeps its sensor's cursor (same name):
    the task runs that failed after it are recorded, the ones before it are not read again."""
    instance = dagster_instance()
    before, after = task_run(instance), task_run(instance)
    fail(instance, before)
    fail(instance, after)
    (seen,) = [r for r in instance.fetch_run_status_changes(dg.DagsterEventType.RUN_FAILURE, limit=10).records
               if r.run_id == before.run_id]
    saved = json.dumps({"__class__": "RunStatusSensorCursor", "record_id": seen.storage_id,
                        "record_timestamp": "2026-12-05T09:00:00+00:00", "update_timestamp": None})
    one_tick("task_request_failure_sensor", instance, store, saved)
    with pytest.raises(NotFoundError):  # no row: not read again
        get_request(store, before.run_id)
    request = get_request(store, after.run_id)
    assert (request["status"], request["error"]) == ("FAILED", "warehouse marketing: connection refused")


def test_a_run_failed_with_a_blank_message_is_recorded_run_failed_and_the_runs_after_it_too(halo_env, store):
    """A run failing with a message of white space alone (a worker killed mid-line) made the failure
    sensor's tick raise (IndexError): its row was never marked FAILED, nor, the tick's cursor never
    saved, the row of any task run failing after it. Its row now says 'run failed', as its alert does."""
    instance = dagster_instance()
    cursor = one_tick("task_request_failure_sensor", instance, store, None)
    blank, after = task_run(instance), task_run(instance)
    fail(instance, blank, "   ")
    fail(instance, after)
    one_tick("task_request_failure_sensor", instance, store, cursor)
    assert [(r["request_id"], r["status"], r["error"]) for r in list_requests(store)] == [
        (after.run_id, "FAILED", "warehouse marketing: connection refused"), (blank.run_id, "FAILED", "run failed")]
