"""Review 16 of the delivery wire: the Host header of a provider base URL that holds a user
name and password; an SMTP connection dropped before DATA; the pause a SendGrid batch's requests
asked for; a status webhook whose host name resolves slowly."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.core.errors import HaloError
from halo_platform.delivery.dispatch import call_provider
from halo_platform.delivery.providers.base import ACKNOWLEDGED, PERMANENT, RETRYABLE, THROTTLED
from halo_platform.delivery.tables import WebhookAttempt
from halo_platform.delivery.webhooks import deliver
from halo_platform.http import create_app
from halo_platform.lab.fakehttp import FakeHTTPServer
from halo_platform_tests.delivery.conftest import outgoing
from halo_platform_tests.delivery.helpers import webhook_receiver
from halo_platform_tests.fixtures.access import bearer, make_key


def test_a_base_url_with_a_user_and_password_is_refused_before_any_request(fakes, make_provider) -> None:
    """The Host header read `user:s3cret-pw@127.0.0.1:<port>`: the password went to the provider (and
    to any proxy or log on the way) in a header no server reads it from. Such a base_url is now
    refused when the provider is built (f0489cf: also from `${ENV}`), naming the setting, never the
    password, and nothing is sent."""
    fake = fakes["sendgrid"]
    with pytest.raises(HaloError, match=r"base_url: a user name or password in the URL is never sent") as refused:
        make_provider("sendgrid", fake, base_url=f"http://user:s3cret-pw@127.0.0.1:{fake.port}")
    assert "s3cret-pw" not in str(refused.value)
    assert list(fake.requests) == []


@pytest.mark.parametrize("command", ["MAIL", "RCPT"])
@pytest.mark.parametrize("pooled", [False, True], ids=["new connection", "kept connection"])
def test_an_smtp_connection_dropped_before_data_is_a_plain_retry_not_an_unknown_outcome(command, pooled, smtp_server, make_provider) -> None:
    """A relay closing the connection at MAIL FROM or RCPT TO had been given no message (that starts
    with DATA), but the send read 'unknown: connection dropped': a HIGH message was never failed
    over to the next provider, a queued one counted as possibly sent."""
    provider = make_provider("smtp", smtp_server, host="127.0.0.1", port=smtp_server.port, timeout_seconds=3.0)
    if pooled:
        assert provider.send(outgoing("email")).outcome == ACKNOWLEDGED  # its connection stays in the pool
    smtp_server.switches.drop_at = command
    dropped = outgoing("email")
    result = provider.send(dropped)
    assert (result.outcome, result.detail) == (RETRYABLE, "not sent: connection dropped before DATA")
    assert provider.send(dropped).outcome == ACKNOWLEDGED  # the retry, on a new connection
    assert [m.message["X-Halo-Message-Id"] for m in smtp_server.messages.snapshot()].count(dropped.id) == 1


@pytest.fixture
def sendgrid_by_recipient():  # noqa: ANN201
    """A SendGrid Mail Send that answers by the recipients of a request: 400 if one is bounce@,
    else 429 with Retry-After: 30 if one is busy@, else 503 (no Retry-After) if one is down@, else 202."""
    server = FakeHTTPServer()

    @server.route("POST", r"/v3/mail/send")
    def send(request) -> tuple:  # noqa: ANN001
        to = {p["to"][0]["email"].partition("@")[0] for p in request.json()["personalizations"]}
        if "bounce" in to:
            return 400, {"errors": [{"message": "Does not contain a valid address.", "field": "personalizations.0.to.0.email"}]}
        if "busy" in to:
            return 429, {"Retry-After": "30"}, {"errors": [{"message": "too many requests"}]}
        if "down" in to:
            return 503, {"errors": [{"message": "service unavailable"}]}
        return 202, {"X-Message-Id": "sg-1"}, b""

    yield server.start()
    server.close()


@pytest.mark.parametrize(("recipients", "expected"), [
    # the 429 half first, the last request a 400: the 429 was read as a plain retryable error, no pause taken
    (["busy", "ok1", "ok2", "bounce"], {"busy": (THROTTLED, 30.0), "ok1": (THROTTLED, 30.0), "ok2": (ACKNOWLEDGED, None), "bounce": (PERMANENT, None)}),
    # the 429 half last: the other half's 503 (an error for the autopilot) was taken for a throttle of 30 s
    (["down", "bounce", "busy", "ok"], {"down": (RETRYABLE, None), "bounce": (PERMANENT, None), "busy": (THROTTLED, 30.0), "ok": (THROTTLED, 30.0)}),
], ids=["429 then 400", "503 then 429"])
def test_each_half_of_a_bisected_sendgrid_batch_keeps_the_pause_its_own_answer_asked_for(recipients, expected, sendgrid_by_recipient,
                                                                                        make_provider) -> None:
    """A batch bisected after a 400 is several requests; the batch's results all took the pause of
    the last one (`take_pause`), whichever half had asked for it."""
    provider = make_provider("sendgrid", sendgrid_by_recipient)
    messages = [outgoing("email", recipient=f"{name}@example.com", body="same", subject="Same") for name in recipients]
    results = call_provider(provider, messages)
    assert {name: (r.outcome, r.retry_after) for name, r in zip(recipients, results, strict=True)} == expected


@pytest.fixture
def slow_resolver(monkeypatch):  # noqa: ANN001, ANN201
    """socket.getaddrinfo answering for slow.example only after 4 s (a resolver that hangs; one we
    cannot run here): 127.0.0.1, or a global address (example.com's) where private ones are refused."""
    real, release, answer = socket.getaddrinfo, threading.Event(), {}

    def slow(host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if host != "slow.example":
            return real(host, port, *args, **kwargs)
        release.wait(4)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer["address"], port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    yield answer
    release.set()


@pytest.mark.parametrize("allow_private", [True, False], ids=["private allowed", "public only"])
def test_a_webhook_host_that_resolves_slowly_fails_its_attempt_at_the_request_deadline(allow_private, slow_resolver, providers_file, halo_store,
                                                                                        monkeypatch) -> None:
    """The host name was resolved before the request's deadline started (public only) or where the
    deadline could not end it (httpx's connect, private allowed): a resolver taking 4 s held a round
    with a 1 s timeout 4 s, every other message's webhooks behind it."""
    slow_resolver["address"] = "127.0.0.1" if allow_private else "93.184.216.34"
    monkeypatch.setenv("HALO_WEBHOOKS_ALLOW_PRIVATE", "1")  # the API takes the URL; `deliver` is told apart
    client = TestClient(create_app({"store": halo_store, "providers": providers_file({"sb": {"kind": "sandbox", "channel": "sms"}})}))
    client.headers.update(bearer(make_key(client.app, "messages:send")))
    with webhook_receiver() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        sent = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": f"http://slow.example:{port}/hooks"})
        assert sent.status_code == 202, sent.text
        started = time.monotonic()
        assert deliver(halo_store, timeout=1, max_seconds=10, allow_private=allow_private) == {"delivered": 0, "failed": 1, "messages": 1}
        assert time.monotonic() - started < 2.5  # the 1 s deadline, not the resolver's 4 s
        assert receiver.request_count == 0
    with halo_store.read() as conn:
        assert conn.execute(sa.select(WebhookAttempt.detail)).scalar_one() == "slow.example did not resolve within 1 s"
