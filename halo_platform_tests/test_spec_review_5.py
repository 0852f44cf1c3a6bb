"""Review of the platform page's configuration against the `halo` command: the environment
variables (HALO_DB_URL, DAGSTER_HOME) and the `.env` file are the user's input, so a value the
platform cannot use is one `error:` line naming it and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from halo_platform_tests.fixtures.ports import closed_port

HALO = str(Path(sys.executable).with_name("halo"))


def halo(*args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 120) -> tuple[int, str, list[str]]:
    """Run the installed `halo` as a person would: its exit code, its stdout and its stderr lines."""
    done = subprocess.run([HALO, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env={**os.environ, **env},
                          stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr.splitlines()


@pytest.mark.parametrize(("url", "driver"), [
    ("mysql://root@127.0.0.1:3306/halo", "MySQLdb"),
    ("mariadb://root@127.0.0.1:3306/halo", "MySQLdb"),
    ("postgresql+asyncpg://postgres@127.0.0.1:5432/halo", "asyncpg"),
])
def test_a_store_url_naming_a_driver_that_is_not_installed_is_one_line_naming_halo_db_url(halo_env, url, driver) -> None:
    """"MySQL/MariaDB should work too": `HALO_DB_URL=mysql://...`, the URL most people write for
    MariaDB, names SQLAlchemy's default driver MySQLdb, which is not installed; every command
    printed ModuleNotFoundError's traceback (and `halo serve` a 500 with one on every request)."""
    exit_code, out, err = halo("keys", "list", env={**halo_env, "HALO_DB_URL": url})
    assert (exit_code, out) == (2, "") and err == [
        f"error: the operational store's URL (HALO_DB_URL) needs the driver {driver}, which is not installed; "
        "name an installed one (postgresql+psycopg://, mysql+pymysql://)"], err


@pytest.mark.parametrize("args", [["keys", "list"], ["serve", "--port", "1"]])
def test_a_dotenv_file_that_is_not_utf8_is_one_line_naming_the_file(halo_env, tmp_path, args) -> None:
    """"a `.env` file is honoured": one saved in Latin-1 (`HALO_ALERTS=équipe`) or holding a stray
    byte made every command, `halo serve` included, print UnicodeDecodeError's traceback."""
    (tmp_path / ".env").write_bytes(b"HALO_ALERTS=\xe9quipe\n")
    exit_code, out, err = halo(*args, env=halo_env, cwd=tmp_path)
    assert (exit_code, out, err) == (2, "", [f"error: {tmp_path / '.env'}: not UTF-8 text"])


@pytest.mark.parametrize(("settings", "says"), [
    ("run_retries:\n  enabled: [\n", "invalid YAML: while parsing a flow node"),
    ("run_retries:\n  enabeld: true\n", 'invalid instance settings: Received unexpected config entry "enabeld" at path root:run_retries.'),
    ("run_retries:\n  enabled: maybe\n", 'invalid instance settings: Invalid scalar at path root:run_retries:enabled. Value "maybe" of type '
                                          '"<class \'str\'>" is not valid for expected type "Bool".'),
])
@pytest.mark.parametrize("args", [["delivery", "drain"], ["tasks", "run", "payment_reconciliation", "--wait"]])
def test_a_dagster_yaml_in_dagster_home_that_dagster_refuses_is_one_line_naming_the_file(halo_env, settings, says, args) -> None:
    """DAGSTER_HOME is the platform's to set and its dagster.yaml the operator's to edit (`make run`
    copies it there): a typo in it made every command that runs pipeline work (`halo delivery
    drain`, `halo tasks run --wait`, `halo emr process`) print Dagster's traceback, exit 1."""
    dagster_yaml = Path(halo_env["DAGSTER_HOME"], "dagster.yaml")
    dagster_yaml.write_text(settings)
    exit_code, out, err = halo(*args, env=halo_env)
    assert exit_code == 2 and err == [f"error: DAGSTER_HOME: {dagster_yaml}: {says}"], err
    assert "Traceback" not in out


def test_a_dagster_home_that_is_a_file_is_one_line_naming_dagster_home(halo_env, tmp_path) -> None:
    (tmp_path / "a_file").write_text("")
    exit_code, out, err = halo("delivery", "drain", env={**halo_env, "DAGSTER_HOME": str(tmp_path / "a_file")})
    assert (exit_code, out, err) == (2, "", [f"error: DAGSTER_HOME: cannot use {tmp_path / 'a_file'} as the Dagster instance folder: File exists"])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_halo_serve_with_several_workers_refuses_a_bad_setting_in_one_line_and_stops(halo_env, workers) -> None:
    """`halo serve --workers 2` builds the app in each worker process: HALO_API_RATE=abc (or a bad
    .env) was a traceback from each worker, and the parent went on listening with no worker left
    to answer, for ever; with one worker it was the one line it is now with any number."""
    with closed_port() as port:  # held: a serve past its checks fails at once (cannot listen), not at the timeout
        exit_code, out, err = halo("serve", "--port", str(port), "--workers", workers, env={**halo_env, "HALO_API_RATE": "abc"}, timeout=60)
    assert (exit_code, out, err) == (2, "", ["error: HALO_API_RATE must be a number in (0, 100000], got 'abc'"])


def test_halo_serve_refuses_an_empty_host_which_uvicorn_reads_as_every_interface(halo_env) -> None:
    """`--host ''` made uvicorn listen on 0.0.0.0 and [::]: the service (and the Control Center's
    sign-in) open to the network where the default keeps it on 127.0.0.1."""
    with closed_port() as port:
        exit_code, out, err = halo("serve", "--host", "", "--port", str(port), env=halo_env, timeout=60)
    assert (exit_code, out, err) == (2, "", ["error: Invalid value for '--host': empty (leave the option out for its default)"])


@pytest.mark.parametrize("alerts", [",", " , ", "ops,", "ops,,oncall"])
def test_halo_alerts_with_an_empty_name_is_one_line_not_an_alert_to_nobody(halo_env, alerts) -> None:
    """HALO_ALERTS=',' read as no alert sink at all: every failed run alerted nobody, silently
    (an unset or empty HALO_ALERTS is the default `alerts` sink)."""
    from halo_platform.alerts.send import alert_sinks
    from halo_platform.sinks import SinksResource

    said = f"HALO_ALERTS must be a comma list of sink names, got {alerts!r} (an empty name)"
    with closed_port() as port:
        exit_code, out, err = halo("serve", "--port", str(port), env={**halo_env, "HALO_ALERTS": alerts}, timeout=60)
    assert (exit_code, out, err) == (2, "", [f"error: {said}"])
    with pytest.MonkeyPatch.context() as patch:  # a run's failure sensor: the alert names why it reached no sink, and never raises
        patch.setenv("HALO_ALERTS", alerts)
        assert alert_sinks(SinksResource()) == ([], [said])
