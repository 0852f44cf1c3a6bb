"""`halo` in a bad environment: a store URL that is not one, a server down, a database missing
or refused, a HALO_HOME that is a file, a configuration file that is a folder or not UTF-8,
arguments that are not UTF-8, numbers out of range. Each is one `error:` line and a non-zero
exit, never a traceback (they were all tracebacks, or a port 99999 served on 34463)."""

from __future__ import annotations

import os

import pytest

from halo_platform.cli import cli

NOT_UTF8 = os.fsdecode(b"a\xffb")  # what Python makes of such bytes in argv


def halo(capsys, *args: str) -> tuple[int, list[str]]:  # noqa: ANN001
    """Run `halo args` in this process: its exit code and its stderr lines."""
    with pytest.raises(SystemExit) as exited:
        cli.main(args=list(args), prog_name="halo")
    return exited.value.code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize(("url", "code", "says"), [
    ("not a url", 2, "error: the operational store's URL (HALO_DB_URL) is not one SQLAlchemy can use (ArgumentError)"),
    ("foo://bar", 2, "error: the operational store's URL (HALO_DB_URL) is not one SQLAlchemy can use (NoSuchModuleError)"),
    ("postgresql+psycopg://postgres@127.0.0.1:9/halo", 1, "error: connection failed"),
    ("postgresql+psycopg://postgres@127.0.0.1:5432/no_such_database_here", 1, 'database "no_such_database_here" does not exist'),
    ("postgresql+psycopg://no_such_role@127.0.0.1:5432/postgres", 1, 'role "no_such_role" does not exist'),
    ("mysql+pymysql://root@127.0.0.1:3306/no_such_database_here", 1, "Unknown database 'no_such_database_here'"),
])
def test_a_store_that_cannot_be_used_is_one_line(halo_env, monkeypatch, capsys, url, code, says) -> None:
    monkeypatch.setenv("HALO_DB_URL", url)
    exit_code, lines = halo(capsys, "delivery", "status", "01a23ab6-1695-7000-8d99-f772c2730c5e")
    assert exit_code == code and len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines


def test_a_halo_home_that_is_a_file_is_one_line(halo_env, monkeypatch, capsys, tmp_path) -> None:
    (tmp_path / "home").write_text("x")
    monkeypatch.setenv("HALO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HALO_DB_URL", raising=False)
    exit_code, lines = halo(capsys, "delivery", "status", "m1")
    # it named no setting ("[Errno 17] File exists: '<path>'"), exit 1
    assert (exit_code, lines) == (2, [f"error: the store's folder {tmp_path / 'home'} cannot be made: File exists "
                                      "(HALO_HOME, or the folder of HALO_DB_URL's SQLite file)"])


@pytest.mark.parametrize(("variable", "args"), [("HALO_PROVIDERS_FILE", ["delivery", "providers"]),
                                                ("HALO_SINKS_FILE", ["tasks", "run", "payment_reconciliation", "--payload", "{}"])])
@pytest.mark.parametrize("kind", ["folder", "latin-1"])
def test_a_configuration_file_that_cannot_be_read_is_one_line(halo_env, monkeypatch, capsys, tmp_path, variable, args, kind) -> None:
    bad = tmp_path / "config.yaml"
    if kind == "folder":
        bad.mkdir()
    else:
        bad.write_bytes(b"# caf\xe9\nproviders: {}\nsinks: {}\n")
    monkeypatch.setenv(variable, str(bad))
    exit_code, lines = halo(capsys, *args)
    reason = "cannot be read: Is a directory" if kind == "folder" else "not UTF-8 text"
    assert (exit_code, lines) == (2, [f"error: {bad}: {reason}"])


@pytest.mark.parametrize("args", [
    ["delivery", "status", NOT_UTF8], ["keys", "revoke", NOT_UTF8], ["schedules", "disable", NOT_UTF8],
    ["tasks", "log", "--task", NOT_UTF8], ["delivery", "suppress", "sms", "+33612345678", "--reason", NOT_UTF8],
])
def test_an_argument_that_is_not_utf8_is_one_line(halo_env, capsys, args) -> None:
    exit_code, lines = halo(capsys, *args)
    assert (exit_code, lines) == (2, [f"error: argument {args.index(NOT_UTF8) + 1} is not valid UTF-8"])


@pytest.mark.parametrize(("args", "option"), [
    (["serve", "--port", "99999"], "--port"), (["serve", "--port", "-1"], "--port"), (["up", "--dagster-port", "70000"], "--dagster-port"),
    (["emr", "quarantine", "--limit", "-5"], "--limit"), (["emr", "quarantine", "--limit", "99999999999999999999"], "--limit"),
])
def test_a_number_out_of_range_is_one_line(halo_env, capsys, args, option) -> None:
    exit_code, lines = halo(capsys, *args)
    assert exit_code == 2 and len(lines) == 1 and lines[0].startswith(f"error: Invalid value for '{option}'"), lines


@pytest.mark.parametrize(("data", "says"), [
    ("{", "error: --data is not valid JSON: Expecting property name enclosed in double quotes (column 2)"),
    ('{"n": ' + "1" * 5000 + "}", "error: --data cannot be read: Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits"),
    ("[" * 5000 + "]" * 5000, "error: --data nests too deep to read"),
])
def test_json_a_command_takes_that_python_cannot_read_is_one_line(halo_env, capsys, data, says) -> None:
    """--data of a push was read with json.loads alone: a 5000-digit number or 5000 brackets were tracebacks."""
    exit_code, lines = halo(capsys, "delivery", "send", "push", "--to", "token-1", "--title", "t", "--body", "b", "--data", data)
    assert (exit_code, lines) == (2, [says])
