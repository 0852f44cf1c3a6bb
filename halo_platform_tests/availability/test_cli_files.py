"""`halo emr export` and `halo emr ingest` with files they cannot write or take: one error line,
exit 2, and nothing half-written or half-landed."""

import csv
import datetime as dt
import resource
import signal

import pytest
from click.testing import CliRunner

from halo_platform.availability.feeds import get_feed
from halo_platform.availability.landing import feed_dir, landed
from halo_platform.availability.service import export_csv
from halo_platform.availability.tables import AvailableSpan
from halo_platform.cli import cli
from halo_platform.core.store import StoreResource
from halo_platform_tests.availability.test_interfaces import MONDAY, TUESDAY, processed  # noqa: F401 - the fixture


def _one_error_line(result, message: str) -> None:  # noqa: ANN001
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith("error: ") and message.lower() in result.output.lower(), result.output


@pytest.mark.parametrize(("name", "message"), [
    ("a-folder", "is a directory"),
    ("spans.csv/inside.csv", "cannot write spans.csv/inside.csv: not a directory"),  # its folder is a file
    ("", "Invalid value for '--out': empty: a path names a file or folder"),  # not the current folder (test_review_cli_9)
])
def test_export_to_a_path_it_cannot_write_is_one_error_line(processed, tmp_path, monkeypatch, name, message):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "spans.csv").write_text("a file, not a folder\n")
    _one_error_line(CliRunner().invoke(cli, ["emr", "export", "--out", name]), message)


def test_an_export_that_fails_midway_leaves_the_previous_file_whole(processed, tmp_path, store):  # noqa: F811
    out = tmp_path / "spans.csv"
    assert CliRunner().invoke(cli, ["emr", "export", "--out", str(out)]).exit_code == 0
    before = out.read_bytes()
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (60, limits[1]))  # the header and one row fit, the rest does not
    try:
        result = CliRunner().invoke(cli, ["emr", "export", "--out", str(out)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous)
    _one_error_line(result, "File too large")
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert export_csv(store, out) == len(MONDAY + TUESDAY)


@pytest.mark.parametrize("database", ["sqlite", "mariadb"])
def test_export_sorts_provider_ids_by_their_characters_whatever_the_database_collation(halo_env, tmp_path, request, database):
    """MariaDB's default collation ignores case: ORDER BY put "j2" between "J10" and "Ja"."""
    store = StoreResource(db_url=request.getfixturevalue("mysql_url")) if database == "mariadb" else StoreResource()
    day, start = dt.date(2027, 1, 4), dt.datetime(2027, 1, 4, 2, tzinfo=dt.UTC)
    spans = AvailableSpan.__table__
    with store.write() as conn:
        conn.execute(spans.insert(), [{"feed": "sort-test", "provider_id": p, "span_date": day, "start_at": start,
                                       "end_at": start + dt.timedelta(hours=1), "computed_at": start} for p in ("j2", "J10", "Ja")])
    try:
        export_csv(store, tmp_path / "spans.csv")
        rows = [row for row in csv.reader((tmp_path / "spans.csv").open()) if row[0] == "sort-test"]
        assert [row[1] for row in rows] == ["J10", "Ja", "j2"]
    finally:
        with store.write() as conn:
            conn.execute(spans.delete().where(spans.c.feed == "sort-test"))
        store.dispose()


def test_ingest_refuses_a_name_starting_with_a_dot_which_processing_would_never_see(halo_env, tmp_path):
    hidden = tmp_path / ".bookings.jsonl"
    hidden.write_text("{}\n")
    _one_error_line(CliRunner().invoke(cli, ["emr", "ingest", "--feed", "acme", str(hidden)]), "starts with '.'")
    assert landed(get_feed("acme")) == []
    assert not feed_dir("acme").exists() or list(feed_dir("acme").iterdir()) == []


@pytest.mark.parametrize("bad", ["missing.jsonl", "wrong.csv"])
def test_ingest_of_several_files_lands_none_when_one_is_bad(halo_env, tmp_path, bad):
    good = tmp_path / "good.jsonl"
    good.write_text("{}\n")
    if bad == "wrong.csv":
        (tmp_path / bad).write_text("a,b\n")
    result = CliRunner().invoke(cli, ["emr", "ingest", "--feed", "acme", str(good), str(tmp_path / bad)])
    _one_error_line(result, bad)
    assert landed(get_feed("acme")) == []
