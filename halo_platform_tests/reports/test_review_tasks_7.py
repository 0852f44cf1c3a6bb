"""Review of report tasks (tasks7): ids typed differently in two warehouses."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.core.store import StoreResource
from halo_platform.http import create_app
from halo_platform.reports.demo import order, payment, write_payments
from halo_platform.reports.requests import create_request
from halo_platform_tests.reports.conftest import read_csv

START = dt.datetime(2024, 3, 4, 9, 30)


def _signed_in(store: StoreResource) -> TestClient:
    """An admin's Control Center client (user ada); a 500 is an answer, not an exception."""
    from halo_platform.access import users

    client = TestClient(create_app({"store": store}), raise_server_exceptions=False, follow_redirects=False)
    client.cookies.set("halo_session", users.login(store, "ada", "a long enough password", "test"))
    return client


def _integer_settlements(url: str, rows: list[tuple[str, int, str]]) -> None:
    """The gateway's settlements with BIGINT payment ids (the payments warehouse keeps TEXT ones)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS settlements"))
            conn.execute(sa.text("CREATE TABLE settlements (settlement_id VARCHAR(64) PRIMARY KEY, payment_id BIGINT,"
                                 " amount NUMERIC(12,2), fee NUMERIC(12,2), currency VARCHAR(3), settled_at TIMESTAMP NULL)"))
            for sid, pid, amount in rows:
                conn.execute(sa.text("INSERT INTO settlements VALUES (:s, :p, :a, 1.00, 'IDR', :t)"),
                             {"s": sid, "p": pid, "a": amount, "t": START + dt.timedelta(days=1)})
    finally:
        engine.dispose()


def test_ids_a_warehouse_keeps_as_integers_are_compared_as_text_with_the_others(warehouses, halo_env, store):
    """A gateway keeping payment ids as integers (1001) settles the payments warehouse's payment
    '1001' and no other: the join cast the text ids to integers, so payment '01002' was taken as
    settled by settlement 1002 (a settlement of another payment), and a payment id that is no
    number ('P-7') failed the whole request with DuckDB's conversion error."""
    write_payments(warehouses["payments"],
                   [order("O1", "10.00", "PAID", START), order("O2", "20.00", "PAID", START), order("O3", "30.00", "PAID", START)],
                   [payment("1001", "O1", "10.00", START), payment("01002", "O2", "20.00", START),
                    payment("P-7", "O3", "30.00", START)])
    _integer_settlements(warehouses["gateway"], [("S1", 1001, "10.00"), ("S2", 1002, "20.00")])
    request = create_request(store, "payment_reconciliation", {"period_start": "2024-03-04", "period_end": "2024-03-11"},
                             wait=True)
    assert request["status"] == "SUCCEEDED", request["error"]
    rows = read_csv(Path(halo_env["HALO_HOME"]) / "outbox" / "payment_reconciliation_2024-03-04_2024-03-11.csv")
    assert [(r["order_id"], r["payment_id"], r["issue"]) for r in rows] == [
        ("O2", "01002", "MISSING_SETTLEMENT"), ("O3", "P-7", "MISSING_SETTLEMENT")]


def test_a_schedules_date_stored_in_basic_iso_form_is_shown_as_the_date_input_takes_it(halo_env, store):
    """`halo schedules set --payload '{"as_of": "20240105"}'` is a valid date (ISO basic form) and
    was stored as written (it is now stored as 2024-01-05); the edit page put that text in its `<input type="date">`, which a browser
    empties (a date input holds YYYY-MM-DD only), so saving the page to change the cron dropped the
    schedule's as_of without a word. The page shows each payload value in its wire form."""
    from halo_platform.access import users
    from halo_platform.reports.schedules import list_schedules, set_schedule

    users.create_user(store, "ada", "admin", "a long enough password")
    set_schedule(store, "alerts", task="campaign_alerts", cron="0 7 * * *", payload={"as_of": "20240105"},
                 sinks=["outbox"], updated_by="cli:ada")
    client = _signed_in(store)
    page = client.get("/ui/schedules/alerts")
    assert page.status_code == 200, page.text[:300]
    shown = re.search(r'<input id="payload.as_of" name="payload.as_of" value="([^"]*)"', page.text)
    assert shown and shown.group(1) == "2024-01-05", shown and shown.group(0)
    # saved as the browser sends the page back, with a new cron: the schedule keeps its as_of
    csrf = users.session(store, client.cookies["halo_session"]).csrf_token
    saved = client.post("/ui/schedules/alerts", data={"csrf_token": csrf, "cron": "0 9 * * *", "timezone": "Asia/Jakarta",
                                                      "sinks": "outbox", "enabled": "on", "catch_up": "latest",
                                                      "payload.as_of": shown.group(1)})
    assert saved.status_code == 303, saved.text[:300]
    (schedule,) = list_schedules(store)
    assert (schedule["cron"], schedule["payload"]) == ("0 9 * * *", {"as_of": "2024-01-05"})  # stored in its wire form


def test_a_scheduled_run_naming_a_sink_the_sinks_file_no_longer_has_still_delivers_to_the_others(
        warehouses, halo_env, sinks_file, store, tmp_path):  # noqa: ANN001
    """reports.md: delivery is per sink and independent, one sink failing never stops the others.
    A schedule set to deliver to outbox and partner, whose partner sink was then removed from the
    sinks file (a deploy), failed its whole run before the queries ('unknown sink(s): partner'):
    the finance team's outbox got no report either. Now that sink alone fails (recorded), the
    others get the file, and the request ends FAILED naming it."""
    from halo_platform.core.instance import dagster_instance
    from halo_platform.reports.audit import get_request
    from halo_platform.reports.definitions import defs
    from halo_platform.reports.schedules import Due
    from halo_platform.reports.sensors import run_request_for
    from halo_platform.sinks import SinksResource
    from halo_platform_tests.reports.test_reconciliation import seed_two_servers

    seed_two_servers(warehouses)
    outbox = Path(halo_env["HALO_HOME"]) / "outbox"
    sinks_file({"outbox": {"kind": "folder", "path": str(outbox)}, "alerts": {"kind": "folder", "path": str(tmp_path / "alerts")},
                "partner": {"kind": "folder", "path": str(tmp_path / "partner")}})
    tick = dt.datetime(2024, 3, 11, 6, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    due = Due("weekly", "payment_reconciliation", tick, "Asia/Jakarta",
              {"period_start": "2024-03-04", "period_end": "2024-03-11"}, ["outbox", "partner"])
    launched = run_request_for(due, SinksResource().names_check())
    sinks_file({"outbox": {"kind": "folder", "path": str(outbox)}, "alerts": {"kind": "folder", "path": str(tmp_path / "alerts")}})
    result = defs.resolve_job_def("payment_reconciliation_job").execute_in_process(
        run_config=launched.run_config, tags=launched.tags, instance=dagster_instance(), raise_on_error=False)
    assert not result.success
    request = get_request(store, result.run_id)
    assert request["status"] == "FAILED"
    assert (outbox / "payment_reconciliation_2024-03-04_2024-03-11.csv").is_file()
    assert {d["sink"]: d["status"] for d in request["deliveries"]} == {"outbox": "DELIVERED", "partner": "FAILED"}
    assert "partner" in request["error"] and request["outputs"], request


def test_a_spend_row_without_a_date_makes_its_campaigns_spend_unknown_not_smaller(warehouses, halo_env, store):
    """campaign_alerts sums spend to as_of; a spend row the warehouse has no date for (NULL) was
    left out by `spend_date <= as_of`, so a campaign that had spent 600.00 of its 500.00 budget,
    100.00 of it undated, was judged at 500.00... and one at 450.00 + 100.00 undated at 90% only.
    Like a spend row without an amount, it makes the spend unknown: no budget alert is judged on
    a part of it, and the request ends FAILED naming the campaign."""
    from decimal import Decimal

    from halo_platform.reports.demo import campaign, write_marketing

    as_of = dt.date(2024, 5, 10)
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]), [campaign("C1", as_of + dt.timedelta(days=60), "500.00")],
                    [{"campaign_id": "C1", "spend_date": as_of, "amount": Decimal("450.00")},
                     {"campaign_id": "C1", "spend_date": None, "amount": Decimal("100.00")}])
    request = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, wait=True)
    assert request["status"] == "FAILED", request
    assert request["error"] == (
        "campaign_alerts: 1 row(s) could not be judged: ACTIVE campaign C1: 1 spend row(s) have no date:"
        " its spend to 2024-05-10 is unknown, NEAR_BUDGET and OVER_BUDGET not judged")
    assert request["row_count"] == 0 and request["deliveries"] == []


def test_a_long_request_id_is_cut_in_its_404(halo_env):  # noqa: ARG001
    """GET /v1/task-requests/<5,000 characters> repeated the whole id in its 404 body (and log line);
    it is cut to the echo limit, as every other error cuts what the caller sent."""
    from halo_platform.core.text import ECHO_LIMIT
    from halo_platform.http import create_app
    from halo_platform_tests.fixtures.access import authorized_client

    client = authorized_client(create_app(), "tasks:read", raise_server_exceptions=False)
    answer = client.get("/v1/task-requests/" + "r" * 5000)
    assert answer.status_code == 404, answer.text
    error = answer.json()["error"]
    assert error.startswith("no task request 'rrr") and error.endswith("…'") and len(error) < ECHO_LIMIT + 40, len(error)
    assert client.get("/v1/task-requests/a%00b").json()["error"] == "no task request 'a\\x00b'"
