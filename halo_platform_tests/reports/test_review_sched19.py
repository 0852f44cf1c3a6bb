"""Task schedules and typed payloads at their edges (sched19): a cron step of 0 refused by every
entry point, money errors that say what is wrong, a schedule's payload stored as it is shown and
run (each failed before its fix); and a retimed schedule running its new cron's next tick."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import dagster as dg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.core.store import StoreResource
from halo_platform.reports.definitions import defs
from halo_platform.reports.schedules import Due, list_schedules, next_runs, schedule_edits, schedules_t, set_schedule
from halo_platform.reports.sensors import evaluate_schedules, run_request_for
from halo_platform.reports.task import PayloadError, get_task
from halo_platform.sinks import SinksResource
from halo_platform_tests.fixtures.access import control_center

PASSWORD = "a long enough password"


@pytest.fixture
def operator(halo_env, store: StoreResource) -> Iterator[TestClient]:  # noqa: ANN001, ARG001
    """An operator's Control Center client (a session and its CSRF token); a 500 is an answer."""
    users.create_user(store, "otto", "operator", PASSWORD)
    with control_center(store, "otto", PASSWORD) as client:
        yield client


# --- a cron step of 0 ------------------------------------------------------------------------------

STEP_OF_ZERO = [
    ("0-0/0 * * * *", "minute '0-0/0': a step is 1 to 59"),
    ("0 6-6/0 * * *", "hour '6-6/0': a step is 1 to 23"),
    ("0 6 1-1/00 * *", "day '1-1/00': a step is 1 to 30"),
    ("*/00 * * * *", "minute '*/00': a step is 1 to 59"),
    ("5-5/90 * * * *", "minute '5-5/90': a step is 1 to 59"),
]


@pytest.mark.parametrize(("cron", "reason"), STEP_OF_ZERO)
def test_a_cron_step_out_of_range_is_refused_by_the_cli_not_stored_as_another_cron(halo_env, store, cron, reason):
    """`halo schedules set s --cron '0-0/0 * * * *'` stored `0 * * * *` (a range of one value is
    written as that value, its step dropped) and said nothing: the step of 0 was never checked.
    The CLI says one line naming the field and stores nothing."""
    answer = CliRunner().invoke(cli, ["schedules", "set", "s", "--task", "campaign_alerts", "--cron", cron, "--timezone", "UTC"])
    assert (answer.exit_code, answer.output) == (2, f"error: invalid cron expression {cron!r}: {reason}\n")
    assert list_schedules(store) == []


@pytest.mark.parametrize(("cron", "reason"), STEP_OF_ZERO[:2])
def test_a_cron_step_of_zero_is_refused_by_the_launchpad_edit_and_the_control_center(halo_env, store, operator, cron, reason):
    """The `manage_task_schedule` job and the Control Center's form refuse it with the same message,
    beside the form's cron field; the schedule keeps its cron."""
    set_schedule(store, "s", task="campaign_alerts", cron="0 7 * * *", timezone="UTC")
    with pytest.raises(HaloError) as refused:
        set_schedule(store, "s", cron=cron)
    assert str(refused.value) == f"invalid cron expression {cron!r}: {reason}"
    job = defs.resolve_job_def("manage_task_schedule")
    result = job.execute_in_process(run_config={"ops": {"edit_task_schedule": {"config": {"schedule_id": "s", "cron": cron}}}},
                                    instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    assert f"invalid cron expression {cron!r}: {reason}" in result.failure_data_for_node("edit_task_schedule").error.message
    page = operator.post("/ui/schedules/s", data={"csrf_token": operator.csrf, "cron": cron, "timezone": "UTC",
                                                  "sinks": "outbox", "enabled": "on", "catch_up": "latest"})
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html"), page.text[:300]
    assert "a step is 1 to" in page.text
    assert list_schedules(store)[0]["cron"] == "0 7 * * *"


# --- money errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("amount", "reason"), [
    ("1.123456789012345", "at most 2 decimal places, got 15"),  # was "no more than 14 digits in total"
    ("1e-30", "at most 2 decimal places, got 30"),  # likewise
    ("0.001", "at most 2 decimal places, got 3"),
    ("123456789012345", "at most 12 digits before the decimal point, got 15"),  # was "14 digits in total"
    ("1e20", "at most 12 digits before the decimal point, got 21"),
    ("1e400", "at most 12 digits before the decimal point, got 401"),  # was "Input should be a finite number"
    ("1234567890123.4", "at most 12 digits before the decimal point, got 13"),
    ("1234567890123.456", "at most 12 digits before the decimal point, got 13; at most 2 decimal places, got 3"),
])
def test_each_money_error_says_which_side_of_the_point_is_too_long(amount, reason):
    """Money is DECIMAL(14,2): 12 digits before the point, 2 after. pydantic's `max_digits` said "no
    more than 14 digits in total" of an amount with too many decimals, which sent the user after
    the wrong fix (fewer digits, where only the decimals were at fault)."""
    with pytest.raises(PayloadError) as refused:
        get_task("payment_reconciliation").validate_payload({"tolerance": amount})
    assert refused.value.detail == [{"field": "tolerance", "reason": reason}]


@pytest.mark.parametrize("amount", ["NaN", "-Infinity", "inf"])
def test_an_amount_that_is_no_finite_number_is_refused_as_such(amount):
    with pytest.raises(PayloadError) as refused:
        get_task("payment_reconciliation").validate_payload({"tolerance": amount})
    assert refused.value.detail == [{"field": "tolerance", "reason": "Input should be a finite number"}]


@pytest.mark.parametrize(("amount", "carried"), [("1.100", "1.10"), ("999999999999.99", "999999999999.99"), ("0E-40", "0.00"),
                                                 ("1.5e1", "15.00"), (12, "12.00")])
def test_amounts_that_fit_are_still_carried_to_the_cent(amount, carried):
    assert get_task("payment_reconciliation").wire_payload({"tolerance": amount}) == {"tolerance": carried}


def test_the_cli_says_the_money_error_in_one_line(halo_env):
    answer = CliRunner().invoke(cli, ["tasks", "run", "payment_reconciliation", "--payload", '{"tolerance": "0.1000000000000001"}'])
    assert (answer.exit_code, answer.output) == (
        2, "error: payment_reconciliation: invalid payload: tolerance: at most 2 decimal places, got 16\n")


# --- a schedule's payload as stored, shown and run -------------------------------------------------

GIVEN = {"tolerance": "10.5", "period_start": "20240101", "period_end": "2024-01-08", "format": "xlsx"}
WIRE = {"tolerance": "10.50", "period_start": "2024-01-01", "period_end": "2024-01-08", "format": "xlsx"}


def _run_of_next_tick(store: StoreResource) -> dg.RunRequest:
    (row,) = list_schedules(store)
    tick = next_runs(row["cron"], row["timezone"], count=1)[0]
    due = Due(row["schedule_id"], row["task"], tick, row["timezone"], row["payload"], row["sinks"])
    return run_request_for(due, SinksResource().names_check())


def test_a_schedules_payload_is_stored_in_the_form_it_is_shown_and_run(halo_env, store):
    """`halo schedules set --payload '{"tolerance": "10.5", "period_start": "20240101"}'` stored the
    text as given: `halo schedules list` and the edit history said 10.5 and 20240101, the run and its
    audit row 10.50 and 2024-01-01. The payload is stored as the task's schema reads it."""
    answer = CliRunner().invoke(cli, ["schedules", "set", "weekly", "--task", "payment_reconciliation", "--cron", "0 6 * * 1",
                                      "--timezone", "UTC", "--payload", json.dumps(GIVEN)])
    assert answer.exit_code == 0, answer.output
    assert f"payload={json.dumps(WIRE, sort_keys=True)}" in answer.output
    assert list_schedules(store)[0]["payload"] == WIRE
    assert schedule_edits(store, "weekly")[0]["after"]["payload"] == WIRE
    run = _run_of_next_tick(store)
    assert run.run_config["ops"]["payment_reconciliation"]["config"] == {**WIRE, "sinks": ["outbox"]}
    assert json.loads(run.tags["halo/payload"]) == {**WIRE, "sinks": ["outbox"]}
    set_schedule(store, "weekly", payload={**GIVEN, "tolerance": 10.50})  # the same payload written another way: no edit
    assert len(schedule_edits(store, "weekly")) == 1


def test_a_payload_stored_before_as_given_still_loads_runs_and_is_stored_normalised_at_its_next_edit(halo_env, store):
    """Rows written before keep their text until an edit: they list, build their run (in the wire
    form) and show on the Control Center; the next edit validated stores the payload normalised, and
    its history says so."""
    set_schedule(store, "weekly", task="payment_reconciliation", cron="0 6 * * 1", timezone="UTC", payload=WIRE)
    with store.write() as conn:
        conn.execute(schedules_t.update().values(payload=GIVEN))
    assert list_schedules(store)[0]["payload"] == GIVEN
    assert _run_of_next_tick(store).run_config["ops"]["payment_reconciliation"]["config"] == {**WIRE, "sinks": ["outbox"]}
    listed = CliRunner().invoke(cli, ["schedules", "list"])
    assert listed.exit_code == 0 and "weekly\tpayment_reconciliation" in listed.output, listed.output
    set_schedule(store, "weekly", cron="0 7 * * 1")
    assert list_schedules(store)[0]["payload"] == WIRE
    assert schedule_edits(store, "weekly")[0]["changed"] == ["cron", "payload"]


# --- a retimed schedule ----------------------------------------------------------------------------

@pytest.mark.parametrize("edit", [{"cron": "30 * * * *"}, {"timezone": "Asia/Kolkata"}, {"cron": "45 */2 * * *", "timezone": "Asia/Kolkata"}])
def test_a_retimed_schedule_runs_the_next_tick_of_its_new_cron(halo_env, store, edit):
    """reports.md: a changed cron takes effect at the next sensor tick. A retime moves the schedule's
    position to the edit (ticks before it are not owed), never past the new cron's next tick."""
    set_schedule(store, "s", task="campaign_alerts", cron="0 * * * *", timezone="UTC")
    set_schedule(store, "s", **edit)
    (row,) = list_schedules(store)
    tick = next_runs(row["cron"], row["timezone"], count=1)[0]
    requests, _ = evaluate_schedules(store, tick + dt.timedelta(seconds=10), None)
    assert [r.run_key for r in requests] == [f"s:{tick.astimezone(dt.UTC).isoformat()}"]
