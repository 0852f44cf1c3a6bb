"""`halo emr ingest` prints where each file landed: a file name from outside with control
characters (an escape sequence, a line break) is printed written out, never raw, so that it cannot
recolour or rewrite the terminal nor split the line a script reads."""

import pytest
from click.testing import CliRunner

from halo_platform.availability.landing import feed_dir
from halo_platform.cli import cli

HOURS = '{"type":"hours","provider":"P1","tz":"UTC","week":{"mon":[["09:00","12:00"]]},"updated_at":"2026-11-20T10:00:00Z"}\n'


@pytest.mark.parametrize(("name", "shown"), [
    ("a\x1b[31mred.jsonl", "a\\x1b[31mred.jsonl"),
    ("two\nlines.jsonl", "two\\nlines.jsonl"),
])
def test_a_landed_name_with_control_characters_is_printed_written_out(halo_env, tmp_path, name, shown):
    source = tmp_path / name
    source.write_text(HOURS)
    result = CliRunner().invoke(cli, ["emr", "ingest", "--feed", "acme", str(source)], color=True)
    assert result.exit_code == 0, result.output
    assert result.output == f"landed {feed_dir('acme') / shown}\n"
    assert (feed_dir("acme") / name).read_text() == HOURS  # landed under its own name
