"""Settings come from the spec's environment variables, with the spec's defaults."""

from pathlib import Path

import pytest

from halo_platform.core.errors import HaloError
from halo_platform.core.settings import expand_env, get_settings


def test_defaults_follow_the_spec_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = get_settings({})
    assert s.home == (tmp_path / ".halo")
    assert s.db_url == f"sqlite:///{tmp_path / '.halo' / 'halo.db'}"
    assert s.warehouses_file.name == "warehouses.yaml" and s.warehouses_file.exists()
    assert s.sinks_file.name == "sinks.yaml" and s.providers_file.name == "providers.yaml"
    assert s.alerts == ("alerts",)
    assert s.dagster_home == tmp_path / ".dagster_home"


def test_environment_overrides_every_setting(tmp_path):
    env = {
        "HALO_HOME": str(tmp_path / "h"),
        "HALO_DB_URL": "postgresql+psycopg://x@127.0.0.1/db",
        "HALO_WAREHOUSES_FILE": "/etc/w.yaml",
        "HALO_PROVIDERS_FILE": "/etc/p.yaml",
        "HALO_SINKS_FILE": "/etc/s.yaml",
        "HALO_ALERTS": "ops_slack, finance_email",
        "DAGSTER_HOME": str(tmp_path / "d"),
    }
    s = get_settings(env)
    assert s.home == tmp_path / "h"
    assert s.db_url == env["HALO_DB_URL"]
    assert (s.warehouses_file, s.providers_file, s.sinks_file) == (Path("/etc/w.yaml"), Path("/etc/p.yaml"), Path("/etc/s.yaml"))
    assert s.alerts == ("ops_slack", "finance_email")


def test_dotenv_file_in_working_directory_is_honoured_without_overriding_real_variables(tmp_path, monkeypatch):
    import subprocess
    import sys

    (tmp_path / ".env").write_text("HALO_ALERTS=from_dotenv\nHALO_DB_URL=sqlite:///from_dotenv.db\n")
    code = "from halo_platform.core.settings import get_settings as g; s=g(); print(s.alerts[0], s.db_url)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "HALO_DB_URL": "sqlite:///real.db"}).stdout.split()
    assert out == ["from_dotenv", "sqlite:///real.db"]


def test_env_references_expand_recursively_and_halo_home_falls_back_to_settings(tmp_path):
    s = get_settings({"HALO_HOME": str(tmp_path)})
    value = {"url": "x://${USER_X}@h/${HALO_HOME}", "list": ["${USER_X}", 3]}
    assert expand_env(value, s, {"USER_X": "bob"}) == {"url": f"x://bob@h/{tmp_path}", "list": ["bob", 3]}


def test_a_missing_env_reference_names_the_variable_and_no_value():
    with pytest.raises(HaloError, match="SECRET_TOKEN is referenced"):
        expand_env("Bearer ${SECRET_TOKEN}", get_settings({}), {})


def test_halo_home_falls_back_to_the_process_settings_when_none_are_given(tmp_path, monkeypatch):
    monkeypatch.setenv("HALO_HOME", str(tmp_path / "home"))
    assert expand_env(["${HALO_HOME}/in", "plain"], env={}) == [f"{tmp_path / 'home'}/in", "plain"]


@pytest.mark.parametrize(("name", "raw", "says"), [
    ("HALO_API_RATE", "inf", "a number in (0, 100000]"),  # every keyed request was a 500: int(inf * 0.1)
    ("HALO_API_RATE", "nan", "a number in (0, 100000]"),
    ("HALO_API_RATE", "1e400", "a number in (0, 100000]"),
    ("HALO_API_RATE", "0", "a number in (0, 100000]"),  # was taken as the default, 50, without a word
    ("HALO_API_RATE", "100001", "a number in (0, 100000]"),  # as a key's own --rate
    ("HALO_SINK_BACKOFF", "2,nan", "a number in [0, 86400]"),  # sleep(nan) failed the delivery
    ("HALO_SINK_BACKOFF", "inf", "a number in [0, 86400]"),  # waited forever
    ("HALO_SINK_ATTEMPTS", "0", "a whole number in [1, 100]"),  # gave up after 0 attempts: nothing sent
    ("HALO_SINK_ATTEMPTS", "2.5", "a whole number in [1, 100]"),
])
def test_a_number_setting_out_of_its_range_is_one_error_naming_it(name, raw, says):
    with pytest.raises(HaloError) as caught:
        get_settings({name: raw})
    assert str(caught.value) == f"{name} must be {says}, got {raw.split(',')[-1]!r}"


def test_number_settings_in_range_are_taken():
    s = get_settings({"HALO_API_RATE": "0.5", "HALO_SINK_BACKOFF": "0,1.5", "HALO_SINK_ATTEMPTS": "1"})
    assert (s.api_rate_per_second, s.sink_backoff, s.sink_attempts) == (0.5, (0.0, 1.5), 1)


def test_the_service_does_not_start_on_an_unusable_rate(monkeypatch):
    from halo_platform.http import create_app

    monkeypatch.setenv("HALO_API_RATE", "inf")
    with pytest.raises(HaloError, match="HALO_API_RATE must be"):
        create_app()
