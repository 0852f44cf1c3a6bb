"""`halo` as a user runs it: an export read from a pipe, arguments no shell can hold but a
caller in-process can, paths the system refuses by length, and the URL of the Dagster webserver
shown in an error without its credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from halo_platform.cli import cli
from halo_platform_tests.fixtures.ports import closed_port

ROOT = Path(__file__).resolve().parents[1]
HALO = Path(sys.executable).parent / "halo"


def halo(capsys, *args: str) -> tuple[int, list[str], list[str]]:  # noqa: ANN001
    """Run `halo args` in this process: its exit code, its stdout lines and its stderr lines."""
    with pytest.raises(SystemExit) as exited:
        cli.main(args=list(args), prog_name="halo")
    out, err = capsys.readouterr()
    return exited.value.code, out.splitlines(), err.splitlines()


def run_halo(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed `halo` entry point run as a user runs it, with this checkout first on the path."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([str(HALO), *args], cwd=cwd, env=env, capture_output=True, timeout=120)


def test_an_export_to_stdout_read_through_a_pipe_is_the_csv_alone(halo_env, tmp_path) -> None:
    """`halo emr export --out /dev/stdout | ...`: /dev/stdout names the pipe through a link the
    export followed by name (to `pipe:[...]`, no file), and the export was refused as `No such file
    or directory`; the line saying how many spans were written then ended the CSV."""
    proc = run_halo("emr", "export", "--out", "/dev/stdout", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().splitlines() == ["feed,provider_id,span_date,start_at,end_at"]
    assert proc.stderr.decode().splitlines() == ["wrote 0 spans to /dev/stdout"]


def test_an_export_to_a_file_still_says_so_on_stdout(halo_env, capsys, tmp_path) -> None:
    out = tmp_path / "spans.csv"
    assert halo(capsys, "emr", "export", "--out", str(out)) == (0, [f"wrote 0 spans to {out}"], [])
    assert out.read_text() == "feed,provider_id,span_date,start_at,end_at\n"


@pytest.mark.parametrize("args", [
    ["emr", "ingest", "--feed", "acme", "a\x00b.jsonl"],
    ["emr", "export", "--out", "a\x00b.csv"],
    ["up", "--workspace", "a\x00b.yaml"],
])
def test_a_path_holding_a_nul_is_one_error_line(halo_env, capsys, args) -> None:
    """No shell passes a NUL, but a caller in-process (CliRunner, a wrapper) can: the path's check
    raised os.stat's ValueError, a stack out of `halo` instead of its one line."""
    exit_code, out, err = halo(capsys, *args)
    assert exit_code == 2 and out == [] and len(err) == 1 and err[0].startswith("error: Invalid value for")
    assert "a path holds no NUL character" in err[0]


def test_a_path_too_long_for_the_system_is_a_user_error(halo_env, capsys, tmp_path) -> None:
    """A name longer than the system takes (255 bytes) is the user's to fix: it was the OSError as
    it came, `[Errno 36] File name too long: '...'`, and exit 1, the exit of a store that is down."""
    long = str(tmp_path / ("x" * 300 + ".jsonl"))
    assert halo(capsys, "emr", "ingest", "--feed", "acme", long) == (2, [], [f"error: cannot read {long}: File name too long"])
    long = str(tmp_path / ("x" * 300 + ".csv"))
    assert halo(capsys, "emr", "export", "--out", long) == (2, [], [f"error: cannot write {long}: File name too long"])


def test_ingesting_a_folder_or_a_pipe_says_it_is_no_file(halo_env, capsys, tmp_path) -> None:
    """Both were `no such file: ...` of a path that is there."""
    folder = tmp_path / "feed.jsonl"
    folder.mkdir()
    pipe = tmp_path / "pipe.jsonl"
    os.mkfifo(pipe)
    for path in (folder, pipe):
        assert halo(capsys, "emr", "ingest", "--feed", "acme", str(path)) == (2, [], [f"error: not a file: {path}"])
    assert halo(capsys, "emr", "ingest", "--feed", "acme", str(tmp_path / "none.jsonl")) == (
        2, [], [f"error: no such file: {tmp_path / 'none.jsonl'}"])


@pytest.mark.parametrize("url", ["http://ops:s3cret-pass@127.0.0.1:{port}/dagster?token=t0ken-value",
                                 "ftp://ops:s3cret-pass@127.0.0.1:{port}/?token=t0ken-value"])
def test_a_webserver_that_cannot_be_reached_is_named_without_its_credentials(halo_env, capsys, monkeypatch, url) -> None:
    """DAGSTER_UI_URL may carry a proxy's password or token: the refusal printed it as set (the
    same line is the API's error body), where every log line masks it."""
    with closed_port() as port:
        monkeypatch.setenv("DAGSTER_UI_URL", url.format(port=port))
        exit_code, out, err = halo(capsys, "tasks", "run", "payment_reconciliation", "--sink", "outbox")
    assert exit_code == 2 and out == [] and len(err) == 1
    assert err[0].startswith("error: could not submit the run to the Dagster webserver at ")
    assert "s3cret-pass" not in err[0] and "t0ken-value" not in err[0]
    assert ":***@127.0.0.1:" in err[0]
