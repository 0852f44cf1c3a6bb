"""Provider callbacks over HTTP: each provider's own signature scheme accepts a correct
signature and rejects a wrong or missing one with 401 and no change; a repeated callback
changes nothing; statuses map to lifecycle events per providers.md and only move forward."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from halo_platform.core.definitions import STORE
from halo_platform.delivery.tables import MessageEvent
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.fixtures.access import bearer, make_key

BASE = "http://testserver"
SG_KEY = ec.generate_private_key(ec.SECP256R1())
SG_PUBLIC = base64.b64encode(SG_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


@pytest.fixture
def setup(fakes, providers_file, halo_store):  # noqa: ANN001, ANN201
    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "vo": {"kind": "vonage", "channel": "sms", "countries": ["DE"], "base_url": fakes["vonage"].url, **SECRETS["vonage"], "signature_secret": "sigsecret", "signature_method": "md5hash"},
        "vo256": {"kind": "vonage", "channel": "sms", "countries": ["IT"], "base_url": fakes["vonage"].url, **SECRETS["vonage"], "signature_secret": "sigsecret", "signature_method": "sha256"},
        "sg": {"kind": "sendgrid", "channel": "email", "capabilities": ["TRANSACTIONAL"], "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"], "sender": "noreply@example.com", "webhook_public_key": SG_PUBLIC},
        "mj": {"kind": "mailjet", "channel": "email", "capabilities": ["MARKETING"], "base_url": fakes["mailjet"].url, **SECRETS["mailjet"], "sender": "noreply@example.com", "webhook_user": "mjhook", "webhook_password": "${MJ_HOOK_PASSWORD}"},
        "os": {"kind": "onesignal", "channel": "push", "capabilities": ["ALERT"], "base_url": fakes["onesignal"].url, **SECRETS["onesignal"], "webhook_secret": "os-shared"},
        "fcm": {"kind": "fcm", "channel": "push", "capabilities": ["SILENT"], "base_url": fakes["fcm"].url, **SECRETS["fcm"]},
    })
    return TestClient(create_app({"store": halo_store, "providers": providers}))


@pytest.fixture(autouse=True)
def _mj_password(monkeypatch):  # noqa: ANN001, ANN202
    monkeypatch.setenv("MJ_HOOK_PASSWORD", "mj-hook-pw")


def sent(client: TestClient, channel: str, payload: dict) -> dict:
    """Send through the API with a key of the sender's scopes. The client itself carries no key:
    providers call the callbacks without one (each proves itself its own way)."""
    key = bearer(make_key(client.app, "messages:send", "messages:read"))
    response = client.post(f"/v1/messages/{channel}", json={**payload, "priority": "HIGH"}, headers=key)
    assert response.status_code == 201, response.text
    view = client.get(f"/v1/messages/{response.json()['id']}", headers=key).json()
    assert view["status"] == "sent"
    return view


def status_of(client: TestClient, message_id: str) -> str:
    response = client.get(f"/v1/messages/{message_id}", headers=bearer(make_key(client.app, "messages:read")))
    assert response.status_code == 200, response.text
    return response.json()["status"]


def events(message_id: str) -> list[str]:
    with STORE.read() as conn:
        return [e for (e,) in conn.execute(sa.select(MessageEvent.event).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id))]


def twilio_sig(url: str, params: dict) -> str:
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(SECRETS["twilio"]["auth_token"].encode(), data.encode(), hashlib.sha1).digest()).decode()


def twilio_post(client, view, status, signature=None):  # noqa: ANN001, ANN201
    params = {"MessageSid": view["provider_message_id"], "MessageStatus": status, "AccountSid": SECRETS["twilio"]["account_sid"],
              "From": "+33700000000", "To": "+33612345678", "ErrorCode": ""}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not False:
        headers["X-Twilio-Signature"] = signature or twilio_sig(f"{BASE}/v1/callbacks/tw", params)
    return client.post("/v1/callbacks/tw", content=urlencode(params), headers=headers)


def test_twilio_callback_with_a_valid_signature_maps_delivered_to_received(setup):
    view = sent(setup, "sms", {"to": "+33612345678", "body": "a", "country": "FR"})
    response = twilio_post(setup, view, "delivered")
    assert response.status_code == 200 and response.json()["applied"] == 1
    assert events(view["id"]) == ["queued", "sent", "received"]
    assert status_of(setup, view["id"]) == "received"


@pytest.mark.parametrize("signature", [False, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "wrong"])
def test_twilio_callback_with_a_missing_or_wrong_signature_is_401_and_changes_nothing(setup, signature):
    view = sent(setup, "sms", {"to": "+33612345678", "body": "b", "country": "FR"})
    response = twilio_post(setup, view, "delivered", signature)
    assert response.status_code == 401
    assert response.json()["error"]
    assert events(view["id"]) == ["queued", "sent"]


def test_a_repeated_callback_changes_nothing_and_a_late_status_never_rewinds(setup):
    view = sent(setup, "sms", {"to": "+33612345678", "body": "c", "country": "FR"})
    assert twilio_post(setup, view, "delivered").json()["applied"] == 1
    assert twilio_post(setup, view, "delivered").json() == {"applied": 0, "duplicates": 1, "unmatched": 0}
    assert twilio_post(setup, view, "sent").json()["applied"] == 1  # late: the operator already delivered
    assert events(view["id"]) == ["queued", "sent", "received", "delivered"]
    assert status_of(setup, view["id"]) == "received"


def vonage_sig(params: dict, method: str) -> str:
    query = "".join(f"&{k}={str(v).replace('&', '_').replace('=', '_')}" for k, v in sorted(params.items()))
    if method == "md5hash":
        return hashlib.md5((query + "sigsecret").encode()).hexdigest()
    return hmac.new(b"sigsecret", query.encode(), hashlib.sha256).hexdigest().upper()


@pytest.mark.parametrize(("provider", "country", "method"), [("vo", "DE", "md5hash"), ("vo256", "IT", "sha256")])
@pytest.mark.parametrize("http_method", ["GET", "POST"])
def test_vonage_signed_receipts_are_verified_with_the_signature_secret(setup, provider, country, method, http_method):
    to = "+4915123456789" if country == "DE" else "+393123456789"
    view = sent(setup, "sms", {"to": to, "body": "d", "country": country})
    params = {"msisdn": to[1:], "to": "Halo", "messageId": view["provider_message_id"], "status": "failed", "err-code": "1",
              "client-ref": view["id"], "message-timestamp": "2026-11-21 10:00:00", "timestamp": str(int(time.time())), "nonce": "n-1&x=y"}
    good = {**params, "sig": vonage_sig(params, method)}
    bad = {**params, "sig": vonage_sig({**params, "status": "delivered"}, method)}
    url = f"/v1/callbacks/{provider}"
    call = (lambda p: setup.get(url, params=p)) if http_method == "GET" else (lambda p: setup.post(url, data=p))
    assert call(bad).status_code == 401
    assert call(params).status_code == 401  # unsigned
    assert events(view["id"]) == ["queued", "sent"]
    assert call(good).status_code == 200
    assert events(view["id"]) == ["queued", "sent", "delivery_failed"]


def sendgrid_post(client, items, key=SG_KEY, tamper=False):  # noqa: ANN001, ANN201
    body = json.dumps(items).encode()
    timestamp = str(int(time.time()))  # signed timestamps older than 10 minutes are refused
    signature = base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    if tamper:
        body = body.replace(b"delivered", b"bounce")
    return client.post("/v1/callbacks/sg", content=body, headers={
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    })


def test_sendgrid_events_signed_with_ecdsa_p256_are_applied_per_message(setup):
    view = sent(setup, "email", {"to": "ada@example.com", "subject": "s", "body": "e"})
    items = [
        {"email": "ada@example.com", "timestamp": 1, "event": "processed", "sg_event_id": "ev1", "sg_message_id": view["provider_message_id"] + ".filter0001", "halo_message_id": view["id"]},
        {"email": "ada@example.com", "timestamp": 2, "event": "open", "sg_event_id": "ev2", "sg_message_id": view["provider_message_id"] + ".filter0001", "halo_message_id": view["id"]},
        {"email": "ada@example.com", "timestamp": 3, "event": "delivered", "sg_event_id": "ev3", "sg_message_id": view["provider_message_id"] + ".filter0001", "halo_message_id": view["id"]},
    ]
    other_key = ec.generate_private_key(ec.SECP256R1())
    assert sendgrid_post(setup, items, key=other_key).status_code == 401
    assert sendgrid_post(setup, items, tamper=True).status_code == 401
    assert setup.post("/v1/callbacks/sg", json=items).status_code == 401
    assert events(view["id"]) == ["queued", "sent"]
    assert sendgrid_post(setup, items).json()["applied"] == 2
    assert sendgrid_post(setup, items).json()["duplicates"] == 2
    assert events(view["id"]) == ["queued", "sent", "delivered", "received"]


def test_mailjet_events_need_the_basic_credentials_of_the_webhook_url(setup):
    view = sent(setup, "email", {"to": "bob@example.com", "subject": "s", "body": "f", "capability": "MARKETING"})
    item = {"event": "bounce", "time": 1763719200, "email": "bob@example.com", "MessageID": int(view["provider_message_id"]), "CustomID": view["id"]}
    assert setup.post("/v1/callbacks/mj", json=item).status_code == 401
    assert setup.post("/v1/callbacks/mj", json=item, auth=("mjhook", "nope")).status_code == 401
    assert events(view["id"]) == ["queued", "sent"]
    assert setup.post("/v1/callbacks/mj", json=[item], auth=("mjhook", "mj-hook-pw")).json()["applied"] == 1
    assert events(view["id"]) == ["queued", "sent", "delivery_failed"]


def test_onesignal_events_need_the_shared_secret(setup):
    view = sent(setup, "push", {"to": "device_token_777777", "title": "t", "body": "g"})
    item = {"event": {"kind": "message.push.received", "id": "evt-1"}, "message": {"id": view["provider_message_id"]}, "external_id": view["id"]}
    assert setup.post("/v1/callbacks/os", json=item, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert setup.post("/v1/callbacks/os", json=item).status_code == 401
    assert setup.post("/v1/callbacks/os", json=item, headers={"Authorization": "Bearer os-shared"}).json()["applied"] == 1
    assert events(view["id"]) == ["queued", "sent", "received"]


def test_providers_without_callbacks_and_unknown_providers_are_refused(setup):
    assert setup.post("/v1/callbacks/fcm", json={}).status_code == 404
    assert setup.post("/v1/callbacks/nope", json={}).status_code == 404


@pytest.mark.parametrize(("provider", "body", "auth", "headers"), [
    ("mj", '{"event": "sent", "CustomID": "\\ud800"}', ("mjhook", "mj-hook-pw"), {}),
    ("mj", '[{"event": "bounce", "MessageID": 1, "CustomID": "MESSAGE", "error": "\\udfff"}]', ("mjhook", "mj-hook-pw"), {}),
    ("os", '{"event": {"kind": "message.push.received", "id": "\\ud800"}, "message": {"id": "\\udfff"}}', None,
     {"Authorization": "Bearer os-shared"}),
])
def test_a_signed_callback_with_a_lone_surrogate_is_400_and_changes_nothing(setup, provider, body, auth, headers):
    """JSON may escape a lone surrogate, which no UTF-8 store takes: it was a 500 at the lookup."""
    view = sent(setup, "email", {"to": "bob@example.com", "subject": "s", "body": "f", "capability": "MARKETING"})
    answer = setup.post(f"/v1/callbacks/{provider}", content=body.replace("MESSAGE", view["id"]), auth=auth, headers={"Content-Type": "application/json", **headers})
    assert answer.status_code == 400 and "lone surrogate" in answer.json()["error"]
    assert events(view["id"]) == ["queued", "sent"]
