"""The report domain's Dagster objects exist with the names, tags and metadata the UI shows."""

from __future__ import annotations

import dagster as dg

from halo_platform.definitions import defs


def test_every_task_has_an_asset_and_a_tagged_job_and_the_sensors_exist():
    for task, owner in (("payment_reconciliation", "team:finance"), ("campaign_alerts", "team:marketing")):
        job = defs.resolve_job_def(f"{task}_job")
        assert job.tags["owner"] == owner and job.tags["domain"] == "reports" and job.tags["halo/task"] == task
        asset = defs.resolve_assets_def(task)
        key = dg.AssetKey(task)
        assert asset.group_names_by_key[key] == "reports" and asset.owners_by_key[key] == [owner]
        assert asset.descriptions_by_key[key]
    (check,) = defs.resolve_assets_def("campaign_alerts").check_specs
    assert check.name == "no_campaign_over_budget" and check.metadata["halo/alert"] is True
    manage = defs.resolve_job_def("manage_task_schedule")
    assert manage.tags["domain"] == "reports" and manage.tags["owner"]
    for name in ("task_schedule_sensor", "task_request_queued_sensor", "task_request_started_sensor",
                 "task_request_failure_sensor", "task_request_canceled_sensor"):
        sensor = defs.resolve_sensor_def(name)
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_sensor_def("task_schedule_sensor").minimum_interval_seconds <= 30
