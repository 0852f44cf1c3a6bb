"""Adding a task is adding one module to halo_platform/reports/tasks/: here a third task,
written to a folder that joins the package's discovery path, shows up in the task list,
the definitions (asset + job with its tags), the CLI and schedule validation, and runs."""

from __future__ import annotations

import datetime as dt
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.definitions import defs as core_defs
from halo_platform.reports.assets import run_config, run_tags
from halo_platform.reports.definitions import build_defs
from halo_platform.reports.demo import order, write_payments
from halo_platform.reports.requests import dagster_instance
from halo_platform.reports.schedules import set_schedule
from halo_platform.reports.task import get_task, load_tasks
from halo_platform_tests.reports.conftest import read_csv

MODULE = textwrap.dedent('''
    """Orders per currency for one status: a task with a pure Python transform."""
    from halo_platform.reports.task import Query, Task, TaskConfig


    class OrderCountsConfig(TaskConfig):
        status: str = "PAID"


    def count_by_currency(con, payload):
        return con.sql("SELECT currency, count(*) AS orders FROM orders GROUP BY currency ORDER BY currency").to_arrow_table()


    TASK = Task(
        name="order_counts",
        description="Orders per currency for one status.",
        owner="team:finance",
        config=OrderCountsConfig,
        queries={"orders": Query("payments", "SELECT currency FROM orders WHERE status = :status",
                                 lambda payload: {"status": payload["status"]})},
        transform=count_by_currency,
        file_stem=lambda payload: f"order_counts_{payload['status'].lower()}",
    )
''')


@pytest.fixture
def third_task(tmp_path, monkeypatch):  # noqa: ANN001
    import halo_platform.reports.tasks as package

    folder = tmp_path / "more_tasks"
    folder.mkdir()
    (folder / "order_counts.py").write_text(MODULE)
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    yield "order_counts"
    sys.modules.pop("halo_platform.reports.tasks.order_counts", None)


def test_a_third_task_module_appears_and_runs_with_no_other_edit(third_task, warehouses, halo_env, store):
    assert set(load_tasks()) == {"payment_reconciliation", "campaign_alerts", "order_counts"}
    merged = dg.Definitions.merge(core_defs, build_defs())
    dg.Definitions.validate_loadable(merged)
    job = merged.resolve_job_def("order_counts_job")
    assert {k: job.tags[k] for k in ("owner", "domain", "halo/task")} == {
        "owner": "team:finance", "domain": "reports", "halo/task": "order_counts"}
    assert merged.resolve_assets_def("order_counts").owners_by_key[dg.AssetKey("order_counts")] == ["team:finance"]
    assert "order_counts\tteam:finance" in CliRunner().invoke(cli, ["tasks", "list"]).stdout
    set_schedule(store, "order_counts_daily", task="order_counts", cron="0 5 * * *", payload={"status": "PENDING"})

    t = dt.datetime(2024, 3, 4)
    write_payments(warehouses["payments"], [
        order("A", "1.00", "PAID", t), order("B", "1.00", "PAID", t, currency="USD"),
        order("C", "1.00", "PAID", t), order("D", "1.00", "PENDING", t),
    ], [])
    task = get_task("order_counts")
    payload = {"status": "PAID"}
    result = job.execute_in_process(run_config=run_config(task, payload), instance=dagster_instance(),
                                    tags=run_tags(task, "manual", "test", payload))
    assert result.success
    rows = read_csv(Path(halo_env["HALO_HOME"]) / "outbox" / "order_counts_paid.csv")
    assert rows == [{"currency": "IDR", "orders": "2"}, {"currency": "USD", "orders": "1"}]
