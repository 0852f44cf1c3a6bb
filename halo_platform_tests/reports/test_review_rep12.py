"""Task requests sent again with their idempotency key: a re-execution of the run that stopped as
a repeat is a re-execution of the request it repeats; and `halo tasks run --wait` killed."""

from __future__ import annotations

import dagster as dg

from halo_platform.reports.assets import run_config, run_tags
from halo_platform.reports.audit import get_request
from halo_platform.reports.definitions import defs
from halo_platform.reports.requests import create_request, dagster_instance
from halo_platform.reports.task import get_task
from halo_platform_tests.reports.test_requests import _seed_marketing
from halo_platform_tests.reports.test_review_requests_9 import _wait_for_row, run_wait_held_at_its_webhook


def test_a_re_execution_of_a_run_that_stopped_as_a_repeat_does_not_deliver_the_request_again(
        warehouses, halo_env, sinks_file, store, tmp_path):
    """The run recorded second of a request sent again with its key stops as a repeat (CANCELED,
    nothing delivered). Re-executing it (the Dagster UI's re-execute: a new run with its tags, whose
    root run is the repeat's) made a request whose root was the repeat, which had delivered nothing:
    the report went out again to the sink the first request had reached. The repeat stands for the
    request it repeats: its re-execution is one of that request, and a sink gets its output once."""
    _seed_marketing(warehouses)
    outbox = tmp_path / "outbox"
    sinks_file({"outbox": {"kind": "folder", "path": str(outbox)}})
    # no rearm window: the same alert may go out again, the same request's output may not
    payload = {"as_of": "2024-05-10", "rearm_hours": 0, "sinks": ["outbox"]}
    first = create_request(store, "campaign_alerts", payload, requested_by="ops", wait=True, idempotency_key="may-10")
    assert [(d["sink"], d["status"]) for d in first["deliveries"]] == [("outbox", "DELIVERED")]
    (delivered,) = outbox.iterdir()
    delivered.unlink()  # the partner took the file away: a second delivery would put one back

    instance = dagster_instance()
    task = get_task("campaign_alerts")
    repeat_run = defs.resolve_job_def("campaign_alerts_job").execute_in_process(
        run_config=run_config(task, payload), instance=instance, raise_on_error=False,
        tags=run_tags(task, "api", "ops", payload, "may-10"))
    repeat = get_request(store, repeat_run.run_id)
    assert (repeat["status"], repeat["deliveries"], repeat["root_request_id"]) == ("CANCELED", [], first["request_id"])

    with dg.execute_job(dg.reconstructable(_campaign_alerts_job), instance, raise_on_error=False,
                        tags=instance.get_run_by_id(repeat_run.run_id).tags,
                        reexecution_options=dg.ReexecutionOptions.from_failure(repeat_run.run_id, instance)) as again:
        reexecuted = get_request(store, again.run_id)
    assert (reexecuted["status"], reexecuted["trigger"], reexecuted["root_request_id"], reexecuted["deliveries"]) == (
        "SUCCEEDED", "retry", first["request_id"], [])
    assert reexecuted["outputs"] == first["outputs"]
    assert list(outbox.iterdir()) == []


def test_halo_tasks_run_wait_killed_with_sigkill_ends_its_request_canceled(warehouses, halo_env, store, http_fake, sinks_file,
                                                                           tmp_path):
    """With --wait the command runs the run in its own process; killed (SIGKILL, the OOM killer) while
    its webhook sink's receiver had the POST, nothing else runs that run: its request stayed RUNNING
    and its Dagster run STARTED for good. The run carries the process's id and host; once that process
    is gone, the audit sensor ends both CANCELED, saying why."""
    halo, posted, release = run_wait_held_at_its_webhook(warehouses, http_fake, sinks_file, tmp_path)
    try:
        assert posted.wait(120), "the run never posted to the webhook"
        halo.kill()
        halo.communicate(timeout=60)
    finally:
        release.set()
    running = _wait_for_row(store, "RUNNING")
    instance = dagster_instance()
    sensor = defs.resolve_sensor_def("task_request_abandoned_sensor")
    with dg.build_sensor_context(instance=instance, resources={"store": store}) as context:
        assert sensor(context).skip_message == "1 task run of a process gone: canceled"
    request = get_request(store, running["request_id"])
    assert (request["status"], request["error"]) == (
        "CANCELED", f"its process (`halo tasks run --wait`, pid {halo.pid}) ended before its run finished")
    assert request["finished_at"] and request["deliveries"] == []
    assert instance.get_run_by_id(running["request_id"]).status == dg.DagsterRunStatus.CANCELED
    with dg.build_sensor_context(instance=instance, resources={"store": store}) as context:
        assert sensor(context).skip_message == "0 task runs of a process gone: canceled"


def _campaign_alerts_job() -> dg.JobDefinition:
    return defs.resolve_job_def("campaign_alerts_job")
