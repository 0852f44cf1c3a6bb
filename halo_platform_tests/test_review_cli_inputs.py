"""`halo` given hostile input: every refusal is one `error:` line on stderr (a value repeated as
given, or Click's list of choices, ran over several lines or sent an escape sequence to the
terminal)."""

from __future__ import annotations

import pytest

from halo_platform.cli import cli


def halo(capsys, *args: str) -> tuple[int, list[str], list[str]]:  # noqa: ANN001
    """Run `halo args` in this process: its exit code, its stdout lines and its stderr lines."""
    with pytest.raises(SystemExit) as exited:
        cli.main(args=list(args), prog_name="halo")
    out, err = capsys.readouterr()
    return exited.value.code, out.splitlines(), err.splitlines()


@pytest.mark.parametrize(("args", "says"), [
    (["users", "create", "u1"], "error: Missing option '--role'. Choose from: viewer, operator, admin"),
    (["delivery", "switch", "sandbox_sms_a"], "error: Missing argument '{off|auto}'. Choose from: off, auto"),
    (["tasks", "list", "a\nb"], "error: Got unexpected extra argument (a b)"),
    (["delivery", "status", "a\nb"], "error: no message a b"),
    (["delivery", "status", "\x1b[2J"], "error: no message [2J"),
    (["tasks", "run", "payment_reconciliation", "--sink", "a\nb"], "error: unknown sink(s): a b; known: alerts, outbox"),
    (["emr", "ingest", "--feed", "acme", "/no/such\x1b]0;x\x07.jsonl"], "error: no such file: /no/such ]0;x .jsonl"),
])
def test_every_refusal_is_one_line_without_control_characters(halo_env, capsys, args, says) -> None:
    """Click words a missing choice over several lines, and some refusals repeat the value as
    given: a line break in it split the error line, an escape sequence reached the terminal."""
    exit_code, out, err = halo(capsys, *args)
    assert (exit_code, out, err) == (2, [], [says])
