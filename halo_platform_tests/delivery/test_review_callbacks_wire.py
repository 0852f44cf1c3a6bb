"""Provider callbacks over real HTTP (uvicorn on 127.0.0.1) on SQLite, PostgreSQL and MariaDB: every
provider's route verifies its own scheme (401 and nothing changed otherwise), a replay changes
nothing, a late status never rewinds, bad bodies are a 4xx JSON, and the stores answer alike.

Pinned here: a signed callback (or inbound STOP) whose text holds a NUL was applied on SQLite and
MariaDB and a 422 on PostgreSQL (the event lost there); it is a 400 on every store. Two callback
batches naming the same messages in other orders deadlocked on PostgreSQL and MariaDB (a 500)."""

from __future__ import annotations

import base64
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from halo_platform.core.text import unstorable
from halo_platform.delivery.callbacks import _parse
from halo_platform.delivery.providers.base import CallbackRejected, CallbackRequest
from halo_platform.delivery.providers.twilio import twilio_signature
from halo_platform.delivery.providers.vonage import vonage_signature
from halo_platform.delivery.tables import MessageEvent, Suppression
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.core.test_http_hostile import serving
from halo_platform_tests.fixtures.access import bearer, make_key

SG_KEY = ec.generate_private_key(ec.SECP256R1())
SG_PUBLIC = base64.b64encode(SG_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
MJ_AUTH = "Basic " + base64.b64encode(b"mjhook:mj-hook-pw").decode()
OS_AUTH = "Bearer os-shared"


class App:
    def __init__(self, app, url, store):  # noqa: ANN001
        self.app, self.url, self.store = app, url, store
        self.http = httpx.Client(base_url=url, timeout=30)
        self.key = bearer(make_key(app, "messages:send", "messages:read"))

    def sent(self, channel: str, payload: dict) -> dict:
        r = self.http.post(f"/v1/messages/{channel}", json={**payload, "priority": "HIGH"}, headers=self.key)
        assert r.status_code == 201, r.text
        view = self.http.get(f"/v1/messages/{r.json()['id']}", headers=self.key).json()
        assert view["status"] == "sent", view
        return view

    def view(self, mid: str) -> dict:
        return self.http.get(f"/v1/messages/{mid}", headers=self.key).json()

    def events(self, mid: str) -> list[tuple[str, bool]]:
        with self.store.read() as conn:
            return [tuple(r) for r in conn.execute(sa.select(MessageEvent.event, MessageEvent.overtaken).where(MessageEvent.message_id == mid).order_by(MessageEvent.id))]

    def twilio(self, params, signature=None, path="/v1/callbacks/tw", raw=None):  # noqa: ANN001, ANN201
        pairs = list(params.items()) if isinstance(params, dict) else params
        sig = signature if signature is not None else twilio_signature(SECRETS["twilio"]["auth_token"], f"{self.url}{path}", pairs)
        return self.http.post(path, content=raw if raw is not None else urlencode(pairs),
                              headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig})

    def sendgrid(self, items, raw=None):  # noqa: ANN001, ANN201
        body = raw if raw is not None else json.dumps(items).encode()
        ts = str(int(time.time()))
        sig = base64.b64encode(SG_KEY.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
        return self.http.post("/v1/callbacks/sg", content=body, headers={"Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Signature": sig,
                                                                          "X-Twilio-Email-Event-Webhook-Timestamp": ts})

    def mailjet(self, items):  # noqa: ANN001, ANN201
        return self.http.post("/v1/callbacks/mj", content=json.dumps(items).encode(), headers={"Content-Type": "application/json", "Authorization": MJ_AUTH})

    def onesignal(self, items):  # noqa: ANN001, ANN201
        return self.http.post("/v1/callbacks/os", content=json.dumps(items).encode(), headers={"Content-Type": "application/json", "Authorization": OS_AUTH})

    def vonage(self, params, as_json=False):  # noqa: ANN001, ANN201
        params = {**params, "timestamp": str(int(time.time())), "nonce": "n1"}
        params["sig"] = vonage_signature("sigsecret", params)
        if as_json:
            return self.http.post("/v1/callbacks/vo", content=json.dumps(params), headers={"Content-Type": "application/json"})
        return self.http.post("/v1/callbacks/vo", data=params)


@pytest.fixture
def served(fakes, providers_file, every_store, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("MJ_HOOK_PASSWORD", "mj-hook-pw")
    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "vo": {"kind": "vonage", "channel": "sms", "countries": ["DE"], "base_url": fakes["vonage"].url, **SECRETS["vonage"], "signature_secret": "sigsecret"},
        "sg": {"kind": "sendgrid", "channel": "email", "capabilities": ["TRANSACTIONAL"], "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"],
               "sender": "noreply@example.com", "webhook_public_key": SG_PUBLIC},
        "mj": {"kind": "mailjet", "channel": "email", "capabilities": ["MARKETING"], "base_url": fakes["mailjet"].url, **SECRETS["mailjet"],
               "sender": "noreply@example.com", "webhook_user": "mjhook", "webhook_password": "${MJ_HOOK_PASSWORD}"},
        "os": {"kind": "onesignal", "channel": "push", "capabilities": ["ALERT"], "base_url": fakes["onesignal"].url, **SECRETS["onesignal"], "webhook_secret": "os-shared"},
        "fcm": {"kind": "fcm", "channel": "push", "capabilities": ["SILENT"], "base_url": fakes["fcm"].url, **SECRETS["fcm"]},
    })
    app = create_app({"store": every_store, "providers": providers})
    with serving(app) as (host, port):
        a = App(app, f"http://{host}:{port}", every_store)
        yield a
        a.http.close()


MESSAGES = {
    "tw": ("sms", {"to": "+33612345678", "body": "a", "country": "FR"}),
    "vo": ("sms", {"to": "+4915123456789", "body": "a", "country": "DE"}),
    "sg": ("email", {"to": "ada@example.com", "subject": "s", "body": "b", "capability": "TRANSACTIONAL"}),
    "mj": ("email", {"to": "bob@example.com", "subject": "s", "body": "b", "capability": "MARKETING"}),
    "os": ("push", {"to": "device_token_1", "title": "t", "body": "b", "capability": "ALERT"}),
}


def report(served, provider: str, view: dict, status: str, nul_in: str | None = None, event_id: str = "e1"):  # noqa: ANN001, ANN201
    """A properly signed (or authenticated) callback of `provider` reporting `status` of `view`;
    `nul_in` names the field that carries a NUL."""
    def text(name: str, value: str) -> str:
        return value + "\x00" if name == nul_in else value

    pid, mid = view["provider_message_id"], view["id"]
    if provider == "tw":
        return served.twilio({"MessageSid": pid, "MessageStatus": status, "AccountSid": SECRETS["twilio"]["account_sid"],
                              "To": "+33612345678", "ErrorCode": text("ErrorCode", "30003")})
    if provider == "vo":
        return served.vonage({"msisdn": "4915123456789", "to": "Halo", "messageId": pid, "status": status, "err-code": "0",
                              "client-ref": text("client-ref", mid)}, as_json=True)
    if provider == "sg":
        return served.sendgrid([{"event": status, "sg_event_id": text("sg_event_id", event_id), "sg_message_id": pid + ".filter001",
                                 "email": "ada@example.com", "reason": text("reason", "550 mailbox"), "halo_message_id": text("halo_message_id", mid)}])
    if provider == "mj":
        return served.mailjet({"event": status, "time": 1_800_000_000, "MessageID": int(pid), "CustomID": text("CustomID", mid),
                               "email": "bob@example.com", "error": text("error", "")})
    return served.onesignal({"event": {"kind": status, "id": text("event.id", event_id)}, "message": {"id": pid}, "external_id": text("external_id", mid)})


@pytest.mark.parametrize(("provider", "status", "field"), [
    ("tw", "failed", "ErrorCode"), ("vo", "delivered", "client-ref"), ("sg", "bounce", "reason"), ("sg", "delivered", "sg_event_id"),
    ("sg", "delivered", "halo_message_id"), ("mj", "bounce", "error"), ("mj", "sent", "CustomID"), ("os", "message.push.sent", "event.id"),
    ("os", "message.push.sent", "external_id"),
])
def test_a_signed_callback_whose_text_holds_a_nul_is_the_same_400_on_every_store_and_changes_nothing(served, provider, status, field):
    view = served.sent(*MESSAGES[provider])
    answer = report(served, provider, view, status, nul_in=field)
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": "unreadable callback body (text no store takes: a NUL character)", "detail": None}
    assert served.events(view["id"]) == [("queued", False), ("sent", False)]
    assert served.view(view["id"])["status"] == "sent"


@pytest.mark.parametrize("field", ["MessageSid", "From", "Body"])
def test_a_signed_inbound_stop_whose_text_holds_a_nul_is_the_same_400_on_every_store_and_opts_nobody_out(served, field):
    form = {"MessageSid": "SM" + "1" * 32, "AccountSid": SECRETS["twilio"]["account_sid"], "From": "+33612345678", "Body": "STOP"}
    form[field] = form[field][:3] + "\x00" + form[field][3:]
    answer = served.twilio(form, path="/v1/inbound/tw")
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": "unreadable inbound message (text no store takes: a NUL character)", "detail": None}
    with served.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Suppression)).scalar_one() == 0


def test_callback_batches_naming_the_same_messages_in_other_orders_at_once_are_all_applied_once(served):
    """SendGrid posts its batches concurrently: one naming messages 1..n and one n..1 locked their
    rows in opposite orders and deadlocked on PostgreSQL and MariaDB (a 500 the provider retries)."""
    mails = [served.sent("email", {"to": f"u{i}@example.com", "subject": "s", "body": "b", "capability": "TRANSACTIONAL"}) for i in range(20)]

    def batch(order: list[dict], kind: str, tag: str) -> httpx.Response:
        return served.sendgrid([{"event": kind, "sg_event_id": f"{tag}-{m['id']}", "sg_message_id": m["provider_message_id"],
                                 "halo_message_id": m["id"]} for m in order])

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: batch(mails if i % 2 else mails[::-1], "processed" if i % 2 else "delivered", f"r{i // 4}-{i % 2}"), range(16)))
    assert [a.status_code for a in answers] == [200] * 16, [a.text for a in answers if a.status_code != 200]
    assert sum(a.json()["applied"] for a in answers) == 8 * 20 and sum(a.json()["duplicates"] for a in answers) == 8 * 20
    for m in mails:
        assert served.view(m["id"])["status"] == "received"


LATE = {"tw": ("delivered", "sent"), "vo": ("delivered", "accepted"), "sg": ("delivered", "processed"), "mj": ("sent", None),
        "os": ("message.push.received", "message.push.sent")}


@pytest.mark.parametrize("provider", sorted(MESSAGES))
def test_a_replayed_callback_changes_nothing_and_a_late_status_never_rewinds_on_every_store(served, provider):
    view = served.sent(*MESSAGES[provider])
    first, late = LATE[provider]
    assert report(served, provider, view, first).json() == {"applied": 1, "duplicates": 0, "unmatched": 0}
    assert report(served, provider, view, first).json() == {"applied": 0, "duplicates": 1, "unmatched": 0}
    history = [("queued", False), ("sent", False), ("received", False)]
    if late is not None:
        assert report(served, provider, view, late, event_id="e2").json()["applied"] == 1
        history.append(("delivered", True))
    assert served.events(view["id"]) == history
    assert served.view(view["id"])["status"] == "received"


@pytest.mark.parametrize("provider", sorted(MESSAGES))
def test_a_callback_with_a_wrong_or_missing_signature_is_401_and_changes_nothing(served, provider):
    view = served.sent(*MESSAGES[provider])
    pid = view["provider_message_id"]
    if provider == "tw":
        wrong = [served.twilio({"MessageSid": pid, "MessageStatus": "delivered"}, signature=s) for s in ("", "AAAA", "x" * 200)]
    elif provider == "vo":
        params = {"messageId": pid, "status": "delivered", "client-ref": view["id"], "timestamp": str(int(time.time()))}
        wrong = [served.http.post("/v1/callbacks/vo", data=params), served.http.post("/v1/callbacks/vo", data={**params, "sig": "0" * 32}),
                 served.http.post("/v1/callbacks/vo", data={**params, "timestamp": "1", "sig": vonage_signature("sigsecret", {**params, "timestamp": "1"})})]
    elif provider == "sg":
        body = json.dumps([{"event": "delivered", "sg_message_id": pid, "halo_message_id": view["id"]}]).encode()
        other = ec.generate_private_key(ec.SECP256R1())
        ts = str(int(time.time()))
        forged = base64.b64encode(other.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
        old = str(int(time.time()) - 3600)
        replayed = base64.b64encode(SG_KEY.sign(old.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
        wrong = [served.http.post("/v1/callbacks/sg", content=body, headers=h) for h in (
            {}, {"X-Twilio-Email-Event-Webhook-Signature": forged, "X-Twilio-Email-Event-Webhook-Timestamp": ts},
            {"X-Twilio-Email-Event-Webhook-Signature": replayed, "X-Twilio-Email-Event-Webhook-Timestamp": old})]
    else:
        body = json.dumps({"event": "sent", "MessageID": pid, "CustomID": view["id"]})
        wrong = [served.http.post(f"/v1/callbacks/{provider}", content=body, headers=h) for h in (
            {}, {"Authorization": "Basic " + base64.b64encode(b"mjhook:nope").decode()}, {"Authorization": "Bearer nope"},
            {"Authorization": "Bearer \u00e9t\u00e9".encode("latin-1")})]
    for answer in wrong:
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] and answer.json()["detail"] is None
    assert served.events(view["id"]) == [("queued", False), ("sent", False)]


ODD = [
    ("tw", "application/x-www-form-urlencoded", b"MessageSid=\xff\xfe&MessageStatus=sent", 401),
    ("tw", "application/json", b'{"MessageSid": "SM1"}', 401),
    ("sg", "application/json", b"\xff\xfe[", 401),
    ("mj", "application/json", b"\xff[", 400),
    ("mj", "application/json", b'"sent"', 400),
    ("mj", "application/json", b'[["sent"]]', 400),
    ("mj", "application/json", b'[{"event": {"x": 1}}]', 400),
    ("mj", "application/json", b'{"event": "sent", "MessageID": 1.5}', 400),
    ("mj", "text/plain; charset=latin-1", b'{"event": "sent", "CustomID": "\xe9"}', 400),
    ("os", "application/json", b'[{"event": [], "message": {}}]', 400),
    ("os", "application/json", b'{"event": {"kind": "message.push.sent"}, "message": "m"}', 400),
    ("os", "application/json", b"[" * 5000 + b"]" * 5000, 400),
    ("vo", "application/json", b"[1, 2]", 400),
    ("fcm", "application/json", b"{}", 404),
    ("nobody", "application/json", b"{}", 404),
]


@pytest.mark.parametrize(("provider", "content_type", "body", "status"), ODD)
def test_an_odd_body_is_a_4xx_json_on_every_store(served, provider, content_type, body, status):
    auth = {"mj": MJ_AUTH, "os": OS_AUTH}.get(provider)
    answer = served.http.post(f"/v1/callbacks/{provider}", content=body, headers={"Content-Type": content_type, **({"Authorization": auth} if auth else {})})
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json") and answer.json()["error"]


def test_a_huge_callback_body_is_a_413_before_any_parser(served):
    answer = served.http.post("/v1/callbacks/mj", content=b"[" + b'{"event": "sent"},' * 70_000 + b"{}]", headers={"Authorization": MJ_AUTH})
    assert answer.status_code == 413 and answer.json()["error"].startswith("request body larger than")


def test_unknown_statuses_and_events_for_no_message_change_nothing(served):
    view = served.sent(*MESSAGES["sg"])
    answer = served.sendgrid([{"event": "teleported", "sg_event_id": "u1", "sg_message_id": view["provider_message_id"], "halo_message_id": view["id"]},
                              {"event": "open", "sg_event_id": "u2", "sg_message_id": view["provider_message_id"], "halo_message_id": view["id"]},
                              {"event": "delivered", "sg_event_id": "u3", "sg_message_id": "nobody", "halo_message_id": "00000000-0000-0000-0000-000000000000"}])
    assert answer.json() == {"applied": 0, "duplicates": 0, "unmatched": 1}
    assert served.events(view["id"]) == [("queued", False), ("sent", False)]


def test_no_callback_logs_a_recipient_unmasked(served, caplog):
    caplog.set_level(logging.DEBUG, logger="halo")
    caplog.set_level(logging.INFO, logger="uvicorn")
    view = served.sent(*MESSAGES["vo"])
    params = {"msisdn": "4915123456789", "to": "4915123456789", "messageId": view["provider_message_id"], "status": "failed",
              "err-code": "ada@example.com", "client-ref": view["id"], "timestamp": str(int(time.time())), "nonce": "n"}
    params["sig"] = vonage_signature("sigsecret", params)
    assert served.http.get("/v1/callbacks/vo", params=params).status_code == 200
    assert served.http.get("/v1/callbacks/vo", params={**params, "sig": "x"}).status_code == 401
    mj = served.http.post("/v1/callbacks/mj", content=b'[{"event": "sent", "email": "ada@example.com", "MessageID": []}]', headers={"Authorization": MJ_AUTH})
    assert mj.status_code == 400
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "15123456789" not in logged and "ada@example.com" not in logged
    with served.store.read() as conn:
        details = " ".join(d or "" for (d,) in conn.execute(sa.select(MessageEvent.detail).where(MessageEvent.message_id == view["id"])))
    assert "failed err-code a***@example.com" in details and "ada@example.com" not in details


# -- fuzz: whatever a properly authenticated provider posts, each parser gives events every store takes, or a 4xx --

ODD_TEXT = st.one_of(st.text(max_size=20), st.sampled_from(["\x00", "\ud800", "+33612345678", "x" * 300, "sent", "delivered", "bounce"]))
JSON_VALUE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), ODD_TEXT),
                          lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(ODD_TEXT, inner, max_size=4)), max_leaves=8)
EVENT_KEYS = st.sampled_from(["event", "sg_event_id", "sg_message_id", "halo_message_id", "reason", "MessageID", "CustomID", "time", "error",
                              "message", "external_id", "kind", "id", "email"])
EVENT = st.dictionaries(EVENT_KEYS, JSON_VALUE, max_size=6)
BODY = st.one_of(JSON_VALUE, EVENT, st.lists(EVENT, max_size=3))
FORM = st.lists(st.tuples(st.sampled_from(["MessageSid", "MessageStatus", "ErrorCode", "To", "messageId", "status", "client-ref", "err-code"]),
                              ODD_TEXT.filter(lambda t: unstorable(t) != "a lone surrogate")),
                max_size=6)


def signed_request(provider: str, body, url: str = "http://127.0.0.1/v1/callbacks/") -> CallbackRequest:  # noqa: ANN001
    url += provider
    if provider == "tw":
        raw = urlencode(body).encode()
        return CallbackRequest(url, "POST", {"x-twilio-signature": twilio_signature(SECRETS["twilio"]["auth_token"], url, body)}, raw)
    if provider == "vo":
        params = {k: v for k, v in body} | {"timestamp": str(int(time.time()))}
        return CallbackRequest(url, "GET", {}, b"", [*params.items(), ("sig", vonage_signature("sigsecret", params))])
    raw = json.dumps(body).encode()
    if provider == "sg":
        ts = str(int(time.time()))
        sig = base64.b64encode(SG_KEY.sign(ts.encode() + raw, ec.ECDSA(hashes.SHA256()))).decode()
        return CallbackRequest(url, "POST", {"x-twilio-email-event-webhook-signature": sig, "x-twilio-email-event-webhook-timestamp": ts}, raw)
    return CallbackRequest(url, "POST", {"authorization": MJ_AUTH if provider == "mj" else OS_AUTH}, raw)


@pytest.fixture
def parsers(fakes, providers_file, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("MJ_HOOK_PASSWORD", "mj-hook-pw")
    return providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "vo": {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"], "signature_secret": "sigsecret"},
        "sg": {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"], "sender": "n@example.com", "webhook_public_key": SG_PUBLIC},
        "mj": {"kind": "mailjet", "channel": "email", "base_url": fakes["mailjet"].url, **SECRETS["mailjet"], "sender": "n@example.com",
               "webhook_user": "mjhook", "webhook_password": "${MJ_HOOK_PASSWORD}"},
        "os": {"kind": "onesignal", "channel": "push", "base_url": fakes["onesignal"].url, **SECRETS["onesignal"], "webhook_secret": "os-shared"},
    })


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.one_of(st.tuples(st.sampled_from(["tw", "vo"]), FORM), st.tuples(st.sampled_from(["sg", "mj", "os"]), BODY)))
def test_fuzzed_signed_callbacks_are_storable_events_or_a_4xx(parsers, case):
    provider, body = case
    try:
        events = _parse(provider, parsers, signed_request(provider, body))
    except CallbackRejected as exc:
        assert 400 <= exc.status < 500
        return
    for ev in events:
        assert ev.event in {"delivered", "provider_error", "received", "delivery_failed"}
        assert all(unstorable(text) is None for text in (ev.message_id or "", ev.provider_message_id or "", ev.dedupe_key, ev.detail))
        assert len(ev.detail) <= 501 and "33612345678" not in ev.detail
