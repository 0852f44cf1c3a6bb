"""A review of task schedules' input handling (reports.md "Task schedules": edits are validated and
refused with a clear message, from the CLI, the `manage_task_schedule` job and the Control Center,
which all save through `reports.schedules.set_schedule`)."""

from __future__ import annotations

from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.definitions import STORE
from halo_platform.reports.jobs import ManageTaskScheduleConfig, apply_schedule_edit
from halo_platform.reports.schedules import list_schedules, schedule_edits


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
