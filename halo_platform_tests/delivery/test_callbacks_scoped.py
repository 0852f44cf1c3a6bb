"""A callback touches only its own provider's messages: credentials of one provider never
change a message another provider sent (200, counted as unmatched, nothing changed). Signed
timestamps older than 10 minutes are refused. Bad credentials get 401 and unreadable or
wrongly shaped bodies 400, both as JSON `{"error", "detail"}`, never a 500."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from halo_platform.delivery.queue import stored_dedupe_key
from halo_platform_tests.delivery.test_callbacks import SG_KEY, _mj_password, events, sent, setup, status_of, vonage_sig  # noqa: F401

YEAR = 365 * 24 * 3600
MJ_AUTH = ("mjhook", "mj-hook-pw")
OS_AUTH = {"Authorization": "Bearer os-shared"}


@pytest.fixture
def client(setup) -> TestClient:  # noqa: F811
    return TestClient(setup.app, raise_server_exceptions=False)


def sendgrid_signed(client: TestClient, body: bytes, timestamp: int | None = None):  # noqa: ANN201
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = base64.b64encode(SG_KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return client.post("/v1/callbacks/sg", content=body, headers={
        "Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Signature": signature, "X-Twilio-Email-Event-Webhook-Timestamp": stamp})


def vonage_signed(client: TestClient, params: dict, timestamp: int | None = None):  # noqa: ANN201
    params = {**params, "timestamp": str(int(time.time()) if timestamp is None else timestamp), "nonce": "n-1"}
    return client.get("/v1/callbacks/vo", params={**params, "sig": vonage_sig(params, "md5hash")})


def assert_error(response, status: int) -> None:  # noqa: ANN001
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"]


def test_other_providers_credentials_never_change_a_message_they_did_not_send(client):
    view = sent(client, "sms", {"to": "+33612345678", "body": "a", "country": "FR"})  # sent by tw (Twilio)
    mid = view["id"]
    mailjet = client.post("/v1/callbacks/mj", json={"event": "bounce", "time": int(time.time()), "MessageID": 1, "CustomID": mid}, auth=MJ_AUTH)
    onesignal = client.post("/v1/callbacks/os", json={"event": {"kind": "message.push.failed", "id": "e1"}, "message": {"id": "x"}, "external_id": mid},
                            headers=OS_AUTH)
    sendgrid = sendgrid_signed(client, json.dumps([{"event": "bounce", "sg_event_id": "e2", "sg_message_id": view["provider_message_id"],
                                                    "halo_message_id": mid}]).encode())
    vonage = vonage_signed(client, {"messageId": view["provider_message_id"], "status": "failed", "client-ref": mid, "msisdn": "33612345678"})
    for response in (mailjet, onesignal, sendgrid, vonage):
        assert response.status_code == 200, response.text
        assert response.json() == {"applied": 0, "duplicates": 0, "unmatched": 1}
    assert events(mid) == ["queued", "sent"]
    assert status_of(client, mid) == "sent"


@pytest.mark.parametrize("age", [YEAR, 11 * 60, -11 * 60])
def test_signed_timestamps_further_than_ten_minutes_from_now_are_refused(client, age):
    email = sent(client, "email", {"to": "ada@example.com", "subject": "s", "body": "e"})
    items = json.dumps([{"event": "delivered", "sg_event_id": f"ev-{age}", "sg_message_id": email["provider_message_id"], "halo_message_id": email["id"]}])
    assert_error(sendgrid_signed(client, items.encode(), int(time.time()) - age), 401)
    sms = sent(client, "sms", {"to": "+4915123456789", "body": "d", "country": "DE"})
    receipt = {"messageId": sms["provider_message_id"], "status": "delivered", "client-ref": sms["id"], "msisdn": "4915123456789"}
    assert_error(vonage_signed(client, receipt, int(time.time()) - age), 401)
    assert events(email["id"]) == ["queued", "sent"] and events(sms["id"]) == ["queued", "sent"]
    assert sendgrid_signed(client, items.encode(), int(time.time()) - 60).json()["applied"] == 1
    assert vonage_signed(client, receipt, int(time.time()) - 60).json()["applied"] == 1


def test_a_vonage_receipt_signed_without_a_timestamp_is_refused(client):
    params = {"messageId": "m", "status": "delivered", "nonce": "n"}
    assert_error(client.get("/v1/callbacks/vo", params={**params, "sig": vonage_sig(params, "md5hash")}), 401)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/callbacks/mj", {"Authorization": b"Basic " + base64.b64encode("mjhook:pässwörd".encode())}),
        ("/v1/callbacks/mj", {"Authorization": "Basic bWpob29rOnDkc3N3"[:6].encode() + "é€".encode()}),
        ("/v1/callbacks/os", {"Authorization": "Bearer os-shäred".encode()}),
        ("/v1/callbacks/tw", {"X-Twilio-Signature": "sïg".encode()}),
        ("/v1/callbacks/sg", {"X-Twilio-Email-Event-Webhook-Signature": "sïg".encode(), "X-Twilio-Email-Event-Webhook-Timestamp": b"1"}),
    ],
)
def test_non_ascii_credentials_are_401(client, path, headers):
    assert_error(client.post(path, content=b"[]", headers={"Content-Type": "application/json", **headers}), 401)


def test_unreadable_or_wrongly_shaped_bodies_are_400(client):
    assert_error(client.post("/v1/callbacks/vo", content=b"{", headers={"Content-Type": "application/json"}), 400)
    assert_error(client.post("/v1/callbacks/vo", content=b"[1]", headers={"Content-Type": "application/json"}), 400)
    for body in ({"a": 1}, [1], [{"event": "delivered", "halo_message_id": {"x": 1}}], [{"event": ["delivered"]}]):
        assert_error(sendgrid_signed(client, json.dumps(body).encode()), 400)
    assert_error(sendgrid_signed(client, b"\xff{"), 400)
    for body in ({"event": "bounce", "CustomID": ["x"]}, "just text", [{"event": "sent", "MessageID": {"a": 1}}], {"event": {}}):
        assert_error(client.post("/v1/callbacks/mj", json=body, auth=MJ_AUTH), 400)
    for body in ({"event": "x"}, {"event": {"kind": "message.push.received"}, "message": [1]}, [3],
                 {"event": {"kind": "message.push.received", "id": "e"}, "message": {"id": "m"}, "external_id": 7.5}):
        assert_error(client.post("/v1/callbacks/os", json=body, headers=OS_AUTH), 400)


def test_a_very_long_provider_id_is_stored_under_a_bounded_dedupe_key():
    key = stored_dedupe_key("vonage:" + "9" * 1000 + ":delivered")
    assert len(key) <= 255 and key.startswith("vonage:")
    assert key == stored_dedupe_key("vonage:" + "9" * 1000 + ":delivered") != stored_dedupe_key("vonage:" + "9" * 1001 + ":delivered")
    assert stored_dedupe_key("twilio:SM1:sent") == "twilio:SM1:sent"


# -- fuzz: whatever a caller with the right credentials posts, the answer is 200 or 400 --

JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
              st.sampled_from(["delivered", "bounce", "sent", "message.push.received", "\ud800"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(
        st.sampled_from(["event", "kind", "id", "message", "external_id", "CustomID", "MessageID", "halo_message_id", "sg_message_id",
                         "sg_event_id", "time", "error", "reason", "x"]), inner, max_size=5)),
    max_leaves=10,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.sampled_from(["sg", "mj", "os", "vo-json", "vo-form", "tw"]), JSON, st.binary(max_size=40))
def test_fuzzed_callback_bodies_with_valid_credentials_never_answer_500(client, provider, body, raw):
    data = json.dumps(body).encode()  # lone surrogates escaped, as any JSON encoder may send them
    if provider == "sg":
        response = sendgrid_signed(client, data)
    elif provider == "mj":
        response = client.post("/v1/callbacks/mj", content=data, auth=MJ_AUTH, headers={"Content-Type": "application/json"})
    elif provider == "os":
        response = client.post("/v1/callbacks/os", content=data, headers={**OS_AUTH, "Content-Type": "application/json"})
    elif provider == "vo-json":
        response = client.post("/v1/callbacks/vo", content=data if body is not None else raw, headers={"Content-Type": "application/json"})
    elif provider == "vo-form":
        response = client.post("/v1/callbacks/vo", content=raw, headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        response = client.post("/v1/callbacks/tw", content=raw, headers={"X-Twilio-Signature": "x", "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code in (200, 400, 401), response.text
    if response.status_code != 200:
        assert set(response.json()) == {"error", "detail"}
