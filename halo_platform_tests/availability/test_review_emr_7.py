"""Review of EMR ingestion and its CLI (session emr7): defects found with inputs the other tests
do not give, each pinned here."""

import csv
import datetime as dt
import os
import re
import stat

import dagster as dg
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.availability.feeds import get_feed
from halo_platform.availability.landing import feed_dir
from halo_platform.availability.pipeline import ingest_feeds, pending_files, today
from halo_platform.availability.service import spans
from halo_platform.cli import cli
from halo_platform_tests.availability.helpers import land, process, spans_on
from halo_platform_tests.availability.test_interfaces import MONDAY, TUESDAY, processed  # noqa: F401 - the fixture
from halo_platform_tests.availability.test_sensor import HOURS, appointment, evaluate
from halo_platform_tests.availability.test_sensor_failed_runs import launch, taken

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


def test_a_landed_file_whose_name_is_not_utf8_is_processed_under_its_escaped_name_and_holds_back_no_other(halo_env, store):
    """A file dropped into the landing zone by a Latin-1 client (`caf\\xe9.jsonl`: Python holds the
    name with a lone surrogate) failed every run of its feed with a UnicodeEncodeError and a
    traceback: its processed-file row could not be written, nor the quarantine row its failure
    made, so no other file of the feed was applied either (here J1's hours), run after run. It is
    now read like any file and recorded under its name with the byte escaped, once."""
    folder = feed_dir("acme")
    folder.mkdir(parents=True)
    week = '{"type":"hours","provider":"%s","tz":"Asia/Jakarta","week":{"mon":[["09:00","17:00"]]},"updated_at":"2026-11-01T00:00:00Z"}\n'
    (folder / "good.jsonl").write_text(week % "J1")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.jsonl"), "wb") as fh:
        fh.write((week % "J2").encode())
    runner = CliRunner()
    first = runner.invoke(cli, ["emr", "process", "--as-of", "2027-01-04", "--horizon-days", "1"])
    assert first.exit_code == 0 and "files: 2" in first.output, first.output
    for provider in ("J1", "J2"):
        assert [s.as_json()["start_at"] for s in spans(store, "acme", provider)] == ["2027-01-04T02:00:00Z"]
    with store.read() as conn:
        paths = sorted(conn.execute(sa.text("SELECT path FROM emr_processed_files")).scalars())
    assert paths == ["acme/caf\\xe9.jsonl", "acme/good.jsonl"]
    again = runner.invoke(cli, ["emr", "process", "--as-of", "2027-01-04", "--horizon-days", "1"])
    assert again.exit_code == 0 and "files: 0" in again.output, again.output


def test_dates_left_dirty_after_the_day_s_window_run_are_requested_under_a_key_no_run_has_taken(halo_env, store):
    """A run whose files were applied but whose spans step failed for good (the store down past
    Dagster's retries, the run worker killed) leaves their dates dirty and the files processed: the
    sensor asks for a window run, keyed by the day's window. That key had already been taken by
    the run of the day's window move, and Dagster skips a request whose key a run took: the new
    booking stayed bookable (the spans stale) until the next day's window. Such work now gets the
    key's next number, once; with nothing left, the sensor skips."""
    with dg.DagsterInstance.ephemeral() as instance:
        land("acme", "hours.jsonl", HOURS)
        process(store, (today() - dt.timedelta(days=1)).isoformat(), 60)
        [moved] = evaluate(instance, store)  # a new day: the window moved
        assert launch(instance, moved, store).success
        assert isinstance(evaluate(instance, store), dg.SkipReason)

        day = today() + dt.timedelta(days=5)
        land("acme", "booking.jsonl", appointment("S1", day, 10))
        feed = get_feed("acme")
        ingest_feeds(store, [(feed, pending_files(store, feed))])  # applied, its spans not recomputed: the run failed there
        [dirty] = evaluate(instance, store)
        assert taken(instance, dirty.run_key) == [], f"{dirty.run_key} was taken by a run: Dagster would skip it"
        assert [r.run_key for r in evaluate(instance, store)] == [dirty.run_key]  # not started yet: the same request
        assert launch(instance, dirty, store).success
        assert spans_on(store, "acme", "J1", day.isoformat()) == [(f"{day}T02:00Z", f"{day}T03:00Z"), (f"{day}T04:00Z", f"{day}T10:00Z")]
        assert isinstance(evaluate(instance, store), dg.SkipReason)


def test_export_through_a_link_writes_its_target_and_to_a_pipe_writes_the_pipe(processed, tmp_path):  # noqa: F811
    """The export was written to a temporary file then renamed over --out: a symbolic link to the
    real export became a copy beside it (the file the link named kept the old spans), and a pipe
    or a device was replaced by a regular file: `--out /dev/stdout` as root (a container's user)
    replaced the system's /dev/stdout, the CSV never reached the reader. A link is now followed
    (its target replaced whole, the link kept), a pipe written as it comes."""
    runner = CliRunner()
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "spans.csv").write_text("old\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real" / "spans.csv")
    assert runner.invoke(cli, ["emr", "export", "--out", str(tmp_path / "link.csv")]).exit_code == 0
    assert (tmp_path / "link.csv").is_symlink()
    rows = list(csv.reader((tmp_path / "real" / "spans.csv").open()))
    assert rows[1:] == [["acme", "J1", *span] for span in MONDAY + TUESDAY]

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # a reader waiting, as `| head` would be
    try:
        result = runner.invoke(cli, ["emr", "export", "--out", str(pipe)])
        assert result.exit_code == 0, result.output
        assert stat.S_ISFIFO(os.stat(pipe).st_mode)
        received = os.read(reader, 1 << 16).decode()
    finally:
        os.close(reader)
    assert list(csv.reader(received.splitlines())) == rows
