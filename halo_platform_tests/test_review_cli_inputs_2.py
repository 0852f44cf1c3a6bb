"""`halo` given inputs a previous review left open: an empty option taken as the option left out,
a not-found line with a hint for another command, a key expiring past the platform's calendar,
and an export creating whatever folders its path names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from halo_platform.access.keys import create_key, list_keys
from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.core.store import StoreResource
from halo_platform.reports.schedules import list_schedules
from halo_platform_tests.ui.test_form_refusals import _error, _html
from halo_platform_tests.ui.test_page_edges import admin, app, store  # noqa: F401 - the Control Center's fixtures


def halo(capsys, *args: str) -> tuple[int, list[str], list[str]]:  # noqa: ANN001
    """Run `halo args` in this process: its exit code, its stdout lines and its stderr lines."""
    with pytest.raises(SystemExit) as exited:
        cli.main(args=list(args), prog_name="halo")
    out, err = capsys.readouterr()
    return exited.value.code, out.splitlines(), err.splitlines()


@pytest.mark.parametrize(("args", "option"), [
    (["emr", "process", "--as-of", ""], "--as-of"),
    (["emr", "spans", "--feed", "acme", "--provider", "DR001", "--from", ""], "--from"),
    (["emr", "spans", "--feed", "acme", "--provider", "DR001", "--to", ""], "--to"),
    (["emr", "slots", "--feed", "acme", "--provider", "DR001", "--type", ""], "--type"),
    (["emr", "slots", "--feed", "acme", "--provider", "DR001", "--from", ""], "--from"),
    (["emr", "quarantine", "--feed", ""], "--feed"),
    (["tasks", "log", "--task", ""], "--task"),
    (["delivery", "send", "sms", "--to", "+14155550123", "--body", "hi", "--country", ""], "--country"),
    (["delivery", "send", "sms", "--to", "+14155550123", "--body", "hi", "--timezone", ""], "--timezone"),
    (["delivery", "send", "sms", "--to", "+14155550123", "--body", "hi", "--expires-at", ""], "--expires-at"),
    (["delivery", "send", "sms", "--to", "+14155550123", "--body", "hi", "--fallback-email", ""], "--fallback-email"),
    (["delivery", "send", "email", "--to", "a@b.example", "--subject", "s", "--body", "b", "--html", ""], "--html"),
    (["delivery", "suppress", "sms", "+14155550123", "--reason", ""], "--reason"),
    (["delivery", "suppress", "sms", "+14155550123", "--country", ""], "--country"),
])
def test_an_option_given_empty_is_refused_not_taken_as_left_out(halo_env, capsys, args, option) -> None:
    """`halo emr process --as-of ''` processed for today, `halo emr slots --type ''` answered the
    default type, `halo delivery send sms --country ''` queued a message: an empty value was taken
    as the option left out, where `--by ''`, `--requested-by ''` and `--idempotency-key ''` are
    refused. (REST's `?from=` left empty is the default by design; a command line has no form.)"""
    exit_code, out, err = halo(capsys, *args)
    assert (exit_code, out, err) == (2, [], [f"error: Invalid value for '{option}': empty (leave the option out for its default)"])


def test_enabling_or_disabling_no_schedule_says_so_without_a_hint_for_creating_one(halo_env, capsys) -> None:
    """`halo schedules enable nosuch` said "a new one needs --task and --cron": options enable and
    disable do not have. It names the schedules there are, as an unknown task or sink does."""
    assert halo(capsys, "demo")[0] == 0
    known = ", ".join(s["schedule_id"] for s in list_schedules(StoreResource(db_url=halo_env["HALO_DB_URL"])))
    for command in ("enable", "disable"):
        assert halo(capsys, "schedules", command, "nosuch") == (2, [], [f"error: no schedule 'nosuch'; known: {known}"])
    assert halo(capsys, "schedules", "set", "nosuch", "--cron", "0 7 * * *") == (
        2, [], ["error: no schedule 'nosuch'; a new one needs --task and --cron"])


def test_the_key_form_refuses_an_expiry_past_the_platforms_calendar_beside_the_field(admin, store) -> None:  # noqa: ANN001, F811
    """The Control Center's key form creates keys through the same create_key as `halo keys create`."""
    page = _html(admin.post("/ui/access/keys", data={"csrf_token": admin.csrf, "name": "k", "scope": "admin", "expires": "9999-12-31"}), 422)
    assert _error(page, "key.expires") == "9999-12-31 is out of range (1900-01-01 to 2199-12-31)"
    assert list_keys(store) == []


@pytest.mark.parametrize("expires", ["9999-12-31", "2200-01-01"])
def test_a_key_expiring_past_the_platforms_calendar_is_refused(halo_env, capsys, expires) -> None:
    """Every date the platform takes is within 1900..2199; `--expires 9999-12-31` was stored (and
    the Control Center's key form, through the same create_key, took it too)."""
    exit_code, out, err = halo(capsys, "keys", "create", "k", "--scope", "admin", "--expires", expires)
    assert (exit_code, out, err) == (2, [], [f"error: expires: {expires} is out of range (1900-01-01 to 2199-12-31)"])
    held = StoreResource(db_url=halo_env["HALO_DB_URL"])
    with pytest.raises(HaloError, match="out of range"):
        create_key(held, "k", ["admin"], expires=dt.date.fromisoformat(expires))
    assert list_keys(held) == []
    assert halo(capsys, "keys", "create", "k", "--scope", "admin", "--expires", "2199-12-31")[0] == 0


def test_an_export_into_a_missing_folder_is_refused_and_creates_none(halo_env, capsys) -> None:
    """`halo emr export --out /no/such/dir/x.csv` created every missing folder on the way, anywhere
    the account may write; like most tools it now refuses a folder that is not there, one line."""
    out = halo_env["HALO_HOME"] + "/missing/deeper/spans.csv"
    exit_code, lines, err = halo(capsys, "emr", "export", "--out", out)
    assert (exit_code, lines, err) == (2, [], [f"error: cannot write {out}: No such file or directory"])
    assert not Path(halo_env["HALO_HOME"], "missing").exists()
