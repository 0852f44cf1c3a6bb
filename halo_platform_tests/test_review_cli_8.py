"""`halo` as an operator reads it: a task name mistyped in a filter, the confirmation of a schedule
edit, and the times the access commands list."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from halo_platform.access.keys import create_key, revoke_key
from halo_platform.access.users import create_user, disable_user
from halo_platform.cli import cli
from halo_platform.core.definitions import STORE

INSTANT = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"  # the platform's instants: UTC, whole seconds (`core.models.iso_z`)


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


def test_keys_and_users_list_their_times_in_utc_saying_so(halo_env, capsys) -> None:
    """`halo keys list` and `halo users list` printed `2026-12-05 21:15`: UTC, but not saying so,
    which an operator away from UTC read as local time. They print instants as the platform does
    elsewhere (`halo emr spans`, the APIs): ISO 8601 in UTC with `Z`."""
    create_key(STORE, "billing", ["messages:send"], expires=dt.date(2099, 1, 1), created_by="ana")
    create_key(STORE, "old", ["messages:read"], created_by="ana")
    revoke_key(STORE, "old", revoked_by="bo")
    create_user(STORE, "rina", "operator", "a long enough password", created_by="ana")
    disable_user(STORE, "rina", disabled_by="bo")

    code, keys, _ = halo(capsys, "keys", "list")
    assert code == 0
    assert re.search(rf"^old .* expires=-  last_used=-  created={INSTANT} by ana  revoked={INSTANT} by bo$", keys[0])
    assert re.search(rf"^billing .* expires=2099-01-01T00:00:00Z  last_used=-  created={INSTANT} by ana$", keys[1])
    code, users, _ = halo(capsys, "users", "list")
    assert code == 0
    assert re.fullmatch(rf"rina\s+operator\s+disabled\s+created={INSTANT} by ana  disabled={INSTANT} by bo", users[0])
