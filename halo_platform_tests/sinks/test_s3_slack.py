"""S3 (moto) and Slack webhook (a loopback HTTP server) sinks: delivered, and their failures
classified: throttling, 5xx and unreachable endpoints are transient, a missing bucket or 4xx not."""

from __future__ import annotations

import pytest

from halo_platform.lab.fakehttp import FakeHTTPServer
from halo_platform.sinks import Delivery, deliver_with_retries
from halo_platform.sinks.base import PermanentSinkError, TransientSinkError
from halo_platform.sinks.s3 import S3Sink
from halo_platform.sinks.slack import SlackSink


def test_s3_uploads_under_the_prefix_with_a_sanitized_key(s3_server, report_file):
    s3_server.client().create_bucket(Bucket="reports")
    sink = S3Sink(bucket="reports", prefix="halo/finance/", endpoint_url=s3_server.endpoint_url, region=s3_server.region)
    assert sink.deliver(Delivery("r", "t", [report_file])) == [f"s3://reports/halo/finance/{report_file.name}"]
    body = s3_server.client().get_object(Bucket="reports", Key=f"halo/finance/{report_file.name}")["Body"].read()
    assert body == report_file.read_bytes()


def test_s3_throttling_is_retried_until_it_passes_and_a_missing_bucket_is_permanent(s3_server, report_file):
    s3_server.client().create_bucket(Bucket="reports")
    sink = S3Sink(bucket="reports", endpoint_url=s3_server.endpoint_url, region=s3_server.region)
    s3_server.switches.error_status, s3_server.switches.error_count = 503, 1
    outcome = deliver_with_retries("s3", sink, Delivery("r", "t", [report_file]), attempts=3, backoff_seconds=(0.01,))
    assert (outcome.status, outcome.attempts) == ("DELIVERED", 2)
    with pytest.raises(PermanentSinkError, match="NoSuchBucket"):
        S3Sink(bucket="nope", endpoint_url=s3_server.endpoint_url, region=s3_server.region).deliver(
            Delivery("r", "t", [report_file]))


def test_s3_unreachable_endpoint_is_transient(s3_server, report_file):
    with pytest.raises(TransientSinkError):
        S3Sink(bucket="reports", endpoint_url=s3_server.unreachable_endpoint_url, region=s3_server.region,
               timeout=2).deliver(Delivery("r", "t", [report_file]))


def test_slack_posts_a_text_message(http_fake: FakeHTTPServer):
    http_fake.add_route("POST", "/services/T0/B0/secret", lambda request: (200, "ok"))
    sink = SlackSink(webhook_url=f"{http_fake.url}/services/T0/B0/secret")
    assert sink.deliver(Delivery("3 campaign alerts", "- OVER_BUDGET: Spring")) == ["slack://127.0.0.1"]
    (request,) = http_fake.requests.snapshot()
    assert request.json() == {"text": "*3 campaign alerts*\n- OVER_BUDGET: Spring"}


def test_slack_with_no_link_store_fails_a_file_delivery_and_posts_nothing(http_fake: FakeHTTPServer, report_file):
    """A webhook cannot carry the file: with no link store to link it, the channel would get
    only its name, so the delivery is FAILED with the reason, not DELIVERED."""
    http_fake.add_route("POST", "/hook", lambda request: (200, "ok"))
    sink = SlackSink(webhook_url=f"{http_fake.url}/hook")
    outcome = deliver_with_retries("ops_slack", sink, Delivery("report", "3 issues", [report_file]), attempts=3)
    assert (outcome.status, outcome.attempts) == ("FAILED", 1)
    assert f"{report_file.name} ({report_file.stat().st_size} bytes) is not carried" in outcome.detail
    assert "no link_store" in outcome.detail
    assert http_fake.requests.snapshot() == []


def test_slack_sends_an_alert_text_alone_when_its_file_is_optional(http_fake: FakeHTTPServer, report_file):
    """An alert's text says all its JSON record holds: with no link store it still goes out."""
    http_fake.add_route("POST", "/hook", lambda request: (200, "ok"))
    sink = SlackSink(webhook_url=f"{http_fake.url}/hook")
    alert = Delivery("[halo ERROR] run failed", "error: boom", [report_file], files_optional=True)
    outcome = deliver_with_retries("ops_slack", sink, alert)
    assert outcome.status == "DELIVERED", outcome.detail
    (request,) = http_fake.requests.snapshot()
    assert request.json() == {"text": "*[halo ERROR] run failed*\nerror: boom"}


def test_slack_5xx_is_transient_and_a_connection_dropped_after_the_post_and_404_permanent(http_fake: FakeHTTPServer, report_file):
    """A connection dropped once the post was sent may have posted it: Slack keeps no delivery key,
    so it is not sent again (test_review_sinks_8)."""
    http_fake.add_route("POST", "/hook", lambda request: (200, "ok"))
    sink = SlackSink(webhook_url=f"{http_fake.url}/hook", timeout=5)
    http_fake.set_switches(html_502=True)
    with pytest.raises(TransientSinkError, match="502"):
        sink.deliver(Delivery("r", "t"))
    http_fake.reset()
    http_fake.set_switches(hard_down=True)
    with pytest.raises(PermanentSinkError, match="may have it"):
        sink.deliver(Delivery("r", "t"))
    http_fake.reset()
    with pytest.raises(PermanentSinkError, match="404"):
        SlackSink(webhook_url=f"{http_fake.url}/gone").deliver(Delivery("r", "t"))


def test_an_s3_https_endpoint_on_a_port_without_tls_is_refused_once_naming_it(s3_server, report_file):
    """`endpoint_url: https://...` on a port that answers in plain HTTP (a MinIO without TLS): botocore's
    'SSLError', retried at every attempt and with the run; no retry gives that port TLS."""
    s3_server.client().create_bucket(Bucket="reports")
    endpoint = s3_server.endpoint_url.replace("http://", "https://")
    sink = S3Sink(bucket="reports", endpoint_url=endpoint, region=s3_server.region, timeout=5)
    outcome = deliver_with_retries("archive", sink, Delivery("r", "t", [report_file]), attempts=3, backoff_seconds=(0.0,))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.detail
    assert outcome.detail == ("permanent: S3 reports: endpoint_url is https, but the server answers without TLS")


def test_an_s3_endpoint_whose_certificate_is_not_trusted_is_refused_once(s3_server, report_file, tls_files):
    """A self-signed certificate (no `AWS_CA_BUNDLE` naming its CA) was botocore's transient 'SSLError',
    retried at every attempt and with the run, where the other sinks say at once it is not trusted."""
    from halo_platform_tests.sinks.test_review_s3sink19 import AnsweringTLS

    server = AnsweringTLS(tls_files, b"H", (s3_server.host, s3_server.port), every=0.2, lines=1)
    try:
        sink = S3Sink(bucket="reports", endpoint_url=f"https://127.0.0.1:{server.port}", region=s3_server.region, timeout=5)
        outcome = deliver_with_retries("archive", sink, Delivery("r", "t", [report_file]), attempts=3, backoff_seconds=(0.0,))
    finally:
        server.close()
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.detail
    assert outcome.detail == "permanent: S3 reports: TLS certificate not trusted: self-signed certificate"
