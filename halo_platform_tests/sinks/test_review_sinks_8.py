"""Sinks review 8: what a destination may already hold is not sent to it again, unless it can
tell the two apart (a webhook's delivery_id)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import yaml

from halo_platform.lab.fakehttp import FakeHTTPServer
from halo_platform.sinks import Delivery
from halo_platform.sinks.base import TransientSinkError, deliver_with_retries
from halo_platform.sinks.slack import SlackSink
from halo_platform_tests.fixtures.ports import closed_port


def _answers_late_once(http_fake: FakeHTTPServer, path: str = "/slack") -> None:
    """The first post is taken but answered after the sender's read timeout; later ones at once."""
    seen = []
    lock = threading.Lock()

    def hook(request):  # noqa: ANN001, ANN202
        with lock:
            seen.append(request)
            first = len(seen) == 1
        if first:
            time.sleep(1.0)
        return 200, "ok"

    http_fake.add_route("POST", path, hook)


def test_a_slack_post_answered_too_late_is_not_posted_again(http_fake: FakeHTTPServer):
    """Slack's incoming webhooks keep no delivery key: a post the channel took but whose answer came
    after the timeout, sent again, showed the alert twice. Such a post fails once, permanently,
    saying the channel may have it; a post that never reached Slack is still retried."""
    _answers_late_once(http_fake)
    sink = SlackSink(webhook_url=f"{http_fake.url}/slack", timeout=0.3)
    outcome = deliver_with_retries("ops_slack", sink, Delivery("[halo ERROR] run failed", "boom"), attempts=3,
                                   backoff_seconds=(0.0,))
    time.sleep(1.0)  # the late answer is over: a second post would be in the log by now
    assert len(http_fake.requests) == 1, "the channel got the alert twice"
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True)
    assert "may have it" in outcome.detail and "/slack" not in outcome.detail

    with closed_port() as port, pytest.raises(TransientSinkError, match="unreachable"):  # nothing listens: nothing was sent
        SlackSink(webhook_url=f"http://127.0.0.1:{port}/slack", timeout=2).deliver(Delivery("r", "t"))


def _sink_that_may_have_the_alert(case: str, request: pytest.FixtureRequest) -> tuple[dict, Callable[[], int]]:
    """A sink's settings whose server takes the first alert but does not say so (no answer in time),
    or takes it for one recipient and refuses another; and how many alerts the first recipient holds."""
    if case == "slack answered too late":
        http_fake = request.getfixturevalue("http_fake")
        _answers_late_once(http_fake)
        return {"kind": "slack", "webhook_url": f"{http_fake.url}/slack", "timeout": 0.3}, lambda: len(http_fake.requests)
    smtp_server = request.getfixturevalue("smtp_server")
    if case == "email not answered":
        smtp_server.switches.drop_after_data = True
    else:
        smtp_server.switches.rcpt_replies = {"gone@example.com": "550 5.1.1 <gone@example.com>: no such user"}
    return ({"kind": "email", "host": smtp_server.host, "port": smtp_server.port, "sender": "halo@example.com",
             "to": ["ops@example.com", "gone@example.com"], "timeout": 1.0, **smtp_server.credentials},
            lambda: sum("ops@example.com" in m.rcpt_tos for m in smtp_server.messages))


@pytest.mark.parametrize("case", ["slack answered too late", "email not answered", "email refused for one recipient"])
def test_an_alert_the_sink_may_have_is_not_kept_for_the_outbox_to_send_again(case, halo_env, tmp_path, monkeypatch, request):
    """The outbox sends again what a sink failed to take; an alert sent whole but not answered was
    not refused and may be in the channel or mailbox, and one refused for one recipient is in the
    others' mailboxes: it was kept, and alert_retry_sensor's next tick sent it a second time (to every
    recipient). It is now logged as failed and not kept."""
    from halo_platform.alerts import outbox, send
    from halo_platform.alerts.send import Alert
    from halo_platform.core.store import StoreResource
    from halo_platform.sinks import SinksResource

    monkeypatch.setattr(outbox, "RETRY_AFTER_SECONDS", (0.2, 60.0))
    settings, received = _sink_that_may_have_the_alert(case, request)
    sinks_file = tmp_path / "sinks.yaml"
    sinks_file.write_text(yaml.safe_dump({"sinks": {"ops": settings}}))
    sinks, store = SinksResource(sinks_file=str(sinks_file)), StoreResource()
    try:
        (outcome,) = send.send_alerts([Alert("run failed: ledger_job", "ERROR", "boom", run_id="r1")], sinks,
                                      to=["ops"], store=store)
        assert outcome.status == "FAILED", outcome.detail
        time.sleep(1.0)
        assert send.resend_due(sinks, store) == []
        assert received() == 1, "the outbox sent the alert again"
        assert outcome.maybe_delivered
    finally:
        store.engine.dispose()


def test_a_run_whose_email_some_recipients_took_is_not_retried_when_another_sink_was_down(
        halo_env, smtp_server, tmp_path, monkeypatch):
    """reports.md, exactly once per sink: a retried run sends nothing to a sink that has the output.
    An email taken for owner@ (refused for gone@) is not sent again by the sink, and a run whose only
    failures were such is not retried; but with a second sink down (a retry may fix that) the
    instance's run retries (dagster.yaml: 2) ran it again, and each retry sent owner@ the email again.
    A run whose failed sink has the output in part, or may have it, is not retried."""
    import datetime as dt
    from decimal import Decimal

    from halo_platform.core.definitions import STORE
    from halo_platform.reports.demo import campaign, write_marketing
    from halo_platform.reports.requests import create_request, dagster_instance

    marketing = tmp_path / "marketing.duckdb"
    write_marketing(marketing, [campaign("C1", dt.date(2099, 1, 1), "100.00")],  # over its budget
                    [{"campaign_id": "C1", "spend_date": dt.date(2024, 5, 1), "amount": Decimal("150.00")}])
    (tmp_path / "warehouses.yaml").write_text(yaml.safe_dump({"warehouses": {"marketing": {"url": f"duckdb:///{marketing}"}}}))
    with closed_port() as ftp_port:  # nothing listens
        (tmp_path / "sinks.yaml").write_text(yaml.safe_dump({"sinks": {
            "owners": {"kind": "email", "host": "127.0.0.1", "port": smtp_server.port, "sender": "r@example.com",
                       "to": ["owner@example.com", "gone@example.com"]},
            "partner_ftp": {"kind": "ftp", "host": "127.0.0.1", "port": ftp_port},
        }}))
        for name, value in {"HALO_WAREHOUSES_FILE": "warehouses.yaml", "HALO_SINKS_FILE": "sinks.yaml"}.items():
            monkeypatch.setenv(name, str(tmp_path / value))
        monkeypatch.setenv("HALO_SINK_BACKOFF", "0.05")
        smtp_server.switches.rcpt_replies = {"gone@example.com": "550 5.1.1 <gone@example.com>: no such user"}
        STORE.dispose()
        try:
            failed = create_request(STORE, "campaign_alerts", {"as_of": "2024-05-10"}, ["owners", "partner_ftp"], wait=True)
            assert [(d["sink"], d["status"]) for d in failed["deliveries"]] == [("owners", "FAILED"), ("partner_ftp", "FAILED")]
            assert [m.rcpt_tos for m in smtp_server.messages.snapshot()] == [["owner@example.com"]]
            assert dagster_instance().get_run_by_id(failed["request_id"]).tags["dagster/will_retry"] == "false"
        finally:
            STORE.dispose()


@pytest.mark.parametrize("kind", ["slack", "webhook"])
def test_a_webhook_url_whose_certificate_is_not_trusted_is_refused_once_not_retried(kind, tls_files):
    """A self-signed certificate on a Slack or webhook URL was 'unreachable: ConnectError', retried
    at every attempt (and by the run's retries), where the email and FTP sinks say at once that
    the certificate is not trusted: no retry makes it trusted."""
    import http.server

    from halo_platform.sinks.webhook import WebhookSink

    class Answers(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the handler's name
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args) -> None:  # noqa: ANN002
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Answers)
    server.socket = tls_files.server_context().wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{server.server_port}/hook"
        sink = SlackSink(webhook_url=url, timeout=5) if kind == "slack" else WebhookSink(url=url, secret="s" * 32, timeout=5)
        outcome = deliver_with_retries("ops", sink, Delivery("[halo ERROR] run failed", "boom"), attempts=3, backoff_seconds=(0.0,))
    finally:
        server.shutdown()
        server.server_close()
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.detail
    assert "TLS certificate not trusted" in outcome.detail and "/hook" not in outcome.detail, outcome.detail


@pytest.mark.parametrize("kind", ["slack", "webhook"])
def test_an_answer_whose_body_never_ends_holds_no_delivery(kind):
    """The Slack and webhook sinks read the whole answer into memory: a receiver answering 200 with
    a body that never ends (a chunk every 0.2 s, each within the read timeout) held the report's
    run, and the sinks after it, for good. The status is the answer; at most a line of the body
    is read, for a refusal's reason."""
    from halo_platform.sinks.webhook import WebhookSink
    from halo_platform_tests.delivery.test_review_callbacks_8 import endless_receiver

    outcomes = []
    with endless_receiver() as url:
        sink = SlackSink(webhook_url=url, timeout=2) if kind == "slack" else WebhookSink(url=url, secret="s" * 32, timeout=2)
        sending = threading.Thread(target=lambda: outcomes.append(
            deliver_with_retries("ops", sink, Delivery("[halo ERROR] run failed", "boom"), attempts=1, backoff_seconds=(0.0,))), daemon=True)
        sending.start()
        sending.join(10)
    assert not sending.is_alive(), "still reading the answer"
    assert outcomes[0].status == "DELIVERED", outcomes[0].detail
