"""EMR review 20: an S3 object whose answer is cut off (no Content-Length, the connection closed
before the listed size was sent) is never processed as whole; the quarantine listing of a landed
file whose content went A, B, then A again."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.availability import landing, pipeline
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.service import quarantined
from halo_platform.availability.tables import EmrQuarantine, ProcessedFile
from halo_platform.cli import cli
from halo_platform_tests.availability.helpers import land, process, spans_on
from halo_platform_tests.availability.test_review_emr19 import every_store  # noqa: F401 - the fixture
from halo_platform_tests.availability.test_review_s3land19 import trickled  # noqa: F401 - the fixture
from halo_platform_tests.availability.test_s3_landing import HOURS, booking, landing_at

KEY = "clinic-a/week.jsonl"
GET = b"GET /emr-landing/clinic-a/week.jsonl "
CUT_OFF = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + HOURS.encode()  # no Content-Length: the body ends with the connection
S3_TIMEOUT = landing.S3_TIMEOUT  # the landing's own time, read before `trickled` shortens it


@pytest.fixture
def cut_off(trickled, monkeypatch):  # noqa: ANN001, F811
    """`trickled` at the landing's own time: an answer cut off fails at once whatever the time, and the
    requests relayed to moto may take theirs (CI at load 9: 'no answer within 2 s' instead of the short read)."""
    monkeypatch.setattr(landing, "S3_TIMEOUT", S3_TIMEOUT)
    return trickled


def test_an_object_answered_cut_off_is_not_processed_and_stays_pending(cut_off, s3_server, store):
    """The object holds working hours and a booking; its GET is answered with the hours only, then
    the connection closed. botocore hands over the bytes it got, and the run processed them and
    recorded the object as done under its listed ETag: the booking was never applied. A read of
    fewer bytes than listed fails the run; the object stays pending and the next run reads it whole."""
    day = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
    s3_server.client().put_object(Bucket="emr-landing", Key=KEY, Body=(HOURS + booking(dt.date.fromisoformat(day))).encode())
    server = cut_off(GET, head=CUT_OFF, lines=0, times=9)
    with pytest.raises(landing.LandingReadError, match=f"S3 landing get s3://emr-landing/{KEY}: {len(HOURS)} bytes read, "):
        process(store, day, 2)
    assert [f.relpath for f in pipeline.pending_files(store, get_feed("cloud"))] == ["cloud/week.jsonl"]
    server.left = 0
    assert process(store, day, 2).files == 1
    assert spans_on(store, "cloud", "S1", day) == [(f"{day}T09:00Z", f"{day}T10:00Z"), (f"{day}T11:00Z", f"{day}T12:00Z")]
    assert quarantined(store, "cloud") == []


def test_every_read_of_an_object_cut_off_fails(cut_off, s3_server):
    """Planning reads the listed object (`S3Object.read_bytes`), and so does processing (`load_file`):
    both fail on a short answer."""
    s3_server.client().put_object(Bucket="emr-landing", Key=KEY, Body=(HOURS * 2).encode())
    cut_off(GET, head=CUT_OFF, lines=0, times=2)
    (listed,) = landing.landed(get_feed("cloud"))
    message = f"^S3 landing get s3://emr-landing/{KEY}: {len(HOURS)} bytes read, {2 * len(HOURS)} listed$"
    with pytest.raises(landing.LandingReadError, match=message):
        listed.read_bytes()
    with pytest.raises(landing.LandingReadError, match=message):
        pipeline.load_file("acme", listed, "cloud/week.jsonl", listed.etag)


A = HOURS + "first content, not json\n"
B = HOURS.replace("12:00", "11:00") + "corrected content, not json\n"


def _lands_a_b_a(store, put) -> None:  # noqa: ANN001
    """The file lands with content A, is corrected (B), then A lands again; each processed."""
    day = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
    for content in (A, B, A):
        put(content)
        process(store, day, 2)


def _marks(store) -> list[tuple[str, bool]]:  # noqa: ANN001
    return [(q["raw"], q["superseded"]) for q in quarantined(store, "cloud")]


def test_a_local_files_content_landing_again_is_its_current_content(every_store, tmp_path, monkeypatch):  # noqa: F811
    """A, B, then A again: A's content was processed before, so it is not processed again, and its
    quarantined record was listed superseded (a later processing of the file, B's), B's as current,
    though the file holds A. A record is superseded when its file's current content is another."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  cloud: {format: acme}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    _lands_a_b_a(every_store, lambda content: land("cloud", "week.jsonl", content))
    assert _marks(every_store) == [("first content, not json", False), ("corrected content, not json", True)]


def test_an_objects_content_uploaded_again_is_its_current_content(halo_env, s3_server, tmp_path, monkeypatch, store):
    """The same of an S3 object uploaded A, B, then A again (A's ETag again); `halo emr quarantine`
    lists what the Control Center's page does (service.quarantined)."""
    landing_at(s3_server, tmp_path, monkeypatch, "clinic-a")
    put = lambda content: s3_server.client().put_object(Bucket="emr-landing", Key=KEY, Body=content.encode())  # noqa: E731
    _lands_a_b_a(store, put)
    assert _marks(store) == [("first content, not json", False), ("corrected content, not json", True)]
    listed = CliRunner().invoke(cli, ["emr", "quarantine", "--format", "json"])
    assert [(q["raw"], q["superseded"]) for q in json.loads(listed.output)] == _marks(store)
    put(B)  # corrected again: B's content is the current one again
    process(store, (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat(), 2)
    assert _marks(store) == [("first content, not json", True), ("corrected content, not json", False)]


def test_an_object_uploaded_again_in_the_second_its_other_content_was_processed_is_current(halo_env, s3_server, tmp_path, monkeypatch,
                                                                                            store):
    """S3 gives LastModified in whole seconds: A uploaded again in the second B was processed (B at
    12:00:00.4, A at 12:00:00.7, listed as 12:00:00) read as older than B, and A's record stayed
    superseded (this test failed about one run in two at machine speed). Here B's processing is put
    just after A's LastModified; the scan that sees A again stamps it no earlier than it saw it."""
    landing_at(s3_server, tmp_path, monkeypatch, "clinic-a")
    client = s3_server.client()
    day = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
    for content in (A, B):
        client.put_object(Bucket="emr-landing", Key=KEY, Body=content.encode())
        process(store, day, 2)
    client.put_object(Bucket="emr-landing", Key=KEY, Body=A.encode())
    listed = client.head_object(Bucket="emr-landing", Key=KEY)["LastModified"].astimezone(dt.UTC)
    files, records = ProcessedFile.__table__, EmrQuarantine.__table__
    with store.write() as conn:
        b_at, b_sha = conn.execute(sa.select(files.c.processed_at, files.c.sha256).order_by(files.c.processed_at)).all()[1]
        moved = listed + dt.timedelta(microseconds=1)  # its quarantined records are written at its processed_at
        conn.execute(files.update().where(files.c.sha256 == b_sha).values(processed_at=moved))
        conn.execute(records.update().where(records.c.created_at == b_at).values(created_at=moved))
    process(store, day, 2)
    assert _marks(store) == [("first content, not json", False), ("corrected content, not json", True)]
