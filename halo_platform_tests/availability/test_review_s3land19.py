"""S3 landing review 19: an endpoint that answers a request a line (a byte) at a time, each within
botocore's read timeout and slower than the landing's time in total, and one whose answer is cut
off. The trickling endpoint relays the other requests to moto's S3 server."""

from __future__ import annotations

import datetime as dt
import socket
import time

import dagster as dg
import pytest
from click.testing import CliRunner

from halo_platform.availability import landing, pipeline
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.sensors import emr_landing_sensor
from halo_platform.availability.service import quarantined
from halo_platform.cli import cli
from halo_platform.sinks import SinksResource
from halo_platform_tests.availability.helpers import process, spans_on
from halo_platform_tests.availability.test_s3_landing import HOURS, feed_at, landing_at
from halo_platform_tests.sinks.test_review_sinks19 import Trickler


class Trickling(Trickler):
    """Relays each connection to moto but the first `times` ones whose request line holds `on` (`left`
    of them to come): those are sent `head` at once, then `line` every `every` seconds (`lines` of them)."""

    def __init__(self, on: bytes, upstream: tuple[str, int], line: bytes = b"H", every: float = 0.2, lines: int = 60,
                 head: bytes = b"", times: int = 1) -> None:
        self.on, self.head, self.left = on, head, times
        super().__init__(line, upstream, slow=0, every=every, lines=lines)

    def answer(self, conn: socket.socket, slow: bool) -> None:
        request = conn.recv(65536)
        if self.on in request.partition(b"\r\n")[0] and self.left > 0:
            self.left -= 1
            conn.sendall(self.head)
            self.trickle(conn)
        else:
            self.relay(conn, request)


@pytest.fixture
def trickled(halo_env, s3_server, tmp_path, monkeypatch):
    """`trickled(on)`: feed `cloud` lands in s3://emr-landing/clinic-a/ through a Trickling endpoint
    trickling the first request whose line holds `on`; the landing's time is 2 s (1 s failed the listing relayed to
    moto, not trickled, at load 10)."""
    monkeypatch.setattr(landing, "S3_TIMEOUT", 2.0)
    landing_at(s3_server, tmp_path, monkeypatch, "clinic-a")
    servers = []

    def start(on: bytes, **settings) -> Trickling:  # noqa: ANN003
        servers.append(server := Trickling(on, (s3_server.host, s3_server.port), **settings))
        feed_at(tmp_path, monkeypatch, "clinic-a", f"http://127.0.0.1:{server.port}")
        return server

    yield start
    for server in servers:
        server.close()


def _tick(store) -> dg.SensorResult:  # noqa: ANN001
    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(instance=instance, resources={"store": store, "sinks": SinksResource()}) as context:
            return emr_landing_sensor(context)


def test_a_listing_trickled_is_given_up_at_the_deadline_and_the_sensor_tick_goes_on(trickled, s3_server, store):
    """botocore's timeout holds for each read: a listing answered a byte every 0.2 s held the sensor's
    tick for as long as it went on (12 s here, for good with an endless one). It fails at the landing's
    time as a landing not read; the next tick lists the object."""
    s3_server.client().put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.encode())
    trickled(b"list-type=2")
    started = time.monotonic()
    result = _tick(store)
    assert time.monotonic() - started < 5  # 12 s before
    assert result.skip_reason.skip_message == "landing not read for cloud: S3 landing list s3://emr-landing/clinic-a/: no answer within 2 s"
    assert [r.run_key.partition("@")[0] for r in _tick(store).run_requests] == ["cloud/hours.jsonl"]


@pytest.mark.parametrize("on, what", [(b"GET /emr-landing/clinic-a/hours.jsonl ", "get")])
def test_an_object_read_trickled_fails_the_run_at_the_deadline_and_stays_pending(trickled, s3_server, store, on, what):
    """Processing reads the object (GET: planning the run's dates, then processing it): trickled, it
    held the run. The run fails at the landing's time (each read's), the object stays pending, and
    the next run processes it. (When it landed is its listed LastModified: no HEAD is made.)"""
    s3_server.client().put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.encode())
    day = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
    server = trickled(on, times=9)
    started = time.monotonic()
    with pytest.raises(Exception, match=f"S3 landing {what} s3://emr-landing/clinic-a/hours.jsonl: no answer within 2 s"):
        process(store, day, 2)
    assert time.monotonic() - started < 9  # 12 s a read before, then read again
    server.left = 0
    assert [f.relpath for f in pipeline.pending_files(store, get_feed("cloud"))] == ["cloud/hours.jsonl"]
    assert process(store, day, 2).files == 1
    assert spans_on(store, "cloud", "S1", day) == [(f"{day}T09:00Z", f"{day}T12:00Z")]
    assert quarantined(store, "cloud") == []


def test_an_object_whose_body_is_trickled_is_given_up_at_the_time_of_its_size(trickled, s3_server):
    """The head in time, then the body a byte every 0.2 s: the read has the landing's time and a
    second per 32 kB of the object's size from its head, not as long as the body goes on."""
    s3_server.client().put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=b"x" * 40)
    trickled(b"GET /emr-landing/clinic-a/hours.jsonl ", head=b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n", line=b"x")
    (listed,) = landing.landed(get_feed("cloud"))
    started = time.monotonic()
    with pytest.raises(landing.LandingReadError, match="^S3 landing get s3://emr-landing/clinic-a/hours.jsonl: no answer within 2 s$"):
        listed.read_bytes()
    assert time.monotonic() - started < 5  # 12 s before


def test_an_object_answered_in_chunks_is_read(trickled, s3_server):
    """An answer in chunks has no Content-Length to time its body by: it has the landing's time."""
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    s3_server.client().put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=b"hello")
    trickled(b"GET /emr-landing/clinic-a/hours.jsonl ", head=chunked, lines=0)
    (listed,) = landing.landed(get_feed("cloud"))
    assert listed.read_bytes() == b"hello"


def _ingest(path) -> tuple[int, str, float]:  # noqa: ANN001
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["emr", "ingest", "--feed", "cloud", str(path)])
    return result.exit_code, result.output, time.monotonic() - started


def test_an_upload_trickled_is_given_up_at_the_deadline_in_one_line(trickled, s3_server, tmp_path):
    """`halo emr ingest` into S3: a PUT answered a byte at a time held the command as long as it went on."""
    (tmp_path / "hours.jsonl").write_text(HOURS)
    trickled(b"PUT ")
    code, output, took = _ingest(tmp_path / "hours.jsonl")
    assert (code, output) == (2, "error: S3 landing put clinic-a/hours.jsonl: no answer within 2 s\n")
    assert took < 5  # 12 s before
    assert _ingest(tmp_path / "hours.jsonl")[:2] == (0, "landed s3://emr-landing/clinic-a/hours.jsonl\n")


def test_an_upload_whose_answer_is_cut_off_in_its_head_did_not_land(trickled, s3_server, tmp_path):
    """`200 OK` and a header, then the connection closed: http.client parses a whole 200 (the head
    ends with the stream), and `halo emr ingest` said the file landed though nothing said it was
    stored. An upload lands only on a 200 with the ETag S3 gives each object it stored."""
    (tmp_path / "hours.jsonl").write_text(HOURS)
    trickled(b"PUT ", line=b"HTTP/1.1 200 OK\r\nX-Slow: still\r\n", every=0.01, lines=1)
    code, output, _ = _ingest(tmp_path / "hours.jsonl")
    assert (code, output) == (2, "error: S3 landing put clinic-a/hours.jsonl: the answer was not a whole 200 with an ETag\n")
    assert _ingest(tmp_path / "hours.jsonl")[:2] == (0, "landed s3://emr-landing/clinic-a/hours.jsonl\n")


@pytest.fixture
def s3_feed(halo_env, s3_server, tmp_path, monkeypatch):
    """Feed `cloud` (acme) lands in s3://emr-landing/clinic a/ (a space in its prefix) at moto."""
    return landing_at(s3_server, tmp_path, monkeypatch, "clinic a")


ODD_NAMES = ["a b.jsonl", "a+b.jsonl", "café ☕.jsonl", "100%.jsonl", "a&b=c?.jsonl", "tab\there.jsonl", "~x#y.jsonl"]


def test_a_landing_of_over_a_page_of_objects_with_odd_names_is_listed_and_read_whole(s3_feed, store):
    """list_objects_v2 answers 1,000 keys a page: the landing follows its ContinuationToken; keys with
    spaces, `+`, `%`, unicode are listed, read and recorded as they are (`+` is no space)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    names = [f"f{i:04}.jsonl" for i in range(1001)]
    for name in names:  # moto's server runs in this process: a PUT each took 5 s
        s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object("emr-landing", f"clinic a/{name}", HOURS.encode())
    for name in ODD_NAMES:
        s3_feed.client().put_object(Bucket="emr-landing", Key=f"clinic a/{name}", Body=HOURS.encode())
    names += ODD_NAMES
    seen = len(s3_feed.requests.snapshot())
    found = landing.landed(get_feed("cloud"))
    assert sorted(f.name for f in found) == sorted(names)
    assert ["continuation-token" in r.query for r in s3_feed.requests.snapshot(seen)] == [False, True]  # two pages
    odd = [f for f in found if f.name in ODD_NAMES]
    assert [f.read_bytes() for f in odd] == [HOURS.encode()] * len(ODD_NAMES)
    assert [landing.received_at(f) is not None for f in odd] == [True] * len(ODD_NAMES)


def test_objects_with_odd_names_are_processed_and_recorded_as_they_are_named(s3_feed, store):
    day = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
    for name in ODD_NAMES:
        s3_feed.client().put_object(Bucket="emr-landing", Key=f"clinic a/{name}", Body=HOURS.encode())
    assert process(store, day, 2).files == len(ODD_NAMES)
    assert sorted(pipeline.processed_files(store, "cloud")) == sorted(f"cloud/{name}" for name in ODD_NAMES)
    assert pipeline.pending_files(store, get_feed("cloud")) == []
    assert spans_on(store, "cloud", "S1", day) == [(f"{day}T09:00Z", f"{day}T12:00Z")]
