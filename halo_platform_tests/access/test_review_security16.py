"""Security review 16: personal data and secrets kept out of what the platform logs, stores and
shows, against the platform's Standards and access.md."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from halo_platform.access import users
from halo_platform.core.redact import install_redaction, mask_text
from halo_platform.core.store import StoreResource
from halo_platform.delivery.config import ProviderEntry
from halo_platform.delivery.providers.base import PERMANENT, RETRYABLE
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.lab.fakehttp import FakeHTTPServer
from halo_platform_tests.delivery.conftest import outgoing
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.fixtures.halo_serve import halo_serve
from halo_platform_tests.fixtures.ports import closed_port
from halo_platform_tests.test_review_cli_7 import halo

# addresses whose letters are not all ASCII: JSON written with Python's, PHP's or Java's defaults
# carries each such letter as a \\uXXXX escape
ESCAPED_ADDRESSES = [
    # the address, as the provider quotes it masked (a domain goes out as its ASCII form), as a log line's JSON quotes it masked
    ("zoë.müller@example.de", "z***@example.de", "z***@example.de"),
    ("анна@example.ru", "\\u0430***@example.ru", "\\u0430***@example.ru"),
    ("anna.schmidt@bücher.de", "a***@xn--bcher-kva.de", "a***@b\\u00fccher.de"),
]


@pytest.fixture
def sendgrid_echoing_the_recipient() -> Iterator[FakeHTTPServer]:
    """A SendGrid Mail Send that refuses every request 400, its error quoting the address it was
    given, in JSON as Python writes it (other than ASCII as \\uXXXX escapes)."""
    server = FakeHTTPServer()

    @server.route("POST", r"/v3/mail/send")
    def send(request) -> tuple:  # noqa: ANN001
        to = request.json()["personalizations"][0]["to"][0]["email"]
        return 400, {"errors": [{"message": f"{to} does not contain a valid address.", "field": "personalizations.0.to.0.email"}]}

    yield server.start()
    server.close()


@pytest.mark.parametrize(("address", "masked", "logged"), ESCAPED_ADDRESSES, ids=["latin", "cyrillic", "idn domain"])
def test_an_address_a_provider_quotes_in_escaped_json_is_masked_in_the_attempts_detail(address, masked, logged, sendgrid_echoing_the_recipient,
                                                                                       monkeypatch, caplog) -> None:
    """A provider's error body is kept as the attempt's detail (stored, logged, shown on the
    Messages page) after `mask_text`, and every log line passes it. An address with a letter other
    than ASCII comes in JSON as escapes, which the address rule did not read:
    `zo\\u00eb.m\\u***@example.de` kept all but the last letters of the name,
    `\\u0430\\u043d\\u043d\\u***@example.ru` three of four, and a log line's
    `anna.schmidt@b\\u00fccher.de` (a domain with such a letter) was not masked at all."""
    install_redaction()
    monkeypatch.setenv("TEST_SEC16_SENDGRID_KEY", "SG.fake-key")
    providers = ProvidersResource()
    settings = {"kind": "sendgrid", "channel": "email", "countries": ["*"], "capabilities": ["*"], "timeout_seconds": 2.0,
                "base_url": sendgrid_echoing_the_recipient.url, "api_key": "${TEST_SEC16_SENDGRID_KEY}", "sender": "noreply@example.com"}
    try:
        provider = providers.build(ProviderEntry("sendgrid_sec16", "sendgrid", "email", ("*",), ("*",), settings))
        result = provider.send(outgoing("email", recipient=address))
    finally:
        providers.close()
    assert result.outcome == PERMANENT
    assert f'"message": "{masked} does not contain a valid address."' in result.detail, result.detail
    # and a log line quoting such JSON is masked the same way
    with caplog.at_level(logging.INFO):
        logging.getLogger("halo_platform.sec16").info("provider answered %s", json.dumps({"to": address}))
    assert f'provider answered {{"to": "{logged}"}}' in caplog.text, caplog.text
    # masking stays idempotent
    assert mask_text(result.detail) == result.detail


@pytest.mark.parametrize(("typed", "encoded", "logged"), [
    ("+33 6 12 34 56 78", "%2B33+6+12+34+56+78", "%2B33+6+**+**+*6+78"),  # a browser's form: spaces as +
    ("+44 (20) 7946-0958", "%2B44+%2820%29+7946-0958", "%2B44+%282*%29+****-*958"),
    ("tel:+33612345678", "tel%3A%2B33612345678", "tel%3A%2B336*****678"),
], ids=["spaces", "brackets and dash", "tel uri"])
def test_a_phone_number_typed_into_the_messages_lookup_is_masked_in_the_access_log(typed, encoded, logged, halo_env, tmp_path) -> None:  # noqa: ANN001
    """A person on the phone with a patient types the patient's number into the Messages page's
    lookup (a GET form: it answers that no message has this id or key). The request line of
    `halo serve`'s access log held the number whole: written with spaces (a browser sends them as
    `+`, the number's own `+` as `%2B`) or after an encoded `tel:`, a number in a query string was
    no number for the masks."""
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    users.create_user(store, "rina", "viewer", "the very secret password")
    store.dispose()
    with halo_serve(tmp_path) as url, httpx.Client(base_url=url, timeout=30) as http:
        login = http.get("/ui/login")
        token = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert http.post("/ui/login", data={"name": "rina", "password": "the very secret password", "csrf_token": token}).status_code == 303
        looked_up = http.get("/ui/messages", params={"q": typed})
        assert looked_up.status_code == 404 and "No message has this id or idempotency key." in looked_up.text
        assert f"/ui/messages?q={encoded} " in str(looked_up.request.url) + " "  # what went over the wire
    log = "".join(p.read_text() for p in tmp_path.glob("serve-*.log"))
    assert f"/ui/messages?q={logged} HTTP/1.1" in log, [line for line in log.splitlines() if "/ui/messages" in line]
    assert encoded not in log


ONESIGNAL_KEY = "os_v2_app_2mw7kqhbnrgyzc5xq3lhfm4kqa6ehpnq7dsm2ay"


@pytest.fixture
def gateway_echoing_the_request() -> Iterator[FakeHTTPServer]:
    """A gateway in front of OneSignal answering 502 with a debugging page that repeats the
    request's headers, as misconfigured proxies do."""
    server = FakeHTTPServer()

    @server.route("POST", r"/notifications")
    def send(request) -> tuple:  # noqa: ANN001
        return 502, f"Bad Gateway. Request: POST /notifications Authorization: {request.headers['authorization']} Content-Type: application/json"

    yield server.start()
    server.close()


def test_a_onesignal_key_a_gateway_echoes_is_masked_in_the_attempts_detail(gateway_echoing_the_request, monkeypatch, caplog) -> None:
    """OneSignal's credential scheme is `Authorization: Key <api key>` (providers.md); the secret
    rule knew Bearer, Basic and Token, so an error page repeating the header kept the API key
    whole in the attempt's detail (stored, shown on the Messages page, logged), and a log line
    quoting `Authorization=Key <api key>` masked the word Key and kept the key."""
    install_redaction()
    monkeypatch.setenv("TEST_SEC16_ONESIGNAL_KEY", ONESIGNAL_KEY)
    providers = ProvidersResource()
    settings = {"kind": "onesignal", "channel": "push", "countries": ["*"], "capabilities": ["*"], "timeout_seconds": 2.0,
                "base_url": gateway_echoing_the_request.url, "app_id": "0d3c1f5e-1111-2222-3333-444455556666",
                "api_key": "${TEST_SEC16_ONESIGNAL_KEY}"}
    try:
        provider = providers.build(ProviderEntry("onesignal_sec16", "onesignal", "push", ("*",), ("*",), settings))
        result = provider.send(outgoing("push"))
    finally:
        providers.close()
    assert result.outcome == RETRYABLE and result.http_status == 502
    assert "Bad Gateway" in result.detail and "Authorization: Key ***" in result.detail, result.detail
    assert ONESIGNAL_KEY not in result.detail and ONESIGNAL_KEY[:12] not in result.detail
    with caplog.at_level(logging.INFO):
        logging.getLogger("halo_platform.sec16").info("request headers: %s", f"Authorization=Key {ONESIGNAL_KEY}")
    assert "Authorization=Key ***" in caplog.text and ONESIGNAL_KEY not in caplog.text, caplog.text


@pytest.mark.parametrize("url", ["https://ops:Xy7/kP2q+9w@127.0.0.1:{port}", "http://ops:s3cret/pa55w0rd@dagster.internal:{port}/dagster"])
def test_a_webserver_url_whose_password_holds_a_slash_is_named_without_it(url, app, halo_env, capsys, monkeypatch) -> None:  # noqa: ANN001
    """A generated password (base64) often holds `/`. DAGSTER_UI_URL with one written as is is
    refused, and the refusal names the URL masked: the password rule stopped at the `/`, and the
    address rule then masked the part after it as the name of an address, so the CLI's line and
    the API's 503 body read `https://ops:Xy7/k***@127.0.0.1:...`, most of the password in clear."""
    with closed_port() as port:
        monkeypatch.setenv("DAGSTER_UI_URL", url.format(port=port))
        password = url.split(":")[2].rpartition("@")[0]
        exit_code, out, err = halo(capsys, "tasks", "run", "payment_reconciliation", "--sink", "outbox")
        assert exit_code == 2 and out == [] and len(err) == 1
        assert err[0].startswith("error: could not submit the run to the Dagster webserver at ")
        assert ":***@" in err[0] and password.split("/")[0] not in err[0], err[0]
        answer = authorized_client(app, "tasks:request").post("/v1/tasks/payment_reconciliation/requests", json={"payload": {"tolerance": 0.01}})
    assert answer.status_code == 503, answer.text
    assert ":***@" in answer.json()["error"] and password.split("/")[0] not in answer.text, answer.text
