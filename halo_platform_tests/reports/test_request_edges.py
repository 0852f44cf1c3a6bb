"""Edges of a task request and a schedule edit that no earlier test took: who is recorded as
asking or editing (a column of 255 characters on every store), sinks given both beside the
payload and in it, a cron written with other spacing, a money amount of minus zero."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.http import create_app
from halo_platform.reports.audit import get_request
from halo_platform.reports.schedules import list_schedules, schedule_edits, set_schedule
from halo_platform.reports.sensors import evaluate_schedules, record_run_outcome
from halo_platform.reports.task import get_task
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.reports.test_requests import _request_count

PAYLOAD = '{"as_of": "2024-05-10"}'



@pytest.mark.parametrize(("who", "why"), [("x" * 256, "at most 255 characters"), ("ana\nbob", "control character U+000A"),
                                          ("a\x00b", "control character U+0000")])
def test_a_requester_name_no_store_keeps_on_one_line_is_refused_before_anything_is_queued(submitting, on_store, who, why):
    """`--requested-by` of 300 characters was submitted to Dagster, then refused by PostgreSQL's
    VARCHAR(255): a queued run with no audit row, and `error: value too long` with exit 1; a
    newline split the audit log's line; a NUL came back as the webserver's PythonError."""
    queued = dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED])
    with submitting.instance() as instance:
        before = instance.get_runs_count(queued)
    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", PAYLOAD, "--requested-by", who])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: requested_by: {why} (1 to 255 characters on one line)\n"
    with submitting.instance() as instance:
        assert instance.get_runs_count(queued) == before
    assert _request_count(on_store) == 0


def test_a_schedule_editor_name_no_store_keeps_is_refused_in_one_line_and_nothing_is_saved(on_store):
    """`halo schedules set ... --by` of 300 characters failed on PostgreSQL with the driver's
    `value too long` and exit 1 (SQLite kept it whole); a newline split the `set` output."""
    for who, why in (("y" * 256, "at most 255 characters"), ("ana\nbob", "control character U+000A")):
        result = CliRunner().invoke(cli, ["schedules", "set", "weekly", "--task", "campaign_alerts", "--cron", "0 6 * * 1",
                                          "--by", who])
        assert result.exit_code == 2, result.output
        assert result.stderr == f"error: updated_by: {why} (1 to 255 characters on one line)\n"
    assert list_schedules(on_store) == []
    made = CliRunner().invoke(cli, ["schedules", "set", "weekly", "--task", "campaign_alerts", "--cron", "0 6 * * 1",
                                    "--by", "y" * 255])
    assert made.exit_code == 0, made.output
    assert list_schedules(on_store)[0]["updated_by"] == "y" * 255


def test_sinks_given_beside_the_payload_and_in_it_differently_are_refused_not_one_dropped(halo_env, store):
    """reports.md's body has `sinks` beside `payload`, and a task's payload has `sinks` too: given
    both, differently, the one beside the payload won and the other was dropped without a word
    (a sink the caller named, `nowhere` included, silently not sent). Refused naming both; the
    same list twice, or an empty one in the payload (the task's default), is taken."""
    client = authorized_client(create_app())
    url = "/v1/tasks/campaign_alerts/requests"
    refused = client.post(url, json={"payload": {"as_of": "2024-05-10", "sinks": ["alerts"]}, "sinks": ["outbox"]})
    assert refused.status_code == 422, refused.text
    reason = "given twice: ['outbox'] beside the payload and ['alerts'] in it; give one list"
    assert refused.json() == {"error": f"campaign_alerts: invalid payload: sinks: {reason}",
                              "detail": [{"field": "sinks", "reason": reason}]}
    cli_refused = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--sink", "outbox", "--payload",
                                           '{"sinks": ["nowhere"]}'])
    assert cli_refused.exit_code == 2
    assert cli_refused.stderr == ("error: campaign_alerts: invalid payload: sinks: given twice: ['outbox'] beside the payload"
                                  " and ['nowhere'] in it; give one list\n")
    assert _request_count(store) == 0

    from halo_platform.reports.requests import prepare_request

    for inner in (["outbox"], []):
        _, payload = prepare_request("campaign_alerts", {"sinks": inner}, ["outbox"])
        assert payload == {"sinks": ["outbox"]}


def test_the_same_cron_written_with_other_spacing_is_no_edit_and_owes_its_due_tick(halo_env, store):
    """A cron was stored as given: `0\\t*\\t*\\t*\\t*` split `halo schedules list`'s tab-separated
    columns, a trailing newline its line, and the same times typed again with other spacing counted
    as a new cron: an edit in the history and, worse, a retiming that moves the schedule's position
    to the edit, so the tick due in the seconds before the sensor's next evaluation never ran."""
    set_schedule(store, "hourly", task="campaign_alerts", cron="0\t*\t*\t*  *\n", timezone="UTC", updated_by="ana")
    assert list_schedules(store)[0]["cron"] == "0 * * * *"
    listed = CliRunner().invoke(cli, ["schedules", "list"]).stdout
    assert listed.splitlines()[0].split("\t")[:4] == ["hourly", "campaign_alerts", "0 * * * *", "UTC"]

    now = dt.datetime.now(dt.UTC)
    tick = now.replace(minute=0, second=0, microsecond=0)  # the latest tick: due, not decided yet
    with store.write() as conn:
        conn.execute(sa.text("UPDATE task_schedules SET last_tick_at = :t"), {"t": (tick - dt.timedelta(hours=1)).replace(tzinfo=None)})
    set_schedule(store, "hourly", cron=" 0 * * * * ", updated_by="bob")
    assert [e["changed_by"] for e in schedule_edits(store, "hourly")] == ["ana"]
    assert [r.run_key for r in evaluate_schedules(store, now, None)[0]] == [f"hourly:{tick.isoformat()}"]


@pytest.mark.parametrize("zero", ["-0", -0.0, "-0.00", "0", 0])
def test_a_money_amount_of_minus_zero_is_zero(zero):
    """`-0` passed `ge=0` and was carried as `-0.00`: shown so in the audit and the launchpad, and
    a repeat of the same request with `0` and one Idempotency-Key was a 409."""
    assert get_task("payment_reconciliation").wire_payload({"tolerance": zero}) == {"tolerance": "0.00"}


def test_an_edit_refused_for_its_editor_is_a_halo_error(halo_env, store):
    with pytest.raises(HaloError, match="updated_by"):
        set_schedule(store, "weekly", task="campaign_alerts", cron="0 6 * * 1", updated_by="")


@pytest.mark.parametrize(("who", "recorded"), [("x" * 300, "x" * 254 + "…"), ("ana\nbob", "ana bob"), ("nul\x00byte", "nul byte")],
                         ids=["too-long", "line-break", "nul"])
def test_a_launchpad_requester_no_column_takes_is_recorded_on_one_line_that_fits(on_store, who: str, recorded: str):
    """A run launched from Dagster's launchpad may carry any `halo/requested_by` tag: 300 characters
    or a NUL made PostgreSQL refuse the sensors' and the run's audit row (a sensor failing every
    tick, a run failing before its task), a line break split `halo tasks log`'s line."""
    run_id = "0b6f1d2e-5a8c-4e7f-9b1a-3c2d4e5f6a7b"
    run = dg.DagsterRun(job_name="payment_reconciliation_job", run_id=run_id,
                        tags={"halo/task": "payment_reconciliation", "halo/requested_by": who})
    record_run_outcome(on_store, dg.DagsterInstance.ephemeral(), run, "QUEUED")
    assert get_request(on_store, run_id)["requested_by"] == recorded
