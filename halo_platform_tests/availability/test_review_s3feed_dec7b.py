"""S3 landing review (Dec 7, b): two feeds landing at the same `s3://bucket/prefix/` of two
stores (endpoint_url), each read from its own; listings of an S3-compatible store or proxy that
omit the ETag or give a weak one (W/"..."). Held to emr.md's "S3 landing" and "Nothing stops
the pipeline", against moto's S3 server (two of them: one in a process of its own, as moto holds
its buckets per process)."""

from __future__ import annotations

import datetime as dt
import http.client
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Iterator

import boto3
import dagster as dg
import pytest
from click.testing import CliRunner

from halo_platform.availability import pipeline
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.freshness import freshness
from halo_platform.availability.sensors import emr_landing_sensor
from halo_platform.availability.service import quarantined
from halo_platform.cli import cli
from halo_platform.sinks import SinksResource
from halo_platform_tests.availability.helpers import process, spans_on
from halo_platform_tests.availability.test_s3_landing import HOURS, feed_at, s3_feed  # noqa: F401 - the fixture

DAY = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
OTHER_HOURS = HOURS.replace('"S1"', '"S2"').replace("12:00", "17:00")

# moto's S3 server (the suite's S3Server) in a process of its own: its port on the first line
_SERVE = ("import sys\nfrom halo_platform_tests.servers.s3 import S3Server\n"
          "server = S3Server(0).start()\nprint(server.port, flush=True)\nsys.stdin.read()\n")


@pytest.fixture
def other_store(s3_server) -> Iterator[str]:  # noqa: ARG001 - its credentials and region in the environment
    """The endpoint_url of a second S3 store, with its own bucket `emr-landing` (moto's buckets are
    one per process, and bucket names unique within it: a second server in this process shares them)."""
    server = subprocess.Popen([sys.executable, "-c", _SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        yield f"http://127.0.0.1:{int(server.stdout.readline())}"
    finally:
        server.terminate()
        server.wait(10)


def two_stores(s3_server, other: str, tmp_path, monkeypatch) -> tuple:  # noqa: ANN001
    """Feeds `cloud` (at moto's server) and `cloud2` (at `other`) land at s3://emr-landing/clinic-a/,
    each holding hours.jsonl of its own (S1 09:00-12:00; S2 09:00-17:00); the two stores' clients."""
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n"
                     f"  cloud: {{format: acme, landing: 's3://emr-landing/clinic-a/', endpoint_url: '{s3_server.endpoint_url}'}}\n"
                     f"  cloud2: {{format: acme, landing: 's3://emr-landing/clinic-a/', endpoint_url: '{other}'}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    clients = s3_server.client(), boto3.client("s3", endpoint_url=other, **s3_server.credentials)
    for client, text in zip(clients, (HOURS, OTHER_HOURS), strict=True):
        client.create_bucket(Bucket="emr-landing")
        client.put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=text.encode())
    return clients


def test_two_feeds_at_one_bucket_and_prefix_of_two_stores_each_read_their_own_objects(halo_env, s3_server, other_store,
                                                                                      store, tmp_path, monkeypatch):
    """Each object was read at the landing of the first feed whose `s3://bucket/prefix/` held its URL,
    whichever feed listed it: cloud2's hours.jsonl was asked of cloud's store (412 on its listed
    ETag: the run failed, every time). Each object is read at the landing it was listed from."""
    two_stores(s3_server, other_store, tmp_path, monkeypatch)
    assert process(store, DAY, 2).files == 2
    assert spans_on(store, "cloud", "S1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]
    assert spans_on(store, "cloud2", "S2", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T17:00Z")]
    assert spans_on(store, "cloud", "S2", DAY) == spans_on(store, "cloud2", "S1", DAY) == []
    assert quarantined(store, None) == []


def test_the_head_kept_of_a_quarantined_object_is_read_from_its_own_store(halo_env, s3_server, other_store, store, tmp_path,
                                                                          monkeypatch):
    """A file quarantined whole keeps its first bytes to be recognised: cloud2's were asked of cloud's store."""
    two_stores(s3_server, other_store, tmp_path, monkeypatch)
    (listed,) = pipeline.pending_files(store, get_feed("cloud2"))
    assert pickle.loads(pickle.dumps(listed.path)) == listed.path  # what a parsing worker process is handed
    assert pipeline.file_head(listed.path) == OTHER_HOURS.encode()


def test_when_each_object_landed_is_its_listed_last_modified_with_no_request_of_its_own(s3_feed, store):  # noqa: F811
    """Each processed object was stamped from a HEAD of its own after it was read (a thousand objects,
    a thousand more requests, each able to fail the feed's run), and of an object replaced meanwhile
    that HEAD gave the new content's LastModified. The listing gives each object's LastModified."""
    s3_feed.client().put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.encode())
    listed = s3_feed.client().list_objects_v2(Bucket="emr-landing")["Contents"][0]["LastModified"]
    seen = len(s3_feed.requests.snapshot())
    assert process(store, DAY, 2).files == 1
    assert {r.method for r in s3_feed.requests.snapshot(seen)} == {"GET"}
    assert freshness(store, "cloud").received_at == listed.astimezone(dt.UTC)


@pytest.fixture
def relisted(s3_feed, http_fake, tmp_path, monkeypatch):  # noqa: F811
    """`relisted(etag)`: feed `cloud` lands in s3://emr-landing/clinic-a/ through a proxy relaying
    every request to moto's server, whose listings' ETags it rewrites with `etag` (a function of the
    `<ETag>...</ETag>` element: "" drops it), as some S3-compatible stores and proxies answer; a
    request that `answers(request)` answers (status, headers, body) is not relayed."""

    def start(etag, answers=lambda request: None) -> None:  # noqa: ANN001
        def relay(request):  # noqa: ANN001, ANN202
            if answered := answers(request):  # the proxy's own answer, not relayed
                return answered
            upstream = http.client.HTTPConnection(s3_feed.host, s3_feed.port, timeout=10)
            target = request.path + (f"?{request.query_string}" if request.query_string else "")
            upstream.request(request.method, target, request.body, {k: v for k, v in request.headers.items() if k != "host"})
            answer = upstream.getresponse()
            body = answer.read()
            upstream.close()
            if "list-type" in request.query:
                body = re.sub(rb"<ETag>.*?</ETag>", lambda m: etag(m.group(0)), body)
            headers = {k: v for k, v in answer.getheaders() if k.lower() not in ("content-length", "transfer-encoding", "connection")}
            return answer.status, headers, body

        http_fake.add_route("*", ".*", relay)
        feed_at(tmp_path, monkeypatch, "clinic-a", http_fake.url)

    return start


def sensor_keys(store) -> list[str]:  # noqa: ANN001
    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(instance=instance, resources={"store": store, "sinks": SinksResource()}) as context:
            return [r.run_key for r in emr_landing_sensor(context).run_requests]


def test_objects_listed_without_an_etag_are_requested_and_processed_once(relisted, s3_feed, store, caplog):  # noqa: F811
    """A listing without ETags (an S3-compatible store or proxy omitting it) was a KeyError out of
    every sensor tick and `halo emr process`: no object of the feed, of any feed, was processed. Such
    an object stands for its content by its size and LastModified: requested, processed, then done."""
    s3_feed.client().put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.encode())
    relisted(lambda element: b"")
    (key,) = sensor_keys(store)
    assert key.startswith("cloud/hours.jsonl@")
    assert process(store, DAY, 2).files == 1
    assert spans_on(store, "cloud", "S1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]
    assert pipeline.pending_files(store, get_feed("cloud")) == [] and process(store, DAY, 2).files == 0
    s3_feed.client().put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.replace('"09:00","12:00"', '"09:00", "11:00"').encode())
    assert process(store, DAY, 2).files == 1  # uploaded again, another size (LastModified is in whole seconds)
    assert spans_on(store, "cloud", "S1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T11:00Z")]


def test_a_weak_etag_listed_by_a_proxy_is_read_as_the_objects_etag(relisted, s3_feed, store):  # noqa: F811
    """A proxy's weak ETag (W/"...") was sent as If-Match `"W/"..."`, which no object matches (412):
    every run failed on the object. Its mark is dropped: the object's key and If-Match are its ETag's."""
    s3_feed.client().put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.encode())
    etag = s3_feed.client().head_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl")["ETag"].strip('"')
    relisted(lambda element: element.replace(b"<ETag>", b"<ETag>W/"))
    assert sensor_keys(store) == [f"cloud/hours.jsonl@{etag}"]
    seen = len(s3_feed.requests.snapshot())
    assert process(store, DAY, 2).files == 1
    assert {r.header("If-Match") for r in s3_feed.requests.snapshot(seen) if "list-type" not in r.query} == {f'"{etag}"'}
    assert spans_on(store, "cloud", "S1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]


@pytest.mark.parametrize("etag, again", [(lambda element: element.replace(b"<ETag>", b"<ETag>W/"), "hours.jsonl"),
                                         (lambda element: b"", "hours-")], ids=["weak", "missing"])
def test_halo_emr_ingest_of_a_file_landed_already_reads_a_weak_or_missing_etag(relisted, s3_feed, tmp_path, etag, again):  # noqa: F811
    """The same content ingested again is where it landed: a weak ETag was taken for another
    content's (a copy landed under its hashed name), a listing without one was a KeyError's stack
    trace. Without an ETag the content is not known: it lands under its hashed name, never overwriting."""
    relisted(etag)
    (tmp_path / "hours.jsonl").write_text(HOURS)
    for expected in ("hours.jsonl", again):
        result = CliRunner().invoke(cli, ["emr", "ingest", "--feed", "cloud", str(tmp_path / "hours.jsonl")])
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"landed s3://emr-landing/clinic-a/{expected}")
    keys = [o["Key"] for o in s3_feed.client().list_objects_v2(Bucket="emr-landing")["Contents"]]
    assert len(keys) == (1 if again == "hours.jsonl" else 2)


NOT_IMPLEMENTED = (501, {"Content-Type": "application/xml"},
                   b"<Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message>"
                   b"<Header>If-None-Match</Header></Error>")


def test_halo_emr_ingest_to_a_store_without_conditional_puts_lands_the_file_once(relisted, s3_feed, tmp_path, caplog):  # noqa: F811
    """A store that answers a PUT's If-None-Match with 501 NotImplemented (older S3-compatible
    stores) failed every `halo emr ingest`. The name, found free just before, is then put plainly,
    with a warning that two ingests of one name at once could overwrite each other there."""
    relisted(lambda element: element,
             lambda request: NOT_IMPLEMENTED if request.method == "PUT" and request.headers.get("If-None-Match") else None)
    (tmp_path / "hours.jsonl").write_text(HOURS)
    for _ in range(2):  # the same content again: where it landed
        result = CliRunner().invoke(cli, ["emr", "ingest", "--feed", "cloud", str(tmp_path / "hours.jsonl")])
        assert result.exit_code == 0 and result.output == "landed s3://emr-landing/clinic-a/hours.jsonl\n", result.output
    (tmp_path / "hours.jsonl").write_text(HOURS.replace("12:00", "11:00"))  # other content of that name: its hashed name
    result = CliRunner().invoke(cli, ["emr", "ingest", "--feed", "cloud", str(tmp_path / "hours.jsonl")])
    assert result.exit_code == 0 and result.output.startswith("landed s3://emr-landing/clinic-a/hours-"), result.output
    objects = {o["Key"]: o for o in s3_feed.client().list_objects_v2(Bucket="emr-landing")["Contents"]}
    assert len(objects) == 2
    assert s3_feed.client().get_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl")["Body"].read() == HOURS.encode()
    assert "does not take If-None-Match" in caplog.text
