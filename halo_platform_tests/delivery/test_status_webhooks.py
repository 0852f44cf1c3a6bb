"""Status webhooks against a real HTTP receiver on 127.0.0.1 and the Twilio fake: every
lifecycle event of a message with a `callback_url` reaches the receiver once, in order per
message, signed with the sending key's webhook secret, although the receiver failed its first 3
requests; every attempt is recorded; events older than 24 h are given up; the backlog shows in
`halo delivery webhooks` and warns past an hour."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import socket
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.access.keys import webhook_secret_of
from halo_platform.cli import cli
from halo_platform.core.definitions import STORE
from halo_platform.core.models import utcnow
from halo_platform.delivery.follow_up import backlog_result
from halo_platform.delivery.tables import Message, MessageEvent, WebhookAttempt
from halo_platform.delivery.webhooks import backlog, deliver, pinned, public_address
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain, webhook_receiver
from halo_platform_tests.fixtures.access import bearer, make_key

NO_WAIT = (0,)


@pytest.fixture
def receiver():  # noqa: ANN201
    with webhook_receiver(fail=3) as server:
        yield server


@pytest.fixture
def setup(fakes, providers_file, halo_store, monkeypatch):  # noqa: ANN001, ANN201
    from fastapi.testclient import TestClient

    monkeypatch.setenv("HALO_WEBHOOKS_ALLOW_PRIVATE", "1")  # the receiver listens on 127.0.0.1

    providers = providers_file({"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"}})
    client = TestClient(create_app({"store": halo_store, "providers": providers}))
    key = make_key(client.app, "messages:send", "messages:read")
    client.headers.update(bearer(key))
    return client, providers, halo_store, key



def events_of(message_ids: list[str]) -> dict[str, list[int]]:
    with STORE.read() as conn:
        rows = conn.execute(sa.select(MessageEvent.id, MessageEvent.message_id).where(MessageEvent.message_id.in_(message_ids)).order_by(MessageEvent.id))
        out: dict[str, list[int]] = {}
        for event_id, message_id in rows:
            out.setdefault(message_id, []).append(event_id)
    return out


def test_a_receiver_that_fails_3_times_then_recovers_receives_every_event_once_in_order(setup, receiver):
    client, providers, store, key = setup
    hook = f"{receiver.url}/hooks"
    ids = [client.post("/v1/messages/sms", json={"to": f"+3361234567{i}", "body": f"hello {i}", "priority": p, "callback_url": hook}).json()["id"]
           for i, p in enumerate(["LOW", "NORMAL", "HIGH"])]
    drain(providers, store)
    sid = client.get(f"/v1/messages/{ids[0]}").json()["provider_message_id"]
    params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": SECRETS["twilio"]["account_sid"], "From": "+33700000000", "To": "+33612345670"}
    signature = twilio_signature("http://testserver/v1/callbacks/tw", params)
    assert client.post("/v1/callbacks/tw", content=urlencode(params), headers={"X-Twilio-Signature": signature,
                       "Content-Type": "application/x-www-form-urlencoded"}).json()["applied"] == 1
    start = utcnow()
    for minute in range(10):  # one delivery run per (simulated) minute until the backlog is empty
        deliver(store, clock=lambda m=minute: start + dt.timedelta(minutes=m), backoff=(30,), max_seconds=10)
    clock = start + dt.timedelta(minutes=10)
    expected = events_of(ids)
    assert [len(expected[i]) for i in ids] == [3, 2, 2]  # queued, sent (, received)
    secret = webhook_secret_of(key)
    received: dict[str, list[int]] = {}
    for signature, body in receiver.got:
        assert signature == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        event = json.loads(body)
        received.setdefault(event["message_id"], []).append(event["event_id"])
    assert received == expected  # every event once, in order per message
    with STORE.read() as conn:
        attempts = conn.execute(sa.select(WebhookAttempt.ok, sa.func.count()).group_by(WebhookAttempt.ok)).all()
    assert dict(attempts) == {False: 3, True: 7}
    assert backlog(store, clock)["events"] == 0
    assert client.get(f"/v1/messages/{ids[0]}").json()["callback_url"] == hook


def test_the_message_view_shows_the_callback_url_without_its_query(setup, receiver):
    client, _providers, _store, _key = setup
    sent = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "callback_url": f"{receiver.url}/hooks?token=s3cret"}).json()
    assert client.get(f"/v1/messages/{sent['id']}").json()["callback_url"] == f"{receiver.url}/hooks"


def twilio_signature(url: str, params: dict) -> str:
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(SECRETS["twilio"]["auth_token"].encode(), data.encode(), hashlib.sha1).digest()).decode()


def test_a_later_event_never_overtakes_an_earlier_one_that_failed(setup, receiver):
    client, providers, store, _key = setup
    receiver.fail = 1
    client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": f"{receiver.url}/hooks"})
    drain(providers, store)  # queued, sent
    now = utcnow()
    assert deliver(store, clock=lambda: now, max_seconds=10) == {"delivered": 0, "failed": 1, "messages": 1}
    assert receiver.got == []  # `sent` waits behind the failed `queued`
    waiting = backlog(store, now)
    assert (waiting["events"], waiting["due_messages"], waiting["failed_attempts"]) == (2, 0, 1)
    later = now + dt.timedelta(seconds=11)
    assert deliver(store, clock=lambda: later, max_seconds=10)["delivered"] == 2
    assert len(receiver.got) == 2


def test_a_callback_that_changes_no_status_is_kept_in_the_history_and_sent_to_no_webhook(setup, receiver):
    """Twilio's `sent` (our `delivered`) and `delivered` (our `received`) callbacks may arrive in
    either order, and a received message may still be reported `failed` (`provider_error`).
    Each is kept in the message's history; only a lifecycle change is POSTed to the sender
    (spec), who before got `delivered` after `received` and a `provider_error` for a message
    that stays received."""
    client, providers, store, _key = setup
    receiver.fail = 0
    view = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "callback_url": f"{receiver.url}/hooks"}).json()
    drain(providers, store)  # queued, sent
    sid = client.get(f"/v1/messages/{view['id']}").json()["provider_message_id"]
    for status in ("delivered", "sent", "failed"):
        params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": SECRETS["twilio"]["account_sid"], "From": "+33700000000", "To": "+33612345678"}
        answer = client.post("/v1/callbacks/tw", content=urlencode(params), headers={
            "X-Twilio-Signature": twilio_signature("http://testserver/v1/callbacks/tw", params), "Content-Type": "application/x-www-form-urlencoded"})
        assert answer.json()["applied"] == 1
    shown = client.get(f"/v1/messages/{view['id']}").json()
    assert (shown["status"], [(e["event"], e["overtaken"]) for e in shown["events"]]) == ("received", [
        ("queued", False), ("sent", False), ("received", False), ("delivered", True), ("provider_error", True)])
    status = CliRunner().invoke(cli, ["delivery", "status", view["id"]])
    assert [line.split()[1:3] for line in status.output.splitlines()[1:] if "(overtaken: no status change)" in line] == [
        ["delivered", "tw"], ["provider_error", "tw"]], status.output
    assert deliver(store, max_seconds=10)["delivered"] == 3
    assert [json.loads(body)["event"] for _signature, body in receiver.got] == ["queued", "sent", "received"]
    assert backlog(store)["events"] == 0


def test_events_older_than_24_hours_are_given_up(setup, receiver):
    client, _providers, store, _key = setup
    receiver.fail = 10**6
    client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": f"{receiver.url}/hooks"})
    assert backlog(store)["events"] == 1
    assert backlog(store, utcnow() + dt.timedelta(hours=24, seconds=1))["events"] == 0


def test_the_backlog_shows_in_the_cli_and_its_check_warns_past_an_hour(setup, receiver):
    client, _providers, store, _key = setup
    receiver.fail = 10**6
    client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": f"{receiver.url}/hooks"})
    shown = CliRunner().invoke(cli, ["delivery", "webhooks", "--deliver"])
    assert shown.exit_code == 0, shown.output
    assert "delivered 0, failed 1" in shown.output and "pending events: 1  messages: 1  due now: 0  failed attempts: 1" in shown.output
    assert backlog_result(backlog(store)).passed
    late = backlog_result(backlog(store, utcnow() + dt.timedelta(minutes=61)))
    assert not late.passed and late.severity.value == "WARN"


@pytest.mark.parametrize(("url", "reason"), [("ftp://example.com/x", "http(s) URL"), ("https://", "with a host"), ("https://a.example/\nx", "http(s) URL")])
def test_a_bad_callback_url_is_422(setup, url, reason):
    client, _providers, _store, _key = setup
    response = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "callback_url": url})
    assert response.status_code == 422 and reason in response.json()["error"]


LONG_LABEL = "a" * 300


@pytest.mark.parametrize(("url", "reason"), [
    ("http://[::1", "not a valid URL"),
    ("https://[not-ip]/x", "not a valid URL"),
    ("http://93.184.216.34:99999/hook", "port"),
    ("http://93.184.216.34:abc/hook", "port"),
    ("http://93.184.216.34:-1/hook", "port"),
    ("http://93.184.216.34:0/hook", "port"),
    (f"http://{LONG_LABEL}.example.com/hook", "host name"),
    (f"http://{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 63}.example/hook", "host name"),
    ("http://a..example.com/hook", "host name"),
    ("http://-a.example.com/hook", "host name"),
    ("http://a%20b.example.com/hook", "host name"),
    ("http://1.2.3/hook", "IPv4"),
    ("http://ex\u00e4mple\u2028.com/hook", "http(s) URL"),
    ("http://ex\tample.com/hook", "http(s) URL"),
    ("http://xn--ex\u00e4mple.com/hook", "host name"),
    ("https://hooks:S3cretPassw0rd@hooks.example.com/halo", "user name or password"),
    ("https://@hooks.example.com/halo", "user name or password"),
])
def test_a_callback_url_the_webhook_worker_could_not_call_is_422_naming_the_field_and_nothing_is_stored(setup, url, reason):
    """A URL whose host or port cannot be read answered 500; a port out of range was stored and
    then stopped every webhook run; a password in it was shown to whoever reads the message."""
    client, _providers, store, _key = setup
    response = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "callback_url": url})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error.startswith("callback_url: ") and reason in error and "S3cret" not in error
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(MessageEvent)).scalar() == 0


@pytest.mark.parametrize(("url", "stored"), [
    ("http://ex\u00e4mple.com/hooks?t=1", "http://xn--exmple-cua.com/hooks?t=1"),
    ("https://B\u00fccher.example:8443/h", "https://xn--bcher-kva.example:8443/h"),
    ("https://hooks.example.com./h", "https://hooks.example.com./h"),
    ("https://my_hooks.example.com/h", "https://my_hooks.example.com/h"),
    ("https://[2001:db8::1]:8443/h", "https://[2001:db8::1]:8443/h"),
    (f"https://{'a' * 63}.example.com/h", f"https://{'a' * 63}.example.com/h"),
])
def test_an_internationalized_host_is_kept_in_its_ascii_form_and_other_valid_hosts_as_given(setup, url, stored):
    """The worker resolves the name and sends it as the Host header and the TLS name, which
    take ASCII only: a host name in other letters is stored as its IDNA (UTS 46) A-label."""
    client, _providers, store, _key = setup
    response = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "callback_url": url})
    assert response.status_code == 202, response.text
    with store.read() as conn:
        assert conn.execute(sa.select(Message.callback_url).where(Message.id == response.json()["id"])).scalar_one() == stored


def _stored_before_the_checks(store, message_id: str, url: str) -> None:  # noqa: ANN001
    """`url` as an older version stored it: it checked only the scheme and that a host was there."""
    with store.write() as conn:
        conn.execute(sa.update(Message).where(Message.id == message_id).values(callback_url=url))


BAD_STORED = ["http://93.184.216.34:99999/hook", "http://93.184.216.34:abc/hook", "http://ex\u00e4mple.com:0/hook",
              f"http://{LONG_LABEL}.example.com/hook"]


@pytest.mark.parametrize("allow_private", [True, False])
def test_a_stored_callback_url_that_cannot_be_called_is_a_failed_attempt_and_the_others_are_delivered(setup, receiver, allow_private):
    """Such a URL raised `ValueError: Port out of range` out of the worker before any attempt was
    recorded, so every run (and `halo delivery webhooks --deliver`) stopped at it for 24 h."""
    client, _providers, store, _key = setup
    receiver.fail = 0
    good = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": f"{receiver.url}/hooks"}).json()["id"]
    bad = [client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": "https://example.com/h"})
           .json()["id"] for _ in BAD_STORED]
    for message_id, url in zip(bad, BAD_STORED, strict=True):
        _stored_before_the_checks(store, message_id, url)
    result = deliver(store, max_seconds=10, allow_private=allow_private)
    assert result == {"delivered": 1 if allow_private else 0, "failed": len(bad) + (0 if allow_private else 1), "messages": len(bad) + 1}
    assert [json.loads(body)["message_id"] for _, body in receiver.got] == ([good] if allow_private else [])
    with STORE.read() as conn:
        details = dict(conn.execute(sa.select(WebhookAttempt.message_id, WebhookAttempt.detail).where(WebhookAttempt.message_id.in_(bad))).all())
    assert [details[i].split(":")[0] for i in bad] == ["callback_url"] * len(bad), details
    shown = CliRunner().invoke(cli, ["delivery", "webhooks", "--deliver"])
    assert shown.exit_code == 0, shown.output


def test_a_password_in_a_stored_callback_url_is_never_shown_nor_sent(setup, receiver):
    """Stored before URLs with a user name or password were refused: the message view masks it
    (it showed it whole, stripping only the query), and the webhook goes without it."""
    client, _providers, store, _key = setup
    receiver.fail = 0
    sent = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": f"{receiver.url}/hooks"}).json()
    host = receiver.url.split("//", 1)[1]
    _stored_before_the_checks(store, sent["id"], f"http://hooks:S3cretPassw0rd@{host}/hooks?token=t0ken#frag")
    view = client.get(f"/v1/messages/{sent['id']}")
    assert "S3cret" not in view.text and "t0ken" not in view.text
    assert view.json()["callback_url"] == f"http://***@{host}/hooks"
    assert deliver(store, max_seconds=10)["delivered"] == 1
    assert receiver.got and [r.headers.get("Authorization") for r in receiver.requests] == [None]


@pytest.mark.parametrize(("url", "shown"), [("http://93.184.216.34:99999/hook", "(not a valid URL)"),
                                            ("http://u:p#ss@hooks.example.com/h", "(not a valid URL)")])
def test_a_stored_callback_url_that_cannot_be_read_is_shown_as_such(setup, url, shown):
    client, _providers, store, _key = setup
    sent = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": "https://example.com/h"}).json()
    _stored_before_the_checks(store, sent["id"], url)
    assert client.get(f"/v1/messages/{sent['id']}").json()["callback_url"] == shown


def test_a_callback_url_needs_an_api_key(setup):
    _client, providers, store, _key = setup
    from halo_platform.core.errors import HaloError
    from halo_platform.delivery.service import submit

    with pytest.raises(HaloError, match="callback_url: .*API key"):
        submit("sms", {"to": "+33612345678", "body": "b", "callback_url": "https://example.com/h"}, store=store, providers=providers)
    from halo_platform.delivery.service import enqueue_many

    with pytest.raises(HaloError, match="callback URLs"):  # no key to sign with: refused, not queued unsigned
        enqueue_many("sms", [{"to": "+33612345678", "body": "b", "callback_url": "https://example.com/h"}], store=store, providers=providers)


def test_the_sensor_launches_a_run_only_when_a_webhook_is_due(setup, receiver):
    import dagster as dg

    from halo_platform.delivery.follow_up import status_webhooks_sensor

    client, _providers, store, _key = setup

    instance = dg.DagsterInstance.ephemeral()

    def evaluate():  # noqa: ANN202
        with dg.build_sensor_context(instance=instance, resources={"store": store}) as context:
            return status_webhooks_sensor(context)

    assert evaluate().skip_message == "no webhook pending"
    client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": f"{receiver.url}/hooks"})
    assert isinstance(evaluate(), dg.RunRequest)
    deliver(store, max_seconds=5)  # the receiver fails: the event waits for its retry
    assert "waiting for a retry" in evaluate().skip_message


def test_a_callback_url_on_a_non_public_address_is_refused_unless_allowed(setup, receiver, monkeypatch):
    client, _providers, store, _key = setup
    receiver.fail = 0
    monkeypatch.delenv("HALO_WEBHOOKS_ALLOW_PRIVATE")
    client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": f"{receiver.url}/hooks"})
    assert deliver(store, max_seconds=5)["failed"] == 1
    assert receiver.got == [] and receiver.request_count == 0
    with STORE.read() as conn:
        assert conn.execute(sa.select(WebhookAttempt.detail)).scalar_one() == "127.0.0.1 is a non-public address (127.0.0.1)"
    assert deliver(store, clock=lambda: utcnow() + dt.timedelta(seconds=11), max_seconds=5, allow_private=True)["delivered"] == 1


# IPv6 forms that carry an IPv4 address (RFC 4291 mapped and compatible, RFC 2765 translated,
# RFC 6052 NAT64, RFC 3056 6to4) lead to that address: they are as public as it is
NON_PUBLIC_IPV6 = [
    "::127.0.0.1", "::ffff:127.0.0.1", "::ffff:0:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1",  # 127.0.0.1
    "::", "::1", "::0.0.0.0", "::10.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::",  # unspecified, loopback, 10/8
    "64:ff9b::a9fe:a9fe", "::169.254.169.254", "2002:a9fe:a9fe::1", "::ffff:192.168.1.1", "64:ff9b::c0a8:101",  # metadata, 192.168/16
    "::100.64.0.1", "64:ff9b::e000:1", "2002:e000:1::1",  # shared (CGN) and multicast IPv4
    "64:ff9b:1::a00:1",  # NAT64 for local use (RFC 8215)
    "fe80::1", "fc00::1", "2001:db8::1", "ff02::1",
]
PUBLIC = ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("host", NON_PUBLIC_IPV6 + ["127.0.0.1", "10.1.2.3", "169.254.169.254", "0.0.0.0", "224.0.0.1"])
def test_an_address_that_leads_to_a_non_public_one_is_refused(host):
    assert public_address(host) == (None, f"{host} is a non-public address ({ipaddress.ip_address(host)})")


@pytest.mark.parametrize("host", PUBLIC)
def test_a_public_address_in_any_form_is_called_as_it_was_given(host):
    assert public_address(host) == (host, None)


@pytest.mark.parametrize("host", ["::127.0.0.1", "64:ff9b::7f00:1", "::ffff:0:127.0.0.1", "2002:7f00:1::1"])
def test_a_callback_url_on_an_ipv6_form_of_the_loopback_address_is_refused(setup, receiver, monkeypatch, host):
    client, _providers, store, _key = setup
    receiver.fail = 0
    monkeypatch.delenv("HALO_WEBHOOKS_ALLOW_PRIVATE")
    port = receiver.url.rsplit(":", 1)[1]
    client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": f"http://[{host}]:{port}/hooks"})
    assert deliver(store, max_seconds=5, timeout=1)["failed"] == 1
    assert receiver.request_count == 0
    with STORE.read() as conn:
        assert conn.execute(sa.select(WebhookAttempt.detail)).scalar_one() == f"{host} is a non-public address ({ipaddress.ip_address(host)})"


def test_a_host_that_resolves_again_to_a_private_address_is_not_reached(setup, receiver, monkeypatch):
    """DNS rebinding: the host answers a public address when it is checked and 127.0.0.1 from
    then on (a resolver we cannot run here, so socket.getaddrinfo answers for that one name). The
    POST goes to the address that was checked, so the receiver on 127.0.0.1 gets nothing."""
    client, _providers, store, _key = setup
    receiver.fail = 0
    monkeypatch.delenv("HALO_WEBHOOKS_ALLOW_PRIVATE")
    real, asked = socket.getaddrinfo, []

    def rebinding(host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = "93.184.216.34" if len(asked) == 1 else "127.0.0.1"  # a global address first
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = receiver.url.rsplit(":", 1)[1]
    client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": f"http://rebind.example:{port}/hooks"})
    assert deliver(store, max_seconds=5, timeout=1)["failed"] == 1
    assert receiver.request_count == 0 and asked == ["rebind.example"]


def test_a_pinned_https_request_keeps_the_name_for_tls_and_host(tmp_path):
    """The request goes to the checked address; the certificate is checked against the URL's
    name (SNI) and the Host header is the URL's: a real TLS server on 127.0.0.1 holding a
    certificate for hooks.example only."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.example")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    hosts = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        trust = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        with httpx.Client(verify=trust) as client:
            url, headers, extensions = pinned(f"https://hooks.example:{port}/hooks", "127.0.0.1")
            assert client.post(url, headers=headers, extensions=extensions, content=b"{}").status_code == 204
            wrong_name = pinned(f"https://other.example:{port}/hooks", "127.0.0.1")
            with pytest.raises(httpx.ConnectError):  # the certificate is for hooks.example only
                client.post(wrong_name[0], headers=wrong_name[1], extensions=wrong_name[2], content=b"{}")
    finally:
        server.shutdown()
    assert hosts == [f"hooks.example:{port}"]
