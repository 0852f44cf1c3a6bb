"""Review with inputs the earlier reviews did not try (fuzz21): the HTTP routes and the `halo`
command, each given what an outsider might send or set."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli

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
