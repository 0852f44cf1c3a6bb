"""Task requests against reports.md, a third review: what a re-execution reports, a DAGSTER_UI_URL
that is no URL, the alert of a run launched from the launchpad, a sink that failed for good."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.http import create_app
from halo_platform.reports.audit import get_request, requests_t
from halo_platform.reports.demo import campaign, write_marketing
from halo_platform.reports.requests import create_request, dagster_instance
from halo_platform_tests.alerts.test_alerts import alert_tick
from halo_platform_tests.fixtures.access import authorized_client


def campaign_alerts_job() -> dg.JobDefinition:
    from halo_platform.definitions import defs

    return defs.resolve_job_def("campaign_alerts_job")


def _over_budget_campaign(warehouses: dict) -> None:
    """An ACTIVE campaign over its budget since 2024-05-01: an OVER_BUDGET alert on any later day."""
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]),
                    [campaign("C1", dt.date(2099, 1, 1), "100.00")],
                    [{"campaign_id": "C1", "spend_date": dt.date(2024, 5, 1), "amount": Decimal("150.00")}])


def test_a_re_execution_days_later_sends_the_report_of_the_day_the_request_was_made(
        warehouses, halo_env, sinks_file, tmp_path, store):
    """reports.md: a re-executed run "delivers only to the sinks that have not yet received that
    request's output". A request with no `as_of` reports as of the day it was made; re-executed
    once its failed sink was fixed (here: its audit row says it was made on 2024-05-10), the
    re-execution resolved `today` anew: the fixed sink got `campaign_alerts_<the day of the fix>.csv`,
    another report than the one the other sinks had, and the request listed both files."""
    _over_budget_campaign(warehouses)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    sinks = {"outbox": {"kind": "folder", "path": str(tmp_path / "outbox")},
             "partner": {"kind": "folder", "path": str(blocker / "partner")}}
    sinks_file(sinks)
    failed = create_request(store, "campaign_alerts", {}, sinks=list(sinks), wait=True)
    assert [(d["sink"], d["status"]) for d in failed["deliveries"]] == [("outbox", "DELIVERED"), ("partner", "FAILED")]
    made = dt.datetime(2024, 5, 10, 3, tzinfo=dt.UTC)  # 10:00 in Asia/Jakarta: the request's day is 2024-05-10
    with store.write() as conn:  # the request as made days ago: what a re-execution the next week finds
        conn.execute(sa.update(requests_t).where(requests_t.c.request_id == failed["request_id"]).values(created_at=made))

    sinks["partner"]["path"] = str(tmp_path / "partner")  # the fix
    sinks_file(sinks)
    instance = dagster_instance()
    with dg.execute_job(dg.reconstructable(campaign_alerts_job), instance, raise_on_error=False,
                        reexecution_options=dg.ReexecutionOptions.from_failure(failed["request_id"], instance)) as result:
        retry = get_request(store, result.run_id)
    assert [(d["sink"], d["status"]) for d in retry["deliveries"]] == [("partner", "DELIVERED")]
    assert retry["stats"]["resolved_payload"]["as_of"] == "2024-05-10"
    assert [p.name for p in (tmp_path / "partner").iterdir()] == ["campaign_alerts_2024-05-10.csv"]


@pytest.mark.parametrize("url", ["localhost:3000", "127.0.0.1:3000", "http://127.0.0.1:port", "http://[::1", "ftp://127.0.0.1:3000"])
def test_a_dagster_ui_url_that_is_no_http_url_is_one_line_and_a_503_not_a_traceback_or_a_500(halo_env, store, monkeypatch, url):
    """DAGSTER_UI_URL written without its scheme (`localhost:3000`, a common slip) made the GraphQL
    client raise its own CheckError: `halo tasks run` printed a stack trace with exit 1, and the API
    answered 500 to every request. Said as the webserver not reachable at that URL, as when it is down."""
    monkeypatch.setenv("DAGSTER_UI_URL", url)
    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", '{"as_of": "2024-05-10"}'])
    why = (f"could not submit the run to the Dagster webserver at {url}: DAGSTER_UI_URL must be its http(s) URL,"
           " such as http://127.0.0.1:3000")
    assert (result.exit_code, result.output) == (2, f"error: {why}\n")
    answer = authorized_client(create_app(), raise_server_exceptions=False).post(
        "/v1/tasks/campaign_alerts/requests", json={"payload": {"as_of": "2024-05-10"}})
    assert (answer.status_code, answer.json()) == (503, {"error": why, "detail": None})
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(requests_t)).scalar() == 0


def test_a_failed_run_launched_from_the_launchpad_alerts_with_its_payload(halo_env, store):
    """reports.md: the run-failure alert carries a "payload summary". A run launched from the Dagster
    UI launchpad has its payload in its run config and none of the request tags the API and the
    CLI set (`halo/payload`): its alert had no payload at all, the typo that failed it unseen."""
    job = campaign_alerts_job()
    config = {"as_of": "2024-05-10", "budget_threshold_pct": 150.0}
    instance = dagster_instance()
    result = job.execute_in_process(run_config={"ops": {"campaign_alerts": {"config": config}}}, instance=instance,
                                    tags={"dagster/user": "ana"}, raise_on_error=False)
    assert not result.success
    alert_tick(instance, store)
    (alert,) = [json.loads(f.read_text()) for f in (Path(halo_env["HALO_HOME"]) / "alerts").iterdir()]
    assert alert["details"]["task"] == "campaign_alerts"
    assert json.loads(alert["details"]["payload"])["budget_threshold_pct"] == 150.0
    assert "budget_threshold_pct: Input should be less than or equal to 100" in alert["error"]


def test_a_sink_that_failed_for_good_is_not_retried_by_the_instance_nor_an_email_sent_again(
        warehouses, halo_env, sinks_file, smtp_server, store):
    """A permanent sink failure (a refused recipient, bad credentials) is not retried: the sink gives
    up at once, and `PermanentSinkError` says a retry cannot fix it. The run failed retryable all
    the same, and the instance's run retries (dagster.yaml: 2) ran it again twice: the email the
    server had taken for owner@ (refused for gone@ alone) went to owner@ three times, and three
    alerts went out for one failure. A failure a retry may fix (the server down) is still retried."""
    _over_budget_campaign(warehouses)
    email = {"kind": "email", "host": "127.0.0.1", "port": smtp_server.port, "sender": "r@example.com",
             "to": ["owner@example.com", "gone@example.com"]}
    sinks_file({"outbox": {"kind": "folder", "path": str(Path(halo_env["HALO_HOME"]) / "outbox")}, "owners": email})
    smtp_server.switches.rcpt_replies = {"gone@example.com": "550 5.1.1 <gone@example.com>: no such user"}
    failed = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, ["outbox", "owners"], wait=True)
    assert [(d["sink"], d["status"]) for d in failed["deliveries"]] == [("outbox", "DELIVERED"), ("owners", "FAILED")]
    assert [m.rcpt_tos for m in smtp_server.messages.snapshot()] == [["owner@example.com"]]
    assert dagster_instance().get_run_by_id(failed["request_id"]).tags["dagster/will_retry"] == "false"

    sinks_file({"owners": {**email, "port": 1}})  # nothing listens: a retry may find it up
    down = create_request(store, "campaign_alerts", {"as_of": "2024-05-10", "rearm_hours": 0}, ["owners"], wait=True)
    assert [(d["sink"], d["status"]) for d in down["deliveries"]] == [("owners", "FAILED")]
    assert dagster_instance().get_run_by_id(down["request_id"]).tags["dagster/will_retry"] == "true"
