"""reports.md: one alert per failed run, within 60 s, also when many runs fail at once (a warehouse
down fails every task of the hour). The sensor's ticks are evaluated as the daemon runs them, on a
real instance (run-sharded SQLite, as under `dagster dev`), with quick sinks: a Slack webhook (a
real HTTP server on 127.0.0.1 answering in 50 ms) and the `alerts` folder.

The daemon's clock is modelled, its work is real: the daemon looks at its sensors every 5 s
(`MIN_INTERVAL_LOOP_TIME` of Dagster's sensor daemon) and evaluates one whose minimum interval has
passed since its last tick began; the runs fail at 0 s, just after a tick began, the worst case.
A run's alert is sent when the tick that sent it ends."""

import json
import time
from collections.abc import Callable

import dagster as dg
import pytest
import yaml

from halo_platform.alerts.sensors import asset_check_alert_sensor, run_failure_alert_sensor
from halo_platform.core.store import StoreResource
from halo_platform.sinks import SinksResource
from halo_platform_tests.alerts.test_alerts import ledger, ledger_balances
from halo_platform_tests.alerts.test_hung_alert_sinks import alerted_runs, failing_job

DAEMON_LOOP_SECONDS = 5
SPEC_SECONDS = 60


@pytest.fixture
def quick_sinks(halo_env, http_fake, tmp_path, monkeypatch):
    """HALO_ALERTS=ops_slack,alerts; yields (the Slack fake, the folder of `alerts`)."""
    http_fake.add_route("POST", "/slack", lambda request: (200, "ok"))
    http_fake.set_switches(latency_seconds=0.05)
    sinks_file = tmp_path / "sinks.yaml"
    folder = tmp_path / "alerts"
    sinks_file.write_text(yaml.safe_dump({"sinks": {
        "ops_slack": {"kind": "slack", "webhook_url": f"{http_fake.url}/slack"},
        "alerts": {"kind": "folder", "path": str(folder)},
    }}))
    monkeypatch.setenv("HALO_SINKS_FILE", str(sinks_file))
    monkeypatch.setenv("HALO_ALERTS", "ops_slack,alerts")
    return http_fake, folder


def next_tick(began: float, took: float, interval: float) -> float:
    """When the daemon begins the sensor's next tick: at its first look at its sensors at least
    `interval` after the last tick began (it looks again 5 s after it last looked, or once the tick is over)."""
    at = began + max(DAEMON_LOOP_SECONDS, took)
    while at < began + interval:
        at += DAEMON_LOOP_SECONDS
    return at


def alert_times(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, fail_runs: Callable[[], list[str]],
                alerted: Callable[[], list[str]]) -> tuple[dict[str, float], list[float]]:
    """(seconds after the runs ended, all at once, at which each one's alerts were sent, how long
    each tick took), over three minutes of the daemon's clock."""

    def tick(cursor: str | None) -> tuple[str | None, float]:
        began = time.monotonic()
        with dg.build_sensor_context(instance=instance, cursor=cursor,
                                     resources={"sinks": SinksResource(), "store": StoreResource()}) as context:
            return sensor.evaluate_tick(context).cursor, time.monotonic() - began

    cursor, took = tick(None)  # the sensor starts after the runs it has already seen
    runs = fail_runs()
    sent: dict[str, float] = {}
    durations = []
    at = next_tick(0.0, took, sensor.minimum_interval_seconds)
    while at < 3 * SPEC_SECONDS:
        cursor, took = tick(cursor)
        durations.append(took)
        for run_id in alerted():
            sent.setdefault(run_id, at + took)
        at = next_tick(at, took, sensor.minimum_interval_seconds)
    assert sorted(sent) == sorted(runs)  # each run alerted
    return sent, durations


@pytest.mark.parametrize("failed", [25, 50])
def test_runs_failing_at_once_are_each_alerted_once_within_a_minute(quick_sinks, failed):
    """25 runs failing at once: the last alert went out 75 s after its run failed. Dagster's
    run_failure_sensor hands the sensor 5 runs a tick, and the sensor ticked every 15 s."""
    slack, folder = quick_sinks

    with dg.instance_for_test() as instance:
        sent, ticks = alert_times(run_failure_alert_sensor, instance, lambda: [
            failing_job.execute_in_process(instance=instance, raise_on_error=False).run_id for _ in range(failed)],
            lambda: alerted_runs(folder))
        assert max(sent.values()) < SPEC_SECONDS, f"last alert {max(sent.values()):.0f} s after its run failed"
        assert max(ticks) < 10  # well under Dagster's 60 s sensor timeout
    assert len(alerted_runs(folder)) == failed and len(slack.requests) == failed  # each alert once to each sink
    assert sorted(r.json()["text"].split("run: ")[1].split("\n")[0] for r in slack.requests.snapshot()) == sorted(sent)


def test_failed_checks_of_runs_succeeding_at_once_are_each_alerted_once_within_a_minute(quick_sinks):
    """25 runs succeeding at once, each with a failed ERROR check: the last check's alert went out
    75 s after its run ended (Dagster's run_status_sensor, 5 runs a tick, as the run-failure one)."""
    slack, folder = quick_sinks

    with dg.instance_for_test() as instance:
        sent, ticks = alert_times(asset_check_alert_sensor, instance, lambda: [
            dg.materialize([ledger, ledger_balances], instance=instance).run_id for _ in range(25)], lambda: alerted_runs(folder))
        assert max(sent.values()) < SPEC_SECONDS, f"last alert {max(sent.values()):.0f} s after its run ended"
        assert max(ticks) < 10
    assert len(alerted_runs(folder)) == 25 and len(slack.requests) == 25  # each alert once to each sink


def test_the_cursor_dagsters_run_failure_sensor_saved_is_taken_up_where_it_stopped(quick_sinks):
    """A deployment upgraded from the run_failure_sensor keeps its sensor's cursor (same name):
    the runs that failed after it are alerted, the ones before it are not alerted again."""
    slack, folder = quick_sinks
    with dg.instance_for_test() as instance:
        before, after = (failing_job.execute_in_process(instance=instance, raise_on_error=False).run_id for _ in range(2))
        (seen,) = [r for r in instance.fetch_run_status_changes(dg.DagsterEventType.RUN_FAILURE, limit=10).records
                   if r.run_id == before]
        saved = json.dumps({"__class__": "RunStatusSensorCursor", "record_id": seen.storage_id,
                            "record_timestamp": "2026-12-05T09:00:00+00:00", "update_timestamp": None})
        with dg.build_sensor_context(instance=instance, cursor=saved,
                                     resources={"sinks": SinksResource(), "store": StoreResource()}) as context:
            tick = run_failure_alert_sensor.evaluate_tick(context)
    assert alerted_runs(folder) == [after]
    assert tick.skip_message == "1 run failed; alerts: 2 delivered" and len(slack.requests) == 1
