"""Campaign alerts: the EXPIRING window and the NEAR_BUDGET / OVER_BUDGET thresholds are
inclusive at their lower bound; spend after `as_of` and non-ACTIVE campaigns do not count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from halo_platform.reports.demo import campaign, write_marketing
from halo_platform.reports.requests import create_request, dagster_instance
from halo_platform.reports.task import PayloadError, get_task
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


def test_an_over_budget_campaign_with_no_name_or_a_zero_budget_is_named_in_the_check_and_the_message(
        warehouses, halo_env, store):
    """The check's failing rows and the message say which campaign is over budget. A campaign with no
    name (the schema allows NULL) or a zero budget (no percentage) made DuckDB's `||` NULL: the check
    said '2 row(s) failing no_campaign_over_budget: None; None', naming neither campaign, and the
    message read 'None (C1) ends None ... (None%)'. A value the warehouse does not have is left out."""
    far = AS_OF + dt.timedelta(days=60)
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]),
                    [{**campaign("NN", far, "500.00"), "name": None}, campaign("Z0", far, "0.00")],
                    [spend("NN", "600.00"), spend("Z0", "10.00")])
    request = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, wait=True)
    assert request["stats"]["counts"] == {"OVER_BUDGET": 2}
    evaluations = dagster_instance().get_records_for_run(
        request["request_id"], of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    (evaluation,) = [e.event_log_entry.dagster_event.event_specific_data for e in evaluations]
    assert evaluation.description == ("2 row(s) failing no_campaign_over_budget: campaign NN: spent 600.00 of 500.00"
                                      " (120.00%); campaign Z0 (Campaign Z0): spent 10.00 of 0.00")
    text = message([{"alert": "OVER_BUDGET", "name": None, "campaign_id": "NN", "end_date": None,
                     "spend": "600.00", "budget": "500.00", "spend_pct": "120.00"},
                    {"alert": "OVER_BUDGET", "name": "Campaign Z0", "campaign_id": "Z0", "end_date": "2024-07-09",
                     "spend": "10.00", "budget": "0.00", "spend_pct": None}], {"as_of": "2024-05-10"})
    assert text.splitlines()[1:] == ["- OVER_BUDGET: NN, spent 600.00 of 500.00 (120.00%)",
                                     "- OVER_BUDGET: Campaign Z0 (Z0) ends 2024-07-09, spent 10.00 of 0.00"]


def test_a_budget_or_spend_the_warehouse_does_not_have_fails_the_request_naming_it_after_the_other_alerts_went_out(
        warehouses, halo_env, store):
    """5000.00 spent against a NULL budget is neither under nor over it (in SQL the comparison is
    unknown, and the request ended SKIPPED_NO_DATA: nothing to report). The alerts that can be
    judged still go out; then the request ends FAILED (so it alerts), its error naming each
    campaign that could not be judged. A spend row without an amount makes the spend unknown too
    (a sum would silently leave it out)."""
    far = AS_OF + dt.timedelta(days=60)
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]), [
        {**campaign("NB", far, "100.00"), "budget": None},  # 5000.00 spent, no budget
        {**campaign("NBE", AS_OF, "100.00"), "budget": None},  # no budget, ends today: EXPIRING still goes out
        campaign("NS", far, "100.00"),  # 200.00 known, one spend row without an amount
        campaign("OK", AS_OF, "100.00"),  # EXPIRING
    ], [spend("NB", "5000.00"), spend("NS", "200.00"), {**spend("NS", "1.00"), "amount": None}])
    request = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, wait=True)
    assert request["status"] == "FAILED"
    assert request["error"] == (
        "campaign_alerts: 3 row(s) could not be judged: ACTIVE campaign NB has no budget: NEAR_BUDGET and OVER_BUDGET"
        " not judged; ACTIVE campaign NBE has no budget: NEAR_BUDGET and OVER_BUDGET not judged; ACTIVE campaign NS:"
        " 1 spend row(s) to 2024-05-10 have no amount: its spend is unknown, NEAR_BUDGET and OVER_BUDGET not judged")
    assert [(d["sink"], d["status"]) for d in request["deliveries"]] == [("outbox", "DELIVERED")]
    rows = read_csv(Path(halo_env["HALO_HOME"]) / "outbox" / "campaign_alerts_2024-05-10.csv")
    assert [(r["campaign_id"], r["alert"], r["budget"], r["spend"], r["spend_pct"]) for r in rows] == [
        ("NBE", "EXPIRING", "", "0.00", ""), ("OK", "EXPIRING", "100.00", "0.00", "0.00")]
    assert request["row_count"] == 2 and request["stats"]["counts"] == {"EXPIRING": 2}


def test_a_campaign_spending_a_hundred_thousand_times_its_budget_is_reported_with_the_others(warehouses, halo_env, store):
    """spend_pct was cast to DECIMAL(9,2): 10,000,000.00% (100,000.00 spent of 1.00, both within
    the schema's NUMERIC(12,2)) failed the whole request, and every other campaign's alert with it."""
    far = AS_OF + dt.timedelta(days=60)
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]), [
        campaign("C1", far, "0.01"), campaign("C2", far, "1.00"), campaign("C3", far, "10.00"),
    ], [spend("C1", "9999999999.99"), spend("C1", "9999999999.99"), spend("C2", "100000.00"), spend("C3", "20.00")])
    request = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, wait=True)
    assert request["status"] == "SUCCEEDED", request["error"]
    rows = read_csv(Path(halo_env["HALO_HOME"]) / "outbox" / "campaign_alerts_2024-05-10.csv")
    assert [(r["campaign_id"], r["alert"], r["spend"], r["spend_pct"]) for r in rows] == [
        ("C1", "OVER_BUDGET", "19999999999.98", "199999999999800.00"),
        ("C2", "OVER_BUDGET", "100000.00", "10000000.00"),
        ("C3", "OVER_BUDGET", "20.00", "200.00"),
    ]


@pytest.mark.parametrize(("threshold", "spent", "expected"), [
    (0.00001, None, []),  # nothing spent is not 0.00001% of 1,000,000.00 (0.10): rounded to 0.0000, it was
    (0.00001, "0.10", ["NEAR_BUDGET"]),
    (99.99999, "999999.90", ["NEAR_BUDGET"]),  # exactly 99.99999%: rounded to 100.0000, it was not
    (99.99999, "999999.89", []),
    (99.9999999999, "999999.99", []),  # 99.999999%
    ("87.5", "875000.00", ["NEAR_BUDGET"]),
    (100, "999999.99", []),
])
def test_the_budget_threshold_is_compared_exactly_as_given(warehouses, halo_env, store, threshold, spent, expected):
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]),
                    [campaign("C1", AS_OF + dt.timedelta(days=60), "1000000.00")], [spend("C1", spent)] if spent else [])
    request = create_request(store, "campaign_alerts", {"as_of": "2024-05-10", "budget_threshold_pct": threshold},
                             wait=True)
    assert request["status"] == ("SUCCEEDED" if expected else "SKIPPED_NO_DATA"), request["error"]
    assert request["stats"]["counts"] == dict.fromkeys(expected, 1)


@pytest.mark.parametrize("threshold", [1e-11, 12.34567890123, 5e-324])
def test_a_budget_threshold_with_more_decimals_than_can_be_compared_exactly_is_refused_by_name(threshold):
    with pytest.raises(PayloadError) as caught:
        get_task("campaign_alerts").validate_payload({"budget_threshold_pct": threshold})
    assert caught.value.detail == [{"field": "budget_threshold_pct", "reason": "at most 10 decimal places"}]
