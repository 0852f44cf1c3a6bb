"""The `halo` command: every group has --help; user errors are one line and a non-zero exit."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HALO = str(Path(sys.executable).with_name("halo"))
GROUPS = ["demo", "tasks", "schedules", "emr", "delivery", "serve", "bench"]


def run(*args, env=None, timeout=120):
    return subprocess.run([HALO, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_root_help_lists_every_group_of_the_spec():
    result = run("--help")
    assert result.returncode == 0
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert set(GROUPS) <= listed


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_has_help(group):
    result = run(group, "--help")
    assert result.returncode == 0 and "Usage:" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["nosuch"], "error: No such command 'nosuch'."),
    (["bench", "warehouses", "--rows", "5"], "error: Invalid value for '--rows': 5 is not in the range 1000<=x<=50000000."),
    (["serve", "--port", "eighty"], "error: Invalid value for '--port': 'eighty' is not a valid integer range."),
])
def test_user_errors_print_one_line_and_exit_non_zero(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [message]
    assert "Traceback" not in result.stdout + result.stderr


PROBE = """
import sys
from halo_platform.cli import cli

@cli.command("probe-sinks")
def probe():
    from halo_platform.sinks import SinksResource
    SinksResource().names()

sys.argv = ["halo", "probe-sinks"]
cli.main()
"""


def test_a_configuration_error_raised_deep_inside_a_command_is_one_line_not_a_traceback(tmp_path):
    (tmp_path / "broken.yaml").write_text("sinks: [unclosed")
    env = {**os.environ, "HALO_HOME": str(tmp_path / "h"), "HALO_SINKS_FILE": str(tmp_path / "broken.yaml")}
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'broken.yaml'}: invalid YAML: while parsing a flow sequence"]


def test_demo_is_idempotent(tmp_path):
    env = {"HALO_HOME": str(tmp_path / "h"), "HALO_DB_URL": f"sqlite:///{tmp_path / 'h' / 'halo.db'}",
           "DAGSTER_HOME": str(tmp_path / "dh")}
    first = run("demo", env=env, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    second = run("demo", env=env, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "operational store ready" in second.stdout
