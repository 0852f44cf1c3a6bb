"""Ids and filters with a NUL, which PostgreSQL refuses in a query's text where SQLite compares
it: no request or schedule has one, so they are looked up as nothing, with the same answer on
every store. (The CLI refuses an argument that is not UTF-8, a lone surrogate, by itself.)"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.definitions import STORE
from halo_platform.core.errors import HaloError
from halo_platform.http import create_app
from halo_platform.reports.audit import list_requests
from halo_platform_tests.fixtures.access import authorized_client

NUL = "a\x00b"



def test_a_request_id_with_a_nul_is_not_found(on_store):  # noqa: ARG001
    """GET /v1/task-requests/%00 answered 404 on SQLite but 422 "a value cannot be stored" on
    PostgreSQL: an id is looked up, not stored, and no request has this one."""
    client = authorized_client(create_app(), "tasks:read", raise_server_exceptions=False)
    answer = client.get("/v1/task-requests/a%00b")
    assert answer.status_code == 404, answer.text
    assert answer.json() == {"error": "no task request 'a\\x00b'", "detail": None}


def test_a_log_filter_with_a_nul_lists_nothing(on_store):  # noqa: ARG001
    """`halo tasks log --task 'a<NUL>b'` printed "no task requests" on SQLite but, on
    PostgreSQL, the driver's "text fields cannot contain NUL" with exit 1. The command now refuses
    a name that is no task's; the audit log's filter still matches nothing on every store."""
    assert list_requests(STORE, NUL) == []
    result = CliRunner().invoke(cli, ["tasks", "log", "--task", NUL])
    assert result.exit_code == 2 and "error: unknown task 'a\\x00b'" in result.output, repr(result.exception)


@pytest.mark.parametrize(("command", "hint"), [(["enable"], "known: none"), (["disable"], "known: none"),
                                             (["set", "--cron", "0 7 * * *"], "a new one needs --task and --cron")])
def test_a_schedule_id_with_a_nul_is_no_schedule(on_store, command, hint):  # noqa: ARG001
    """`halo schedules enable 'a<NUL>b'` said "no schedule" (exit 2) on SQLite, and on
    PostgreSQL printed the driver's NUL error with exit 1."""
    result = CliRunner().invoke(cli, ["schedules", command[0], NUL, *command[1:]])
    assert (result.exit_code, result.output) == (2, f"error: no schedule 'a\\x00b'; {hint}\n")


def test_a_new_schedule_id_with_a_nul_is_refused_as_such(on_store):  # noqa: ARG001
    """On PostgreSQL the lookup of the id failed first, with the driver's NUL error and exit 1."""
    result = CliRunner().invoke(cli, ["schedules", "set", NUL, "--task", "campaign_alerts", "--cron", "0 6 * * 1"])
    assert result.exit_code == 2, (result.output, repr(result.exception))
    assert result.output.startswith("error: schedule id 'a\\x00b': 1 to 128 letters"), result.output


@pytest.mark.parametrize(("args", "what"), [
    (["tasks", "run", "campaign_alerts", "--payload", '{"as_of": "2024-05-10"}', "--requested-by", ""], "requested_by"),
    (["schedules", "set", "weekly", "--task", "campaign_alerts", "--cron", "0 6 * * 1", "--by", ""], "updated_by"),
    (["schedules", "disable", "campaign_alerts_daily", "--by", ""], "updated_by"),
])
def test_an_empty_name_of_who_asks_or_edits_is_refused_not_replaced(on_store, monkeypatch, args, what):
    """`--requested-by ''` and `--by ''` were recorded as `cli:<login>`, the default for the option
    not given: a name given empty is refused like any other name that cannot be recorded."""
    from halo_platform.reports import requests
    from halo_platform.reports.schedules import list_schedules, seed_default_schedules

    monkeypatch.setattr(requests, "submit_run", lambda *_: pytest.fail("a run was submitted"))
    seed_default_schedules(on_store)
    before = list_schedules(on_store)
    result = CliRunner().invoke(cli, args)
    assert (result.exit_code, result.stderr) == (2, f"error: {what}: empty (1 to 255 characters on one line)\n"), \
        (result.output, repr(result.exception))
    assert list_schedules(on_store) == before


def test_a_launchpad_payload_of_json_null_is_refused_not_read_as_unchanged(halo_env):  # noqa: ARG001
    """`manage_task_schedule` with `payload_json: "null"` succeeded and kept the stored payload,
    where `[]`, `1` or `"x"` (and `halo schedules set --payload null`) are refused."""
    from halo_platform.reports.jobs import ManageTaskScheduleConfig, apply_schedule_edit
    from halo_platform.reports.schedules import list_schedules, seed_default_schedules

    seed_default_schedules(STORE)
    apply_schedule_edit(STORE, ManageTaskScheduleConfig(schedule_id="campaign_alerts_daily",
                                                        payload_json='{"budget_threshold_pct": 80}'))
    before = list_schedules(STORE)
    with pytest.raises(HaloError, match=r"^payload: must be a JSON object, got null$"):
        apply_schedule_edit(STORE, ManageTaskScheduleConfig(schedule_id="campaign_alerts_daily", payload_json="null"))
    assert list_schedules(STORE) == before


@pytest.mark.parametrize(("broken", "why"), [({"task": "retired_task"}, "unknown task 'retired_task'"),
                                             ({"cron": "0 6 * * 1#2"}, "invalid cron expression '0 6 * * 1#2'")])
def test_a_schedule_that_no_longer_builds_a_run_can_be_disabled(halo_env, broken, why):  # noqa: ARG001
    """A schedule stored before its task was retired (or before validation refused its cron) is
    skipped by the sensor with an alert; `halo schedules disable` was refused with that same
    problem, so it could not be switched off without repointing it at another task. A disable
    alone is taken; enabling it again is validated as a whole."""
    import sqlalchemy as sa

    from halo_platform.reports.schedules import list_schedules, schedule_edits, schedules_t, seed_default_schedules

    seed_default_schedules(STORE)
    with STORE.write() as conn:
        conn.execute(sa.update(schedules_t).where(schedules_t.c.schedule_id == "campaign_alerts_daily").values(**broken))
    result = CliRunner().invoke(cli, ["schedules", "disable", "campaign_alerts_daily"])
    assert (result.exit_code, result.output) == (0, "campaign_alerts_daily: disabled\n"), result.output
    row = next(s for s in list_schedules(STORE) if s["schedule_id"] == "campaign_alerts_daily")
    assert not row["enabled"] and all(row[k] == v for k, v in broken.items())
    assert schedule_edits(STORE, "campaign_alerts_daily", limit=1)[0]["changed"] == ["enabled"]
    result = CliRunner().invoke(cli, ["schedules", "enable", "campaign_alerts_daily"])
    assert result.exit_code == 2 and result.output.startswith(f"error: {why}"), result.output
    assert not next(s for s in list_schedules(STORE) if s["schedule_id"] == "campaign_alerts_daily")["enabled"]
