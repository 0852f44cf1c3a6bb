"""`halo` given hostile input: every refusal is one `error:` line on stderr (a value repeated as
given, or Click's list of choices, ran over several lines or sent an escape sequence to the
terminal), and a routing change's reason and author are one line each, refused before anything
is stored, as every other one-line field is."""

from __future__ import annotations

import getpass
import os
import stat

import pytest
import sqlalchemy as sa

from halo_platform.cli import cli
from halo_platform.core.store import StoreResource
from halo_platform.delivery.autopilot import changes_t
from halo_platform.delivery.state import audit_t


def halo(capsys, *args: str) -> tuple[int, list[str], list[str]]:  # noqa: ANN001
    """Run `halo args` in this process: its exit code, its stdout lines and its stderr lines."""
    with pytest.raises(SystemExit) as exited:
        cli.main(args=list(args), prog_name="halo")
    out, err = capsys.readouterr()
    return exited.value.code, out.splitlines(), err.splitlines()


def stored(url: str, table: sa.Table) -> list:
    store = StoreResource(db_url=url)
    try:
        with store.read() as conn:
            return list(conn.execute(sa.select(table)))
    finally:
        store.dispose()


@pytest.mark.parametrize(("args", "says"), [
    (["users", "create", "u1"], "error: Missing option '--role'. Choose from: viewer, operator, admin"),
    (["delivery", "switch", "sandbox_sms_a"], "error: Missing argument '{off|auto}'. Choose from: off, auto"),
    (["tasks", "list", "a\nb"], "error: Got unexpected extra argument (a b)"),
    (["delivery", "status", "a\nb"], "error: no message a b"),
    (["delivery", "status", "\x1b[2J"], "error: no message [2J"),
    (["tasks", "run", "payment_reconciliation", "--sink", "a\nb"], "error: unknown sink(s): a\\nb; known: alerts, outbox"),
    (["emr", "ingest", "--feed", "acme", "/no/such\x1b]0;x\x07.jsonl"], "error: no such file: /no/such ]0;x .jsonl"),
])
def test_every_refusal_is_one_line_without_control_characters(halo_env, capsys, args, says) -> None:
    """Click words a missing choice over several lines, and some refusals repeat the value as
    given: a line break in it split the error line, an escape sequence reached the terminal."""
    exit_code, out, err = halo(capsys, *args)
    assert (exit_code, out, err) == (2, [], [says])


@pytest.mark.parametrize("reason", ["x\x1b[2J", "a\x00b", "bell\x07"])
def test_a_routing_change_whose_reason_holds_an_escape_sequence_or_a_nul_is_refused(halo_env, capsys, reason) -> None:
    """The reason of `halo delivery weights set` and `halo delivery switch` is kept in the history and
    shown on one line (`halo delivery providers`, the Control Center, a log line): an escape sequence
    was stored and printed as given, a NUL stored on SQLite where PostgreSQL refuses it."""
    for args in (["delivery", "weights", "set", "sms/*/TEXT", "sandbox_sms_a=60", "sandbox_sms_b=40", "--reason", reason],
                 ["delivery", "switch", "sandbox_sms_a", "off", "--reason", reason]):
        exit_code, out, err = halo(capsys, *args)
        assert exit_code == 2 and out == [] and len(err) == 1 and err[0].startswith("error: reason: control character U+00"), (args, err)
    assert stored(halo_env["HALO_DB_URL"], audit_t) == [] and stored(halo_env["HALO_DB_URL"], changes_t) == []


def test_a_routing_reason_of_several_lines_is_kept_on_one(halo_env, capsys) -> None:
    """A reason typed over several lines (the Control Center's field is a textarea) or with tabs is
    kept as one line, its blanks as one space: a line break split `halo delivery switch`'s answer,
    its log line and `halo delivery providers`' row."""
    reason = "shift load\r\n  to b\tfor the night"
    exit_code, out, err = halo(capsys, "delivery", "switch", "sandbox_sms_a", "off", "--reason", reason)
    assert (exit_code, out) == (0, ["sandbox_sms_a: switched off by cli:" + getpass.getuser() + ": shift load to b for the night"])
    assert len(err) <= 1  # the warning logged, on one line
    exit_code, out, err = halo(capsys, "delivery", "weights", "set", "sms/*/TEXT", "sandbox_sms_a=60", "sandbox_sms_b=40", "--reason", reason)
    assert exit_code == 0
    assert {row.reason for row in stored(halo_env["HALO_DB_URL"], audit_t)} == {"shift load to b for the night"}


@pytest.mark.parametrize("args", [
    ["delivery", "weights", "set", "sms/*/TEXT", "sandbox_sms_a=60", "sandbox_sms_b=40", "--reason", "rebalance", "--by", ""],
    ["delivery", "switch", "sandbox_sms_a", "off", "--reason", "flaky", "--by", ""],
])
def test_a_routing_change_by_nobody_is_refused(halo_env, capsys, args) -> None:
    """`--by ''` was recorded as cli:<login>, as if --by had not been given; `halo schedules set --by ''`
    and `halo tasks run --requested-by ''` refuse it, and so does every other author field."""
    exit_code, out, err = halo(capsys, *args)
    assert (exit_code, out) == (2, []) and len(err) == 1 and err[0].startswith("error: changed_by: empty"), err
    assert stored(halo_env["HALO_DB_URL"], audit_t) == [] and stored(halo_env["HALO_DB_URL"], changes_t) == []


def test_an_export_gets_the_mode_a_file_written_in_place_gets(halo_env, capsys, tmp_path) -> None:
    """`halo emr export` writes through a temporary file renamed over the target (whole or not at
    all); mkstemp made that file 0600, so the export (and every folder sink's report, and every
    landed feed file) was readable by its owner only, whatever the umask, where a plain open gives 0644
    under umask 022."""
    old = os.umask(0o022)
    try:
        exit_code, out, _ = halo(capsys, "emr", "export", "--out", str(tmp_path / "spans.csv"))
    finally:
        os.umask(old)
    assert (exit_code, out) == (0, [f"wrote 0 spans to {tmp_path / 'spans.csv'}"])
    assert stat.S_IMODE((tmp_path / "spans.csv").stat().st_mode) == 0o644
