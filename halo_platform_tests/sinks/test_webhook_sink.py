"""The webhook sink against a real HTTP server on 127.0.0.1 that checks `X-Halo-Signature`
(`sha256=` + HMAC-SHA256 hex of the raw body under the shared secret, as delivery's webhooks) and answers 401 when it does not match:
the summary arrives signed, with links to the files in the link store; the secret comes from
the environment and never shows in targets or details; 5xx is retried, a refusal is not."""

from __future__ import annotations

import hashlib
import hmac

import pytest
import yaml

from halo_platform.lab.fakehttp import FakeHTTPServer, Request
from halo_platform.sinks import Delivery, SinksResource, deliver_with_retries
from halo_platform.sinks.slack import SlackSink
from halo_platform.sinks.webhook import WebhookSink

SECRET = "whsec-test-2f9c"


def verifying(request: Request) -> tuple[int, dict]:
    """What a receiver does: recompute the signature over the bytes it got."""
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("X-Halo-Signature", ""), expected):
        return 401, {"error": "bad signature"}
    return 200, {"ok": True}


def resource(tmp_path, monkeypatch, url: str, **webhook) -> SinksResource:  # noqa: ANN001
    monkeypatch.setenv("HALO_TEST_WEBHOOK_SECRET", SECRET)
    sinks = {
        "partner_hook": {"kind": "webhook", "url": url, "secret": "${HALO_TEST_WEBHOOK_SECRET}", **webhook},
        "links": {"kind": "folder", "path": str(tmp_path / "served"), "url": "https://files.example.com/halo/"},
    }
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": sinks}))
    return SinksResource(sinks_file=str(path), attempts=3, backoff=[0.01])


def test_the_summary_arrives_signed_with_a_link_to_the_file(http_fake: FakeHTTPServer, report_file, tmp_path, monkeypatch):
    http_fake.add_route("POST", "/hooks/halo", verifying)
    sinks = resource(tmp_path, monkeypatch, f"{http_fake.url}/hooks/halo?token=abc", link_store="links")
    outcome = sinks.deliver("partner_hook", Delivery("payment_reconciliation: week 10", "3 issue(s)", [report_file]))
    assert (outcome.status, outcome.attempts) == ("DELIVERED", 1), outcome.detail
    assert outcome.targets == [f"{http_fake.url}/hooks/***", (tmp_path / "served" / report_file.name).resolve().as_uri()]
    (request,) = http_fake.requests.snapshot()
    assert request.status == 200 and request.headers["Content-Type"] == "application/json"
    summary = request.json()
    assert summary["subject"] == "payment_reconciliation: week 10" and summary["text"] == "3 issue(s)"
    assert summary["files"] == [{"name": report_file.name, "bytes": report_file.stat().st_size,
                                 "url": f"https://files.example.com/halo/{report_file.name}"}]
    assert SECRET not in repr(outcome) and "token" not in repr(outcome)


def test_a_receiver_refusing_the_signature_is_a_permanent_failure(http_fake: FakeHTTPServer, tmp_path, monkeypatch):
    http_fake.add_route("POST", "/hooks/halo", verifying)
    sinks = resource(tmp_path, monkeypatch, f"{http_fake.url}/hooks/halo")
    monkeypatch.setenv("HALO_TEST_WEBHOOK_SECRET", "someone-elses-secret")
    outcome = sinks.deliver("partner_hook", Delivery("alert", "over budget"))
    assert (outcome.status, outcome.attempts) == ("FAILED", 1)
    assert "answered 401" in outcome.detail and "someone-elses-secret" not in outcome.detail


def test_5xx_is_retried_until_the_receiver_takes_it(http_fake: FakeHTTPServer, tmp_path, monkeypatch):
    answers = iter([(503, {"error": "busy"}), (502, {"error": "gateway"})])
    http_fake.add_route("POST", "/hooks/halo", lambda request: next(answers, None) or verifying(request))
    sinks = resource(tmp_path, monkeypatch, f"{http_fake.url}/hooks/halo")
    outcome = sinks.deliver("partner_hook", Delivery("alert", "over budget"))
    assert (outcome.status, outcome.attempts) == ("DELIVERED", 3)
    assert [r.status for r in http_fake.requests.snapshot()] == [503, 502, 200]


def test_a_file_with_no_link_store_is_refused_before_anything_is_posted(http_fake: FakeHTTPServer, report_file, tmp_path,
                                                                        monkeypatch):
    http_fake.add_route("POST", "/hooks/halo", verifying)
    outcome = resource(tmp_path, monkeypatch, f"{http_fake.url}/hooks/halo").deliver(
        "partner_hook", Delivery("report", "", [report_file]))
    assert outcome.status == "FAILED" and "is not carried, and the sink has no link_store" in outcome.detail
    assert http_fake.requests.snapshot() == []


@pytest.mark.parametrize("kind", ["slack", "webhook"])
def test_an_https_url_on_a_port_without_tls_is_refused_once_naming_it(kind, http_fake: FakeHTTPServer):
    """`https://` on a port that answers in plain HTTP (the receiver's TLS is on another port, or
    there is none): the handshake met a plain-text answer ('WRONG_VERSION_NUMBER'), which was
    'unreachable: ConnectError', retried at every attempt and with the run. No retry gives that
    port TLS: the failure is permanent and says so, and nothing was posted."""
    http_fake.add_route("POST", "/hook/T0/secret", lambda _request: (200, "ok"))
    url = http_fake.url.replace("http://", "https://") + "/hook/T0/secret"
    sink = SlackSink(webhook_url=url, timeout=5) if kind == "slack" else WebhookSink(url=url, secret=SECRET, timeout=5)
    outcome = deliver_with_retries("ops", sink, Delivery("[halo ERROR] run failed", "boom"), attempts=3, backoff_seconds=(0.0,))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.detail
    what = "Slack webhook" if kind == "slack" else f"webhook {http_fake.url.replace('http://', 'https://')}/hook/***"
    assert outcome.detail == f"permanent: {what}: its URL is https, but the server answers without TLS"
    assert http_fake.requests.snapshot() == []
