"""Honest terminal states: a request ends SUCCEEDED only when every sink has its file;
SKIPPED_NO_DATA when the task sends nothing for an empty result; BLOCKED when a blocking check
(`dg.AssetCheckSpec(blocking=True)`) fails: nothing delivered, the run fails (not retried) and the
run-failure sensor alerts. States as the audit, the API, the CLI and the Control Center show them."""

from __future__ import annotations

import datetime as dt
import json
import sys
import textwrap
import uuid
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.errors import MAX_RETRIES_TAG
from halo_platform.http import create_app
from halo_platform.reports.assets import run_config, run_tags
from halo_platform.reports.audit import get_request, record_status
from halo_platform.reports.definitions import build_defs
from halo_platform.reports.demo import order, write_marketing, write_payments
from halo_platform.reports.requests import dagster_instance
from halo_platform.reports.task import TaskCheck, get_task
from halo_platform_tests.alerts.test_alerts import alert_tick
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.reports.test_requests import run_status_tick

GUARDED = textwrap.dedent('''
    """Orders per status, never delivered while a cancelled order is in it (a blocking check)."""
    from halo_platform.reports.task import Query, Task, TaskCheck, TaskConfig


    TASK = Task(
        name="guarded_orders",
        description="Orders per status; blocked by any cancelled order.",
        owner="team:finance",
        config=TaskConfig,
        queries={"orders": Query("payments", "SELECT status FROM orders")},
        transform="SELECT status, count(*) AS orders FROM orders GROUP BY status ORDER BY status",
        file_stem=lambda payload: "guarded_orders",
        count_by="status",
        checks=(TaskCheck("no_cancelled_orders", "No order is CANCELLED.", lambda counts: not counts.get("CANCELLED"),
                          severity="ERROR", blocking=True),),
    )
''')


@pytest.fixture
def guarded_orders(tmp_path, monkeypatch) -> dg.JobDefinition:  # noqa: ANN001
    """A task module with a blocking check, joined to the tasks package; its job."""
    import halo_platform.reports.tasks as package

    folder = tmp_path / "guarded_tasks"
    folder.mkdir()
    (folder / "guarded_orders.py").write_text(GUARDED)
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    yield build_defs().resolve_job_def("guarded_orders_job")
    sys.modules.pop("halo_platform.reports.tasks.guarded_orders", None)


def _run(job: dg.JobDefinition) -> dg.ExecuteInProcessResult:
    task = get_task("guarded_orders")
    return job.execute_in_process(run_config=run_config(task, {}), instance=dagster_instance(),
                                  tags=run_tags(task, "manual", "ana", {}), raise_on_error=False)


def test_a_failed_blocking_check_blocks_every_delivery_and_alerts(guarded_orders, warehouses, halo_env, store):
    home = Path(halo_env["HALO_HOME"])
    t = dt.datetime(2024, 3, 4)
    write_payments(warehouses["payments"], [order("A", "1.00", "PAID", t), order("B", "1.00", "CANCELLED", t)], [])
    result = _run(guarded_orders)

    request = get_request(store, result.run_id)
    assert (request["status"], request["error"]) == ("BLOCKED", "blocked by failed check(s): no_cancelled_orders")
    assert request["deliveries"] == [] and request["outputs"] == [] and request["row_count"] == 2
    assert not (home / "outbox").exists() or list((home / "outbox").iterdir()) == []
    (check,) = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed, check.severity) == ("no_cancelled_orders", False, dg.AssetCheckSeverity.ERROR)
    instance = dagster_instance()
    run = instance.get_run_by_id(result.run_id)
    assert run.status == dg.DagsterRunStatus.FAILURE  # Dagster's own blocking: the step fails after the check
    assert run.tags[MAX_RETRIES_TAG] == "0"  # the same data would block again

    run_status_tick("task_request_failure_sensor", instance, store, run.run_id, dg.DagsterEventType.RUN_FAILURE)
    alert_tick(instance, store)
    alerts = [json.loads(p.read_text()) for p in sorted((home / "alerts").iterdir())]
    assert {a["title"] for a in alerts} == {"run failed: guarded_orders_job", "check failed: guarded_orders no_cancelled_orders"}
    assert get_request(store, run.run_id)["status"] == "BLOCKED"  # the failure sensor does not overwrite it

    shown = authorized_client(create_app()).get(f"/v1/task-requests/{run.run_id}").json()
    assert (shown["status"], shown["deliveries"]) == ("BLOCKED", [])
    log = CliRunner().invoke(cli, ["tasks", "log", "--status", "blocked"])
    assert log.exit_code == 0 and run.run_id in log.stdout and "BLOCKED" in log.stdout

    write_payments(warehouses["payments"], [order("A", "1.00", "PAID", t)], [])  # the data fixed
    passed = get_request(store, _run(guarded_orders).run_id)
    assert passed["status"] == "SUCCEEDED"
    assert [(d["sink"], d["status"]) for d in passed["deliveries"]] == [("outbox", "DELIVERED")]
    assert (home / "outbox" / "guarded_orders.csv").read_text().splitlines() == ["status,orders", "PAID,1"]


def test_an_empty_result_of_a_task_that_sends_nothing_then_is_skipped_no_data_and_the_cli_exits_1(
        warehouses, halo_env, store):
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]), [], [])
    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", '{"as_of": "2024-05-10"}', "--wait"])
    assert result.exit_code == 1, result.output
    request_id, status, *rest = result.stdout.splitlines()
    assert status == "status: SKIPPED_NO_DATA" and rest == []
    request = get_request(store, request_id)
    assert (request["status"], request["row_count"], request["deliveries"], request["error"]) == ("SKIPPED_NO_DATA", 0, [], None)
    assert not (Path(halo_env["HALO_HOME"]) / "outbox").exists()


def test_a_blocking_check_must_be_an_error():
    with pytest.raises(ValueError, match="a blocking check has severity ERROR"):
        TaskCheck("c", "d", lambda counts: True, blocking=True)


def test_a_repeat_whose_cancel_failed_never_runs_nor_delivers_when_it_starts(guarded_orders, warehouses, halo_env, store):
    """An idempotent request's repeat is recorded CANCELED and its run canceled; when the cancel
    did not reach the webserver (`requests.cancel_run` only logs), the run starts later: it must
    find its request ended, deliver nothing, and leave no retry that would."""
    home = Path(halo_env["HALO_HOME"])
    write_payments(warehouses["payments"], [order("A", "1.00", "PAID", dt.datetime(2024, 3, 4))], [])
    task, run_id = get_task("guarded_orders"), str(uuid.uuid4())
    record_status(store, run_id, "CANCELED", task=task.name, requested_by="ana", error="a repeat of request r1 (same idempotency key): canceled")
    result = guarded_orders.execute_in_process(run_config=run_config(task, {}), instance=dagster_instance(), run_id=run_id,
                                               tags=run_tags(task, "manual", "ana", {}), raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert f"request {run_id} is CANCELED already: nothing ran" in failure.step_failure_data.error.message
    request = get_request(store, run_id)
    assert (request["status"], request["error"]) == ("CANCELED", "a repeat of request r1 (same idempotency key): canceled")
    assert request["deliveries"] == [] and request["outputs"] == [] and request["started_at"] is None
    assert not (home / "outbox").exists() or list((home / "outbox").iterdir()) == []
    assert dagster_instance().get_run_by_id(run_id).tags[MAX_RETRIES_TAG] == "0"  # no retry run either
