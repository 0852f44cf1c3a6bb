"""Review rev24r of reports.md against the code, black-box: the HTTP API and the `halo` CLI
against the real stores."""

from __future__ import annotations

import html
import json
import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.access import users
from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.http import create_app
from halo_platform.reports.jobs import ManageTaskScheduleConfig, apply_schedule_edit
from halo_platform.reports.schedules import list_schedules, set_schedule
from halo_platform_tests.fixtures.access import authorized_client, control_center


def _request_count(store) -> int:  # noqa: ANN001
    with store.read() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM task_requests")).scalar_one()


# (task, payload as JSON text, the field, the reason): each number as written is refused, as its
# decimal string is; read as a float first, each was rounded to a value that passed
INEXACT = [
    ("payment_reconciliation", '{"tolerance": 99999999999.999999}', "tolerance", "at most 2 decimal places, got 6"),
    ("payment_reconciliation", '{"tolerance": 0.30000000000000001}', "tolerance", "at most 2 decimal places, got 17"),
    ("payment_reconciliation", '{"tolerance": 1e-400}', "tolerance", "at most 2 decimal places, got 400"),
    ("campaign_alerts", '{"budget_threshold_pct": 90.00000000000000001}', "budget_threshold_pct", "at most 10 decimal places"),
    ("campaign_alerts", '{"expiring_within_days": 3.0000000000000001}', "expiring_within_days",
     "Input should be a valid integer, got a number with a fractional part"),
]


@pytest.mark.parametrize(("task", "payload", "field", "reason"), INEXACT)
def test_a_json_number_is_read_exactly_as_written_by_the_api(store, task, payload, field, reason):
    """reports.md: money is an exact decimal, a JSON number or a decimal string. The API read a
    JSON number as a float before the schema saw it: a tolerance of 99999999999.999999 was queued as
    100000000000.00 (its string was refused: 6 decimal places), a threshold of 90.00000000000000001
    ran as 90 (its string is refused since it alerted a campaign at exactly 90%). The number is now
    judged as written: 422 with the field and the reason, as its string, and nothing is queued."""
    answer = authorized_client(create_app()).post(f"/v1/tasks/{task}/requests", content=f'{{"payload": {payload}}}',
                                                  headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == [{"field": field, "reason": reason}]
    assert _request_count(store) == 0


@pytest.mark.parametrize(("task", "payload", "field", "reason"), INEXACT)
def test_a_json_number_is_read_exactly_as_written_by_the_cli(store, task, payload, field, reason):
    """The same numbers in `halo tasks run --payload` and `halo schedules set --payload`: one
    `error:` line naming the field and why; `schedules set` stored 99999999999.999999 as
    "100000000000.00", a schedule whose every run used a tolerance nobody wrote."""
    said = [f"error: {task}: invalid payload: {field}: {reason}"]
    result = CliRunner().invoke(cli, ["tasks", "run", task, "--payload", payload])
    assert (result.exit_code, result.output.splitlines()) == (2, said)
    result = CliRunner().invoke(cli, ["schedules", "set", "s", "--task", task, "--cron", "0 6 * * 1", "--payload", payload])
    assert (result.exit_code, result.output.splitlines()) == (2, said)
    assert _request_count(store) == 0
    assert CliRunner().invoke(cli, ["schedules", "list"]).output == "no schedules\n"


@pytest.mark.parametrize(("task", "payload", "stored"), [
    ("payment_reconciliation", '{"tolerance": 0.5}', {"tolerance": "0.50"}),
    ("payment_reconciliation", '{"tolerance": 1e2, "format": "xlsx"}', {"tolerance": "100.00", "format": "xlsx"}),
    ("payment_reconciliation", '{"tolerance": 99999999999.99}', {"tolerance": "99999999999.99"}),
    ("campaign_alerts", '{"budget_threshold_pct": 12.3456789012, "rearm_hours": 1.5, "expiring_within_days": 7.0}',
     {"budget_threshold_pct": 12.3456789012, "rearm_hours": 1.5, "expiring_within_days": 7}),
])
def test_a_json_number_that_fits_is_taken_in_its_wire_form(store, task, payload, stored):
    """A number the schema takes as written is stored in its wire form, as before (money as its
    decimal string, with two places)."""
    result = CliRunner().invoke(cli, ["schedules", "set", "s", "--task", task, "--cron", "0 6 * * 1", "--payload", payload])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith(f"payload={json.dumps(stored, sort_keys=True)}")


@pytest.mark.parametrize(("task", "payload", "field", "reason"), INEXACT)
def test_a_json_number_is_read_exactly_as_written_by_the_launchpads_schedule_edit(store, task, payload, field, reason):
    """`manage_task_schedule`'s payload_json (the launchpad's edit) reads its numbers as the CLI does."""
    config = ManageTaskScheduleConfig(schedule_id="s", task=task, cron="0 6 * * 1", payload_json=payload)
    with pytest.raises(HaloError) as refused:
        apply_schedule_edit(store, config)
    assert str(refused.value) == f"{task}: invalid payload: {field}: {reason}"
    assert list_schedules(store) == []


LONG = "z" * 10_000
SAID = f"'{'z' * 100}…'"  # `core.text.echo` of LONG


@pytest.mark.parametrize(("args", "said"), [
    (["tasks", "log", "--status", LONG], f"error: Invalid value for '--status': {SAID} is not one of 'queued', 'running', "
                                         "'succeeded', 'skipped_no_data', 'blocked', 'failed', 'canceled'."),
    (["tasks", "log", f"--status={LONG}"], f"error: Invalid value for '--status': {SAID} is not one of 'queued', 'running', "
                                           "'succeeded', 'skipped_no_data', 'blocked', 'failed', 'canceled'."),
    (["schedules", "set", "s", "--catch-up", LONG], f"error: Invalid value for '--catch-up': {SAID} is not one of 'none', "
                                                    "'latest', 'all'."),
    (["tasks", "log", "--limit", "9" * 10_000], f"error: Invalid value for '--limit': '{'9' * 100}…' is not a valid integer range."),
    (["tasks", LONG], f"error: No such command {SAID}."),
    (["tasks", "list", LONG], f"error: Got unexpected extra argument ({'z' * 100}…)"),
])
def test_a_refused_long_argument_is_said_back_cut_on_the_one_error_line(store, args, said):
    """README: every subcommand exits non-zero with one clear line on bad input. Click's refusals (a
    value that is not a choice, an integer, a command; an extra argument) repeated the argument whole:
    `halo tasks log --status <10 kB>` printed an error line of 10,140 characters, where the platform's
    own refusals repeat a value cut to 100 characters (`core.text.echo`). Each long argument is now
    said back so, the rest of the line kept."""
    result = CliRunner().invoke(cli, args)
    assert (result.exit_code, result.output.splitlines()) == (2, [said])


def test_a_schedule_edits_long_catch_up_is_said_back_cut_beside_its_field(store):
    """The Control Center's schedule form refuses a catch_up that is not a policy beside the field,
    in `reports.schedules.check_catch_up`'s words, which repeated the value whole: a hand-made form's
    10 kB value filled the 300 characters the page says of a message, and the policies to pick from
    were never said. The value is now cut as the other fields' refusals cut theirs (`core.text.echo`),
    the policies said after it, and nothing is saved."""
    users.create_user(store, "ada", "admin", "a long enough password")
    set_schedule(store, "weekly", task="payment_reconciliation", cron="0 6 * * 1", sinks=["outbox"], updated_by="seed")
    with control_center(store, "ada", "a long enough password") as client:
        answer = client.post("/ui/schedules/weekly", data={"cron": "0 7 * * 1", "timezone": "UTC", "sinks": "outbox",
                                                           "catch_up": LONG, "enabled": "on", "csrf_token": client.csrf})
    assert answer.status_code == 422, answer.text[:300]
    said = re.search(r'id="catch_up-error"[^>]*>(.*?)</', answer.text, re.S)
    assert said and html.unescape(said.group(1)).strip() == f"invalid catch_up {SAID}: one of none, latest, all"
    assert [(s["cron"], s["catch_up"]) for s in list_schedules(store)] == [("0 6 * * 1", "latest")]
