"""Review with inputs the earlier reviews did not try (fuzz21): the HTTP routes and the `halo`
command, each given what an outsider might send or set."""

from __future__ import annotations

import os
import pwd

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.store import StoreResource

# PyYAML composes and constructs a document recursively: nested a few hundred levels deep, it
# raised RecursionError, which no handler of the command took for a user error
DEEP_YAML = "[" * 5000 + "]" * 5000 + "\n"


@pytest.mark.parametrize(("variable", "args"), [
    ("HALO_PROVIDERS_FILE", ["delivery", "providers"]),
    ("HALO_FEEDS_FILE", ["emr", "spans", "--feed", "acme", "--provider", "P1"]),
    ("HALO_SINKS_FILE", ["tasks", "run", "campaign_alerts", "--sink", "outbox"]),
    ("HALO_WAREHOUSES_FILE", ["demo"]),
])
def test_a_configuration_file_nested_too_deep_is_one_error_line_not_a_traceback(halo_env, tmp_path, monkeypatch, variable, args):
    """A configuration file nested thousands of levels deep (a generated file gone wrong) made
    every command reading it end in a RecursionError's traceback, exit 1; it is the one line of
    any other malformed YAML, naming the file, exit 2."""
    deep = tmp_path / "deep.yaml"
    deep.write_text(DEEP_YAML)
    monkeypatch.setenv(variable, str(deep))
    result = CliRunner().invoke(cli, args)
    assert (result.exit_code, result.stderr.splitlines()) == (2, [f"error: {deep}: invalid YAML: nested too deeply"]), result.output


def test_a_dagster_yaml_nested_too_deep_is_one_error_line_not_a_traceback(halo_env):
    """The Dagster instance's dagster.yaml is read by Dagster (through PyYAML): nested too deep, a
    command starting a run in-process (`halo delivery drain`) ended in a RecursionError's traceback."""
    settings = f"{halo_env['DAGSTER_HOME']}/dagster.yaml"
    with open(settings, "w") as file:
        file.write(DEEP_YAML)
    result = CliRunner().invoke(cli, ["delivery", "drain", "--timeout", "1"])
    assert (result.exit_code, result.stderr.splitlines()) == (
        2, [f"error: DAGSTER_HOME: {settings}: invalid YAML: nested too deeply"]), result.output


def _unnamed_uid() -> int:
    """A user id the passwd database names no login for."""
    return next(uid for uid in range(54321, 65000) if not _has_login(uid))


def _has_login(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


@pytest.mark.parametrize("args", [["keys", "create", "nameless", "--scope", "admin"],
                                  ["delivery", "suppress", "sms", "+33612345678"]])
def test_a_command_run_under_a_user_id_with_no_login_name_records_the_id_instead_of_a_traceback(halo_env, monkeypatch, args):
    """A command recording who made a change (`cli:<login>`) asked Python for the login name, which
    a container run under a user id the passwd file does not list (OpenShift's arbitrary ids),
    with no LOGNAME or USER set, has not: `getpass.getuser()` raised KeyError ('getpwuid(): uid
    not found') and `halo keys create` ended in its traceback, exit 1, nothing made. The change is
    made and recorded as by `cli:uid-<id>`."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(variable, raising=False)
    uid = _unnamed_uid()
    monkeypatch.setattr(os, "getuid", lambda: uid)  # the process's id as such a container gives it; the passwd lookup is real
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    with store.read() as conn:
        recorded = conn.exec_driver_sql("SELECT created_by FROM api_keys UNION ALL SELECT created_by FROM suppressions").scalars().all()
    store.dispose()
    assert recorded == [f"cli:uid-{uid}"]
