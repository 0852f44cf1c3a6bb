"""A re-execution (the UI's "re-execute from failure") is a new run with a parent: the asset
records it in `task_requests` as trigger `retry`, keyed by its own run id, next to the
failed original."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg

from halo_platform.reports.audit import get_request
from halo_platform.reports.demo import campaign, write_marketing
from halo_platform.reports.requests import create_request, dagster_instance


def campaign_alerts_job() -> dg.JobDefinition:
    from halo_platform.definitions import defs

    return defs.resolve_job_def("campaign_alerts_job")


def test_a_re_execution_of_a_failed_request_is_recorded_as_a_retry(warehouses, halo_env, sinks_file, tmp_path, store):
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]),
                    [campaign("C1", dt.date(2024, 5, 11), "100.00")], [])
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    sinks_file({"outbox": {"kind": "folder", "path": str(blocker / "outbox")}})
    failed = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, wait=True)
    assert failed["status"] == "FAILED"
    assert [(d["sink"], d["status"], d["attempts"]) for d in failed["deliveries"]] == [("outbox", "FAILED", 1)]

    sinks_file({"outbox": {"kind": "folder", "path": str(tmp_path / "outbox")}})  # the fix
    instance = dagster_instance()
    result = dg.execute_job(
        dg.reconstructable(campaign_alerts_job), instance,
        reexecution_options=dg.ReexecutionOptions.from_failure(failed["request_id"], instance),
    )
    assert result.success
    retry = get_request(store, result.run_id)
    assert (retry["status"], retry["trigger"], retry["task"]) == ("SUCCEEDED", "retry", "campaign_alerts")
    assert retry["payload"] == failed["payload"] == {"as_of": "2024-05-10"}  # its run config's, as the request records it
    assert (tmp_path / "outbox" / "campaign_alerts_2024-05-10.csv").exists()
    assert get_request(store, failed["request_id"])["status"] == "FAILED"
