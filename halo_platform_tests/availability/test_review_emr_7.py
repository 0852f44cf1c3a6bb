"""Review of EMR ingestion and its CLI (session emr7): defects found with inputs the other tests
do not give, each pinned here."""

import re

from click.testing import CliRunner

from halo_platform.cli import cli

# what the quarantine table may hold besides text: its tab-separated columns and line ends
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_the_quarantine_table_shows_a_record_s_control_characters_instead_of_sending_them_to_the_terminal(halo_env, tmp_path):
    """`halo emr quarantine` printed each record's raw text as the EMR sent it: an escape sequence
    in a line (an OSC title change, a screen clear) reached the operator's terminal, a carriage
    return moved the cursor back over the feed, file and position it had just printed, and a tab
    made a fourth column. The feed's text is now shown with its control characters written out,
    one record a line, four columns; `--format json` already escaped them."""
    bad = ('{"type":"appointment","id":"\x1b]0;owned\x07\x1b[2J","action":"x","updated_at":"2026-11-20T10:00:00Z"}\n'
           'abc\rdef\t\x1b[31mred\u202etxt.exe\n')
    (tmp_path / "bad.jsonl").write_text(bad)
    runner = CliRunner()
    assert runner.invoke(cli, ["emr", "ingest", "--feed", "acme", str(tmp_path / "bad.jsonl")]).exit_code == 0
    assert runner.invoke(cli, ["emr", "process", "--as-of", "2027-01-04", "--horizon-days", "1"]).exit_code == 0
    listed = runner.invoke(cli, ["emr", "quarantine"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[-1] == "2 quarantined records"
    assert len(lines) == 3 and not _CONTROL.search(listed.output), repr(listed.output)
    assert all(line.count("\t") == 3 for line in lines[:2]), repr(listed.output)
    assert "\\x1b]0;owned\\x07\\x1b[2J" in lines[0]
    assert lines[1].endswith("\tabc\\rdef\\t\\x1b[31mred\\u202etxt.exe"), repr(lines[1])
