"""Review of the alerts' Dagster side: a failing sensor's alert, as the daemon evaluates the sensor
(in the code location workspace.yaml names, from more than one process); the task schedule
sensor's reading of the sinks file; what the autopilot reported, as the next cycle reads it."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
from dagster._core.workspace.load import location_origins_from_yaml_paths
from dagster._grpc.impl import get_external_sensor_execution

from halo_platform import sinks
from halo_platform.core.store import StoreResource
from halo_platform.definitions import defs
from halo_platform.delivery.autopilot import set_manual
from halo_platform.reports.schedules import set_schedule
from halo_platform_tests.alerts.test_review_ticks18 import failing_tick, feeds, instance, sensor_alerts, tick  # noqa: F401
from halo_platform_tests.delivery.conftest import halo_store, providers_file  # noqa: F401 - fixtures
from halo_platform_tests.delivery.test_jobs import sandbox  # noqa: F401 - fixture
from halo_platform_tests.fixtures.alerts import alerts_sent
from halo_platform_tests.reports.conftest import sinks_file, store  # noqa: F401 - fixtures
from halo_platform_tests.reports.test_schedules import ScheduleSensor, next_hour

SENSOR = "emr_landing_sensor"


def test_the_failing_sensor_alert_links_to_the_sensor_in_the_location_workspace_yaml_names(feeds, instance, tmp_path):  # noqa: F811
    """A deployment's workspace.yaml may name the code location (`location_name`): the daemon evaluates
    the sensor in that location, and the alert's link is the sensor's page there, as the UI spells it."""
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text("load_from:\n  - python_module:\n      module_name: halo_platform.definitions\n"
                         "      location_name: halo prod/eu\n")
    (origin,) = location_origins_from_yaml_paths([str(workspace)])
    feeds(good=False)
    evaluated = get_external_sensor_execution(defs.get_repository_def(), origin, instance.get_ref(), SENSOR,
                                              None, None, None, None, None)
    assert "invalid feed name" in evaluated.error.to_string()
    (alert,) = sensor_alerts(SENSOR)
    assert alert["details"]["link"] == f"http://127.0.0.1:3000/locations/halo%20prod%2Feu/sensors/{SENSOR}"


def tick_in_a_new_process() -> None:
    """One tick of the EMR landing sensor in another process (the webserver's code server testing the
    sensor while the daemon's ticks it), in the test's environment: prints how it ended."""
    with dg.instance_for_test() as its_own:
        try:
            tick(its_own, SENSOR)
        except dg.Failure:
            print("failed")
        else:
            print("succeeded")


def _tick_elsewhere() -> str:
    code = "from halo_platform_tests.alerts.test_review_alerts20 import tick_in_a_new_process; tick_in_a_new_process()"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr[-2000:]
    return other.stdout.strip()


def test_an_episode_ended_or_started_in_another_process_is_alerted_here(feeds, instance):  # noqa: F811
    """Two processes evaluate the same sensor. A success in the other ends the episode this one
    alerted: this one's next failure alerts. A failure the other alerted, then a success here, then a
    failure here: alerted again. (Each process remembered its own ticks: both failures went unalerted.)"""
    feeds(good=False)
    failing_tick(instance, SENSOR)
    assert len(sensor_alerts(SENSOR)) == 1
    feeds(good=True)
    assert _tick_elsewhere() == "succeeded"
    feeds(good=False)
    failing_tick(instance, SENSOR)
    assert len(sensor_alerts(SENSOR)) == 2

    feeds(good=True)
    tick(instance, SENSOR)
    feeds(good=False)
    assert _tick_elsewhere() == "failed"
    assert len(sensor_alerts(SENSOR)) == 3
    feeds(good=True)
    tick(instance, SENSOR)
    feeds(good=False)
    failing_tick(instance, SENSOR)
    assert len(sensor_alerts(SENSOR)) == 4


def test_ticks_failing_at_once_alert_once(feeds, instance, migrated_pg_url):  # noqa: F811
    """Ticks of one sensor failing at the same moment (the daemon's and a test of the sensor in the UI)
    on PostgreSQL: each sees no episode, one inserts it and alerts, the others are refused: one alert."""
    pg_store = StoreResource(db_url=migrated_pg_url)
    feeds(good=False)
    start = threading.Barrier(6)

    def fail() -> None:
        start.wait()
        failing_tick(instance, SENSOR, pg_store)

    threads = [threading.Thread(target=fail) for _ in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(sensor_alerts(SENSOR)) == 1
    finally:
        pg_store.dispose()


def test_the_schedule_sensor_reads_the_sinks_file_once_a_tick_and_sees_it_change_between_ticks(
        halo_env, store, sinks_file, monkeypatch):  # noqa: F811
    """Each run due at a tick had its sinks checked against the sinks file read and parsed again (200
    schedules due at 07:00: 200 readings, 3.4 s of a 60 s tick): one reading a tick now. A sink taken
    out of the file before the next tick skips the schedules naming it; put back, they run."""
    folders = {name: {"kind": "folder", "path": str(Path(halo_env["HALO_HOME"], name))} for name in ("outbox", "alerts", "partner")}
    path = sinks_file(folders)
    schedules = [f"s{i}" for i in range(4)]
    for schedule_id in schedules:
        set_schedule(store, schedule_id, task="campaign_alerts", cron="*/5 * * * *", timezone="UTC", sinks=["outbox", "partner"])
    readings = []
    read_yaml = sinks.read_yaml
    monkeypatch.setattr(sinks, "read_yaml", lambda file, *args: readings.append(file) or read_yaml(file, *args))
    evaluate, hour = ScheduleSensor(store, monkeypatch), next_hour()

    def ticked(at: dt.timedelta, due: dt.timedelta) -> list[str]:
        readings.clear()
        return [key.removesuffix(f":{(hour + due).isoformat()}") for key in evaluate(hour + at)]

    assert ticked(dt.timedelta(seconds=10), dt.timedelta()) == schedules
    assert [Path(file) for file in readings] == [path]
    sinks_file({k: v for k, v in folders.items() if k != "partner"})
    assert ticked(dt.timedelta(minutes=5, seconds=10), dt.timedelta(minutes=5)) == []  # (and alerted: the alerts read it too)
    sinks_file(folders)
    assert ticked(dt.timedelta(minutes=5, seconds=40), dt.timedelta(minutes=5)) == schedules
    assert [Path(file) for file in readings] == [path]


def test_what_the_autopilot_reported_is_read_from_a_structured_value_not_from_its_display_text(sandbox, halo_store, instance):  # noqa: F811
    """Each autopilot cycle leaves alerted what the previous provider_health materialization says is
    down: it was read back by splitting the text shown in the UI ('sms/*/*, sms/FR/*' or 'none'), so a
    reworded display would alert every outage at every cycle. It is a JSON value of lists now; a
    materialization made before it is still read from its text."""
    job = defs.resolve_job_def("autopilot_job")
    key = dg.AssetKey("provider_health")

    def outage_alerts() -> int:
        return sum(alert["title"] == "every provider is down for sms/*/*" for alert in alerts_sent())

    for provider in ("sms_a", "sms_b"):
        set_manual(sandbox.config(), provider, True, "ops", "maintenance", halo_store)
    assert job.execute_in_process(instance=instance).success
    assert outage_alerts() == 1

    # the display reworded (as a later version may show it): what was reported is still known
    reported = dg.MetadataValue.json({"rules_down": ["sms/*/*"], "routes_unserved": []})
    instance.report_runless_asset_event(dg.AssetMaterialization(key, metadata={
        "rules_down": "1 rule: sms/*/* (2 providers off)", "routes_unserved": "-", "reported": reported}))
    assert job.execute_in_process(instance=instance).success
    assert outage_alerts() == 1
    assert instance.get_latest_materialization_event(key).asset_materialization.metadata["reported"] == reported

    # a materialization of an earlier version: its text alone
    instance.report_runless_asset_event(dg.AssetMaterialization(key, metadata={"rules_down": "sms/*/*", "routes_unserved": "none"}))
    assert job.execute_in_process(instance=instance).success
    assert outage_alerts() == 1
