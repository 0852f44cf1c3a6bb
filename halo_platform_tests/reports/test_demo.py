"""`halo demo` seeds the three demo warehouses of config/warehouses.yaml (SQLite payments and
gateway, DuckDB marketing under $HALO_HOME) idempotently, with every issue and alert type."""

from __future__ import annotations

import datetime as dt
import re

from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.reports.requests import create_request
from halo_platform.reports.schedules import list_schedules
from halo_platform.reports.tasks.campaign_alerts import ALERTS
from halo_platform.reports.tasks.payment_reconciliation import ISSUES


def test_the_demo_is_idempotent_and_exercises_every_issue_and_alert_type(halo_env, store):
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(cli, ["demo"])
        assert result.exit_code == 0, result.output
    assert "reports: schedules seeded: already present" in result.output
    assert {(s["schedule_id"], s["cron"], s["timezone"]) for s in list_schedules(store)} == {
        ("payment_reconciliation_weekly", "0 6 * * 1", "Asia/Jakarta"),
        ("campaign_alerts_daily", "0 7 * * *", "Asia/Jakarta"),
    }
    seeded = dt.date.fromisoformat(re.search(r"\(week of (\S+)\)", result.output).group(1))
    reconciliation = create_request(store, "payment_reconciliation", {}, wait=True)  # default: the previous ISO week
    if reconciliation["stats"]["resolved_payload"]["period_start"] != seeded.isoformat():  # Monday 00:00 in Jakarta came since the demo
        period = {"period_start": seeded.isoformat(), "period_end": (seeded + dt.timedelta(days=7)).isoformat()}
        reconciliation = create_request(store, "payment_reconciliation", period, wait=True)
    assert reconciliation["status"] == "SUCCEEDED", reconciliation["error"]
    assert set(reconciliation["stats"]["counts"]) == set(ISSUES)
    alerts = create_request(store, "campaign_alerts", {}, wait=True)  # default: today in Asia/Jakarta
    assert alerts["status"] == "SUCCEEDED", alerts["error"]
    assert set(alerts["stats"]["counts"]) == set(ALERTS)
