"""EMR ingestion review 19: a file's receipt is when it came into the landing zone, whatever
modification time it carries; the quarantined records of a landed file's earlier content are not
shown as the current content's."""

import datetime as dt
import json
import os
import re
import shutil
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from halo_platform.availability.freshness import freshness
from halo_platform.availability.service import quarantined
from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform_tests.availability.helpers import land, process

DAY = "2027-01-04"  # a Monday
HOURS = ('{"type":"hours","provider":"P1","tz":"UTC","week":{"mon":[["09:00","17:00"]]},'
         '"updated_at":"2026-11-01T00:00:00Z"}\n')
MONTH_OLD = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).timestamp()


def _copied_keeping_times(source, target) -> None:  # noqa: ANN001
    shutil.copy2(source, target)  # cp -p, rsync -t


def _moved(source, target) -> None:  # noqa: ANN001
    os.rename(source, target)  # mv within the file system


@pytest.mark.parametrize("arrive", [_copied_keeping_times, _moved])
def test_a_file_arriving_with_an_old_modification_time_is_received_when_it_arrived(halo_env, store, tmp_path, arrive):
    """An EMR's export written a month ago, then copied in with `cp -p`/`rsync -t` or moved in with
    `mv`, keeps its month-old modification time: taken for its receipt, the feed's lag read a month
    (and its freshness check failed) right after its events were applied. Its receipt is when it
    came into the landing zone."""
    source = tmp_path / "hours.jsonl"
    source.write_text(HOURS)
    os.utime(source, (MONTH_OLD, MONTH_OLD))
    folder = get_settings().landing_dir / "acme"
    folder.mkdir(parents=True)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    arrive(source, folder / "hours.jsonl")
    assert (folder / "hours.jsonl").stat().st_mtime == MONTH_OLD
    process(store, DAY, 1)
    found = freshness(store, "acme")
    assert before <= found.received_at <= dt.datetime.now(dt.UTC), found
    assert found.lag_seconds < 60, found


@pytest.fixture(params=["sqlite", "mariadb"])
def every_store(request, halo_env) -> Iterator[StoreResource]:  # noqa: ANN001
    """The isolated platform's SQLite store, then a MariaDB database of its own (whose landed paths
    and quarantined file names are compared under two collations)."""
    url = halo_env["HALO_DB_URL"] if request.param == "sqlite" else request.getfixturevalue("migrated_mysql_url")
    store = StoreResource(db_url=url)
    yield store
    store.dispose()


def _replaced_in_place(store: StoreResource) -> None:
    """hours.jsonl lands with a bad line, then is replaced in place (an SFTP drop overwriting its
    upload) with corrected hours and another bad line; other.jsonl lands with a bad line meanwhile."""
    path = land("acme", "hours.jsonl", HOURS + "first upload, not json\n")
    process(store, DAY, 1)
    path.write_text(HOURS.replace("17:00", "16:00") + "second upload, not json\n")
    land("acme", "other.jsonl", "other file, not json\n")
    process(store, DAY, 1)


def test_the_quarantined_records_of_a_landed_files_earlier_content_are_marked_superseded(every_store):
    """A landed file replaced in place is processed again: the records quarantined from its first
    content were listed beside the second's as if they were the file's, which it no longer holds.
    Quarantine is an audit: they stay listed, marked superseded."""
    _replaced_in_place(every_store)
    assert [(q["file"], q["raw"], q["superseded"]) for q in quarantined(every_store, "acme")] == [
        ("acme/hours.jsonl", "first upload, not json", True),
        ("acme/hours.jsonl", "second upload, not json", False),
        ("acme/other.jsonl", "other file, not json", False)]


def test_halo_emr_quarantine_and_the_availability_page_mark_the_superseded_records(store):
    from fastapi.testclient import TestClient

    from halo_platform.access import users
    from halo_platform.cli import cli
    from halo_platform.http import create_app

    _replaced_in_place(store)
    listed = CliRunner().invoke(cli, ["emr", "quarantine", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert [(q["raw"], q["superseded"]) for q in json.loads(listed.output)] == [
        ("first upload, not json", True), ("second upload, not json", False), ("other file, not json", False)]
    table = CliRunner().invoke(cli, ["emr", "quarantine"]).output.splitlines()
    assert [line.split("\t")[1] for line in table[:3]] == ["acme/hours.jsonl:2 (superseded)", "acme/hours.jsonl:2", "acme/other.jsonl:1"]

    users.create_user(store, "vera", "viewer", "a long enough password")
    client = TestClient(create_app({"store": store}))
    client.cookies.set("halo_session", users.login(store, "vera", "a long enough password", "test"))
    rows = re.findall(r"<tr><td class=\"text\">(.*?)</td>", client.get("/ui/availability", params={"feed": "acme"}).text)
    assert rows == ['<code>acme/other.jsonl</code>', '<code>acme/hours.jsonl</code>',
                    '<code>acme/hours.jsonl</code> <span class="muted">superseded: the file was replaced since</span>'], rows


def test_the_landing_sensor_parses_a_pending_file_once_per_content_however_often_it_ticks(halo_env, store, monkeypatch):
    """The sensor plans the dates of each pending small file at every tick (every 10 s) until its
    run has processed it: it parsed the same files again each time, for nothing new. A file is
    parsed once per content; replaced in place with another content, it is parsed again."""
    import dagster as dg

    from halo_platform.availability import pipeline
    from halo_platform.availability.sensors import emr_landing_sensor
    from halo_platform.sinks import SinksResource

    land("acme", "hours.jsonl", HOURS)
    process(store, pipeline.today().isoformat(), 60)
    day = pipeline.today() + dt.timedelta(days=7)
    booking = ('{"type":"appointment","action":"upsert","id":"A1","provider":"P1","start":"%sT10:00:00","duration_min":60,'
               '"tz":"UTC","status":"booked","updated_at":"2026-11-20T10:00:00Z"}\n')
    path = land("acme", "booking.jsonl", booking % day)
    parsed: list[str] = []
    real = pipeline.parse_file
    monkeypatch.setattr(pipeline, "parse_file", lambda feed, file: parsed.append(file.path.name) or real(feed, file))

    instance = dg.DagsterInstance.ephemeral()

    def tick() -> list[tuple[str, str, str]]:
        with dg.build_sensor_context(instance=instance, resources={"store": store, "sinks": SinksResource()}) as context:
            result = emr_landing_sensor(context)
        return [(r.run_key, r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
                for r in result.run_requests]

    first = tick()
    assert [start.split("|")[0] for _, start, _ in first] == [(day - dt.timedelta(days=2)).isoformat()]
    assert tick() == tick() == first
    assert parsed == ["booking.jsonl"]
    path.write_text(booking % (day + dt.timedelta(days=10)))
    (moved,) = tick()
    assert moved[1].split("|")[0] == (day + dt.timedelta(days=8)).isoformat() and parsed == ["booking.jsonl"] * 2
