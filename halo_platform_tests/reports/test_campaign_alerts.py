"""Campaign alerts: the EXPIRING window and the NEAR_BUDGET / OVER_BUDGET thresholds are
inclusive at their lower bound; spend after `as_of` and non-ACTIVE campaigns do not count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import dagster as dg

from halo_platform.reports.demo import campaign, write_marketing
from halo_platform.reports.requests import create_request, dagster_instance
from halo_platform.reports.tasks.campaign_alerts import message
from halo_platform_tests.reports.conftest import read_csv

AS_OF = dt.date(2024, 5, 10)


def spend(cid: str, amount: str, day: dt.date = AS_OF) -> dict:
    return {"campaign_id": cid, "spend_date": day, "amount": Decimal(amount)}


def seed(urls: dict) -> None:
    far = AS_OF + dt.timedelta(days=60)
    campaigns = [
        campaign("E0", AS_OF, "1000.00"),  # ends today: EXPIRING
        campaign("E3", AS_OF + dt.timedelta(days=3), "1000.00"),  # ends in 3 days: EXPIRING
        campaign("E4", AS_OF + dt.timedelta(days=4), "1000.00"),  # ends in 4 days: quiet
        campaign("EP", AS_OF - dt.timedelta(days=1), "1000.00"),  # ended yesterday: quiet
        campaign("N90", far, "1000.00"),  # exactly 90%: NEAR_BUDGET
        campaign("N89", far, "1000.00"),  # 89.999%: quiet
        campaign("N99", far, "1000.00"),  # 99.999%: NEAR_BUDGET
        campaign("O100", far, "1000.00"),  # exactly 100%: OVER_BUDGET (not NEAR)
        campaign("OX", AS_OF + dt.timedelta(days=1), "500.00"),  # over budget and ending: both
        campaign("F", far, "1000.00"),  # 50% to date, 110% counting tomorrow: quiet
        campaign("P", AS_OF, "100.00", status="PAUSED"),  # not ACTIVE: quiet
    ]
    spends = [
        spend("N90", "900.00"), spend("N89", "899.99"), spend("N99", "999.99"),
        spend("O100", "400.00", AS_OF - dt.timedelta(days=5)), spend("O100", "600.00"),
        spend("OX", "600.00"), spend("F", "500.00"), spend("F", "600.00", AS_OF + dt.timedelta(days=1)),
        spend("P", "1000.00"),
    ]
    write_marketing(Path(urls["marketing"].split("duckdb:///", 1)[1]), campaigns, spends)


def test_alerts_respect_every_boundary_and_the_over_budget_check_warns(warehouses, halo_env, store):
    seed(warehouses)
    request = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, wait=True)
    assert request["status"] == "SUCCEEDED", request["error"]
    rows = read_csv(Path(halo_env["HALO_HOME"]) / "outbox" / "campaign_alerts_2024-05-10.csv")
    assert list(rows[0]) == ["campaign_id", "name", "owner_email", "alert", "end_date", "budget", "spend", "spend_pct"]
    assert [(r["campaign_id"], r["alert"], r["spend"], r["spend_pct"]) for r in rows] == [
        ("E0", "EXPIRING", "0.00", "0.00"),
        ("E3", "EXPIRING", "0.00", "0.00"),
        ("N90", "NEAR_BUDGET", "900.00", "90.00"),
        ("N99", "NEAR_BUDGET", "999.99", "100.00"),
        ("O100", "OVER_BUDGET", "1000.00", "100.00"),
        ("OX", "EXPIRING", "600.00", "120.00"),
        ("OX", "OVER_BUDGET", "600.00", "120.00"),
    ]
    assert rows[0]["owner_email"] == "owner.e0@example.com" and rows[0]["end_date"] == "2024-05-10"
    assert request["stats"]["counts"] == {"EXPIRING": 3, "NEAR_BUDGET": 2, "OVER_BUDGET": 2}

    evaluations = dagster_instance().get_records_for_run(
        request["request_id"], of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    (evaluation,) = [e.event_log_entry.dagster_event.event_specific_data for e in evaluations]
    assert evaluation.check_name == "no_campaign_over_budget"
    assert evaluation.passed is False and evaluation.severity == dg.AssetCheckSeverity.WARN


def test_a_lower_threshold_and_a_longer_window_widen_the_alerts(warehouses, halo_env, store):
    seed(warehouses)
    request = create_request(store,
        "campaign_alerts", {"as_of": "2024-05-10", "expiring_within_days": 4, "budget_threshold_pct": 50}, wait=True
    )
    rows = read_csv(Path(halo_env["HALO_HOME"]) / "outbox" / "campaign_alerts_2024-05-10.csv")
    alerts = {(r["campaign_id"], r["alert"]) for r in rows}
    assert {("E4", "EXPIRING"), ("F", "NEAR_BUDGET"), ("N89", "NEAR_BUDGET")} <= alerts
    assert request["stats"]["counts"]["NEAR_BUDGET"] == 4


def test_nothing_is_sent_when_there_is_nothing_to_report(warehouses, halo_env, store):
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]),
                    [campaign("Q", AS_OF + dt.timedelta(days=30), "1000.00")], [spend("Q", "10.00")])
    request = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, wait=True)
    assert request["status"] == "SKIPPED_NO_DATA"  # honest: not a green SUCCEEDED for a report nobody got
    assert request["row_count"] == 0 and request["deliveries"] == [] and request["outputs"] == []
    assert not (Path(halo_env["HALO_HOME"]) / "outbox").exists()


def test_the_message_lists_each_alert_on_its_own_line():
    text = message(
        [{"alert": "OVER_BUDGET", "name": "Spring", "campaign_id": "C1", "end_date": "2024-05-11",
          "spend": "600.00", "budget": "500.00", "spend_pct": "120.00"}],
        {"as_of": "2024-05-10"},
    )
    assert text.splitlines() == [
        "1 campaign alert(s) as of 2024-05-10:",
        "- OVER_BUDGET: Spring (C1) ends 2024-05-11, spent 600.00 of 500.00 (120.00%)",
    ]
