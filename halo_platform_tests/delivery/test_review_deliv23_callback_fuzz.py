"""Provider callbacks and inbound webhooks with hostile bodies that pass each provider's proof
(signed as the provider signs, or with the right shared credentials), so the body reaches the
parser: wrong types, missing fields, deep nesting, 1 MB, non-UTF-8, duplicated keys. Each is a
200 that changes nothing, or a 4xx with a JSON error; never a 500. A signed timestamp older
than 10 minutes is refused (Vonage, SendGrid), and bad credentials are 401."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from halo_platform.delivery.providers.twilio import twilio_signature
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.test_callbacks import BASE, SG_KEY, setup, twilio_sig  # noqa: F401 (the fixture)

MB = 1_000_000
JSON_BODIES = {
    "null": b"null", "number": b"1", "string": b'"x"', "empty list": b"[]", "list of null": b"[null]", "empty object": b"{}",
    "event a number": b'[{"event": 1}]', "event a list": b'[{"event": ["delivered"]}]',
    "id an object": b'[{"event": "delivered", "sg_message_id": {"a": 1}, "MessageID": {"a": 1}}]',
    "id a float": b'[{"event": "delivered", "sg_message_id": 1e308, "MessageID": 1.5}]',
    "id a bool": b'[{"event": "delivered", "sg_message_id": true, "MessageID": false, "CustomID": true}]',
    "huge int": b'[{"event": "sent", "MessageID": ' + b"9" * 4000 + b"}]",
    "NaN": b'[{"event": "sent", "MessageID": NaN, "CustomID": Infinity}]',
    "nested deep": b"[" * 200_000 + b"]" * 200_000,
    "objects deep": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "duplicate key": b'[{"event": "delivered", "event": "bounce"}]',
    "not utf-8": b'[{"event": "\xff\xfe"}]',
    "one megabyte": b'[{"event": "delivered", "sg_message_id": "' + b"a" * (MB - 60) + b'"}]',
    "onesignal shapes": b'{"event": {"kind": 5, "id": []}, "message": {"id": {}}, "external_id": [1]}',
    "onesignal event a list": b'{"event": [], "message": 1}',
}
FORM_BODIES = {
    "empty": b"", "missing fields": b"MessageStatus=delivered",
    "duplicated": b"MessageSid=SM1&MessageSid=SM2&MessageStatus=delivered&status=delivered&status=failed&messageId=1&messageId=2",
    "not utf-8": b"MessageSid=\xff\xfe&MessageStatus=delivered&messageId=\xff&status=delivered",
    "percent not utf-8": b"MessageSid=%ff%fe&MessageStatus=delivered&messageId=%ff&status=delivered&client-ref=%c3",
    "nul": b"MessageSid=SM%00&MessageStatus=delivered&messageId=a%00&status=delivered&client-ref=%00",
    "one megabyte": b"MessageSid=" + b"S" * (MB - 40) + b"&MessageStatus=delivered",
    "no equals": b"&&&=&==&MessageSid",
    "lone surrogate": b"MessageSid=%ed%a0%80&MessageStatus=sent&messageId=%ed%a0%80&status=delivered",
}


@pytest.fixture
def client(setup):  # noqa: ANN001, ANN201, F811 (test_callbacks': the API with every provider kind configured)
    return setup


@pytest.fixture(autouse=True)
def _mj_password(monkeypatch):  # noqa: ANN001, ANN202 (the Mailjet webhook password test_callbacks' setup names)
    monkeypatch.setenv("MJ_HOOK_PASSWORD", "mj-hook-pw")


def _sendgrid(client, body: bytes, stamp: int | None = None):  # noqa: ANN001, ANN201
    stamp = str(int(time.time()) if stamp is None else stamp)
    signature = base64.b64encode(SG_KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return client.post("/v1/callbacks/sg", content=body, headers={"Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Signature": signature,
                                                                  "X-Twilio-Email-Event-Webhook-Timestamp": stamp})


def _vonage_signed(fields: list[tuple[str, str]], stamp: int | None = None) -> list[tuple[str, str]]:
    fields = [*fields, ("timestamp", str(int(time.time()) if stamp is None else stamp)), ("nonce", "n1")]
    signed = "".join(f"&{k}={v.replace('&', '_').replace('=', '_')}" for k, v in sorted(dict(fields).items()))
    return [*fields, ("sig", hashlib.md5((signed + "sigsecret").encode()).hexdigest())]


def _checked(response) -> None:  # noqa: ANN001
    assert response.status_code in (200, 400, 401, 413), (response.status_code, response.text[:300])
    body = response.json()
    assert response.status_code == 200 or body["error"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize("body", JSON_BODIES.values(), ids=JSON_BODIES.keys())
@pytest.mark.parametrize("provider", ["sg", "mj", "os"])
def test_a_json_callback_body_that_passes_the_providers_proof_is_never_a_500(client, provider, body):
    if provider == "sg":
        response = _sendgrid(client, body)
    else:
        auth = "Basic " + base64.b64encode(b"mjhook:mj-hook-pw").decode() if provider == "mj" else "Bearer os-shared"
        response = client.post(f"/v1/callbacks/{provider}", content=body, headers={"Content-Type": "application/json", "Authorization": auth})
    _checked(response)


@pytest.mark.parametrize("body", FORM_BODIES.values(), ids=FORM_BODIES.keys())
@pytest.mark.parametrize("route", ["callbacks", "inbound"])
def test_a_twilio_form_signed_by_twilio_is_never_a_500(client, route, body):
    url = f"{BASE}/v1/{route}/tw"
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    signature = twilio_sig(url, {})
    if pairs:  # the signature of every pair as sent, a name given twice twice
        signature = twilio_signature(SECRETS["twilio"]["auth_token"], url, pairs)
    _checked(client.post(f"/v1/{route}/tw", content=body, headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}))


@pytest.mark.parametrize("fields", [
    [("status", "delivered")],
    [("messageId", "1"), ("status", ["x"].__repr__()), ("client-ref", "")],
    [("messageId", "a" * 5000), ("status", "delivered"), ("client-ref", "b" * 5000), ("err-code", "x" * 5000)],
    [("messageId", "1"), ("status", "delivered"), ("message-timestamp", "9" * 50), ("msisdn", "+" * 30), ("text", "STOP")],
    [("messageId", "1"), ("status", "delivered"), ("msisdn", "33612345678"), ("text", "STOP\x00"), ("client-ref", "\x00")],
], ids=["missing", "odd status", "long", "odd times", "nul"])
@pytest.mark.parametrize("route", ["callbacks", "inbound"])
@pytest.mark.parametrize("as_json", [False, True])
def test_a_vonage_request_signed_by_vonage_is_never_a_500(client, route, fields, as_json):
    signed = _vonage_signed(fields)
    if as_json:
        body = json.dumps(dict(signed)).encode()
        response = client.post(f"/v1/{route}/vo", content=body, headers={"Content-Type": "application/json"})
    else:
        response = client.post(f"/v1/{route}/vo", data=dict(signed))
    _checked(response)


@pytest.mark.parametrize("route", ["callbacks", "inbound"])
def test_a_vonage_json_body_with_a_lone_surrogate_escape_is_4xx(client, route):
    body = b'{"messageId": "\\ud800", "status": "delivered", "msisdn": "33612345678", "text": "STOP\\udcff", "timestamp": "1", "sig": "x"}'
    _checked(client.post(f"/v1/{route}/vo", content=body, headers={"Content-Type": "application/json"}))


@pytest.mark.parametrize("age", [605, 3600, -605])
def test_a_signed_timestamp_more_than_10_minutes_away_is_refused(client, age):
    now = int(time.time())
    assert _sendgrid(client, b'[{"event": "delivered", "sg_message_id": "x"}]', now - age).status_code == 401
    fields = [("messageId", "1"), ("status", "delivered"), ("client-ref", "nobody")]
    assert client.post("/v1/callbacks/vo", data=dict(_vonage_signed(fields, now - age))).status_code == 401
    inbound = [("messageId", "2"), ("msisdn", "4915112345678"), ("text", "STOP")]
    assert client.post("/v1/inbound/vo", data=dict(_vonage_signed(inbound, now - age))).status_code == 401
    # within the window: the same requests are taken
    assert _sendgrid(client, b'[{"event": "delivered", "sg_message_id": "x"}]', now - 590).status_code == 200
    assert client.post("/v1/callbacks/vo", data=dict(_vonage_signed(fields, now - 590))).status_code == 200


@pytest.mark.parametrize(("route", "headers"), [
    ("callbacks/mj", {"Authorization": "Basic " + base64.b64encode(b"mjhook:wrong").decode()}),
    ("callbacks/mj", {"Authorization": "Basic !!!not-base64"}),
    ("callbacks/os", {"Authorization": "Bearer wrong"}),
    ("callbacks/os", {"Authorization": "Bearer \u00e9".encode("latin-1")}),
    ("callbacks/sg", {"X-Twilio-Email-Event-Webhook-Signature": "%%%", "X-Twilio-Email-Event-Webhook-Timestamp": "1"}),
    ("callbacks/tw", {"X-Twilio-Signature": b"\xff" * 3}),
    ("inbound/tw", {}),
])
def test_bad_credentials_are_401_with_a_json_error(client, route, headers):
    response = client.post(f"/v1/{route}", content=b'[{"event": "sent"}]', headers={"Content-Type": "application/json", **headers})
    assert response.status_code == 401, response.text
    assert response.json()["error"]
