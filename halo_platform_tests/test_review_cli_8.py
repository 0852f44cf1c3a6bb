"""`halo` as an operator reads it: a task name mistyped in a filter, the confirmation of a schedule
edit, and the times the access commands list."""

from __future__ import annotations

import pytest

from halo_platform.cli import cli


def halo(capsys, *args: str) -> tuple[int, list[str], list[str]]:  # noqa: ANN001
    """Run `halo args` in this process: its exit code, its stdout lines and its stderr lines."""
    with pytest.raises(SystemExit) as exited:
        cli.main(args=list(args), prog_name="halo")
    out, err = capsys.readouterr()
    return exited.value.code, out.splitlines(), err.splitlines()


def test_the_audit_log_of_a_task_that_does_not_exist_is_one_error_line(halo_env, capsys) -> None:
    """`halo tasks log --task typo` said `no task requests` and exited 0, as for a real task never
    run: a script or a person took the typo for an empty log. `halo tasks run typo` and the Control
    Center's Requests filter refuse the name, listing the tasks there are; so does the log now."""
    known = "error: unknown task 'typo'; known: campaign_alerts, payment_reconciliation"
    assert halo(capsys, "tasks", "log", "--task", "typo") == (2, [], [known])
    assert halo(capsys, "tasks", "run", "typo") == (2, [], [known])
    assert halo(capsys, "tasks", "log", "--task", "campaign_alerts") == (0, ["no task requests"], [])


def test_a_schedule_set_confirms_its_sinks_as_it_confirms_the_other_fields(halo_env, capsys) -> None:
    """The line `halo schedules set` prints showed the task, cron, timezone, state, catch-up and
    payload, never the sinks: an edit of `--sink` was confirmed without the value it set."""
    code, out, err = halo(capsys, "schedules", "set", "daily", "--task", "campaign_alerts", "--cron", "0 7 * * *",
                          "--timezone", "UTC", "--sink", "alerts", "--sink", "outbox", "--by", "ana")
    assert (code, err) == (0, [])
    assert out == ["daily: campaign_alerts 0 7 * * * UTC enabled sinks=alerts,outbox catch_up=latest payload={}"]
    code, out, _ = halo(capsys, "schedules", "set", "daily", "--sink", "outbox", "--by", "ana")
    assert code == 0 and "sinks=outbox " in out[0]
