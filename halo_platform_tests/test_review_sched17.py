"""A review of task schedules' input handling (reports.md "Task schedules": edits are validated and
refused with a clear message, from the CLI, the `manage_task_schedule` job and the Control Center,
which all save through `reports.schedules.set_schedule`)."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.definitions import STORE
from halo_platform.core.errors import HaloError
from halo_platform.reports.jobs import ManageTaskScheduleConfig, apply_schedule_edit
from halo_platform.reports.schedules import (
    check_cron,
    cron_in_words,
    list_schedules,
    next_runs,
    schedule_edits,
    set_schedule,
)
from halo_platform_tests.ui.test_form_refusals import _html
from halo_platform_tests.ui.test_page_edges import _form, app, operator, store  # noqa: F401 - a seeded store, app and operator


def test_a_timezone_given_with_spaces_around_it_is_that_timezone(halo_env):  # noqa: ARG001 - an isolated platform
    """The Control Center's form trims its timezone field, but `halo schedules set --timezone " UTC"` (a
    value pasted with its spaces) and the launchpad job refused it as 'unknown timezone ' UTC''. Every
    entry point now takes it as UTC, stored without the spaces; a zone that only trims to nothing is
    still refused."""
    runner = CliRunner()
    made = runner.invoke(cli, ["schedules", "set", "daily", "--task", "campaign_alerts", "--cron", "0 7 * * *",
                               "--timezone", " Asia/Jakarta ", "--by", "ops"])
    assert made.exit_code == 0, made.output
    assert made.output.startswith("daily: campaign_alerts 0 7 * * * Asia/Jakarta enabled")
    apply_schedule_edit(STORE, ManageTaskScheduleConfig(schedule_id="daily", timezone="\tUTC\n"))
    assert [s["timezone"] for s in list_schedules(STORE)] == ["UTC"]
    again = runner.invoke(cli, ["schedules", "set", "daily", "--timezone", "UTC  ", "--by", "ops"])
    assert again.exit_code == 0, again.output
    assert len(schedule_edits(STORE, "daily")) == 2  # the same zone again is no edit
    blank = runner.invoke(cli, ["schedules", "set", "daily", "--timezone", "  "])
    assert (blank.exit_code, blank.output) == (2, "error: unknown timezone '' (an IANA name such as Asia/Jakarta)\n")


def test_a_step_after_one_value_is_refused_saying_how_standard_cron_writes_it(halo_env):  # noqa: ARG001
    """`0/15` (Quartz's 'from 0 every 15', which croniter also reads) is no standard cron: refused, as
    other dialects' forms are, but the one line said only "invalid cron expression '0/15 7 * * *' (5
    fields: minute hour day month weekday)" of a cron that has its 5 fields. It now names the field
    and the standard spelling; nothing is saved."""
    runner = CliRunner()
    made = runner.invoke(cli, ["schedules", "set", "quarterly", "--task", "campaign_alerts", "--cron", "0/15 7 * * *"])
    assert (made.exit_code, made.output) == (2, "error: invalid cron expression '0/15 7 * * *': minute '0/15': "
                                                "a step goes after * or a range, as in */15 or 0-59/15\n")
    assert list_schedules(STORE) == []
    taken = runner.invoke(cli, ["schedules", "set", "quarterly", "--task", "campaign_alerts", "--cron", "*/15 7 * * *"])
    assert taken.exit_code == 0, taken.output


@pytest.mark.parametrize(("cron", "reason"), [
    ("5/15 7 * * *", "minute '5/15': a step goes after * or a range, as in */15 or 5-59/15"),
    ("0 24 * * *", "hour '24' is not a value from 0 to 23"),
    ("0 6 * foo *", "month 'foo' is not a value from 1 to 12 or a name (jan...)"),
    ("0 6 1-0 * *", "day '0' is not a value from 1 to 31"),
    ("0 6 * * fri-mon", "weekday 'fri-mon' runs backwards (a range goes from the lower value to the higher)"),
    ("*/90 * * * *", "minute '*/90': a step is 1 to 59"),
    ("0 6 L * *", "day 'L' is not a value from 1 to 31"),
    ("0 6 ? * *", "day '?' is not a value, a range or a step"),
    ("0 6 * * \u00b9", "weekday '\u00b9' is not a value, a range or a step"),  # a digit to str.isdigit, not to int()
    ("\u0665 6 * * *", "minute '\u0665' is not a value, a range or a step"),  # an Arabic-Indic 5
])
def test_a_cron_with_its_five_fields_is_refused_naming_the_field_at_fault(cron, reason):
    """Each refusal of a five-field cron names its field and why, on one line."""
    with pytest.raises(HaloError) as refused:
        check_cron(cron)
    assert str(refused.value) == f"invalid cron expression {cron!r}: {reason}"


def test_saving_a_schedule_whose_payload_holds_a_null_records_no_payload_edit(store, operator):  # noqa: ANN001, F811
    """`halo schedules set weekly --payload '{"period_start": null, ...}'` (or the launchpad's payload_json)
    stores the null, which means the field's default; the page shows it empty and a browser sends an
    empty field as no value. Opening the page and pressing Save recorded an edit 'payload:
    {"period_start": null, ...} -> {...}' no one made, and changing only the cron recorded the payload
    as changed too. The form's payload is now compared with what its page showed."""
    set_schedule(store, "weekly", payload={"period_start": None, "tolerance": "2.5"}, updated_by="cli")
    edits = len(schedule_edits(store, "weekly"))
    form = _form(_html(operator.get("/ui/schedules/weekly"), 200), "/ui/schedules/weekly")
    assert form["payload.period_start"] == [""]
    assert operator.post("/ui/schedules/weekly", data=form).status_code == 303
    last = schedule_edits(store, "weekly")[0]
    assert len(schedule_edits(store, "weekly")) == edits, (last["changed"], last["before"], last["after"])
    form = _form(_html(operator.get("/ui/schedules/weekly"), 200), "/ui/schedules/weekly")
    assert operator.post("/ui/schedules/weekly", data={**form, "cron": "0 7 * * 1"}).status_code == 303
    assert schedule_edits(store, "weekly")[0]["changed"] == ["cron"]
    assert [s["payload"] for s in list_schedules(store)] == [{"period_start": None, "tolerance": "2.50"}]


@pytest.mark.parametrize(("cron", "words", "runs"), [
    ("0 6 1 */5 *", "At 06:00, on day 1 of the month, only in January, June, and November, UTC",
     ["2026-01-01", "2026-06-01", "2026-11-01", "2027-01-01"]),  # November to January: two months, not five
    ("0 6 * * */3", "every Sunday, Wednesday, and Saturday at 06:00, UTC",
     ["2026-01-03", "2026-01-04", "2026-01-07", "2026-01-10"]),  # Saturday to Sunday: one day, not three
    ("0 6 * * */2", "every Sunday, Tuesday, Thursday, and Saturday at 06:00, UTC",
     ["2026-01-01", "2026-01-03", "2026-01-04", "2026-01-06"]),
    ("0 6 1 */4 *", "At 06:00, on day 1 of the month, every 4 months, UTC",  # an even cadence: said as a step
     ["2026-01-01", "2026-05-01", "2026-09-01", "2027-01-01"]),
])
def test_a_month_or_weekday_step_that_does_not_divide_the_year_or_week_is_said_as_its_days(cron, words, runs):
    """The Schedules page says a cron in words beside its next runs. `0 6 1 */5 *` was said 'every 5
    months' and runs January, June, November, then January again two months on; `*/3` weekdays was 'every
    3 days of the week' and runs Sunday, Wednesday, Saturday, then Sunday the next day. As `*/45`
    minutes is already said by its times, such steps are said by the months or days they run."""
    assert cron_in_words(cron, "UTC") == words
    after = dt.datetime(2025, 12, 31, 23, 59, 30, tzinfo=dt.UTC)
    assert [t.date().isoformat() for t in next_runs(cron, "UTC", 4, after=after)] == runs
