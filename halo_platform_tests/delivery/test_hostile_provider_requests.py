"""Properly signed provider requests with hostile bodies: an inbound STOP whose message id JSON
escapes as a lone surrogate is a 400 that opts nobody out (it was a 500 at the lookup of the
id), and a status callback whose error text is a long run without spaces is answered at once
with the text stored shortened (masking it took quadratic time: a request of a few hundred
kilobytes held a worker and the write transaction for minutes)."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.core.definitions import STORE
from halo_platform.delivery.providers.base import CallbackEvent, SendResult
from halo_platform.delivery.providers.twilio import twilio_signature
from halo_platform.delivery.providers.vonage import vonage_signature
from halo_platform.delivery.tables import InboundMessage, MessageEvent, Suppression
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.fixtures.access import bearer, make_key

BASE = "http://testserver"
LIMIT = 500  # providers.base.DETAIL_LIMIT


@pytest.fixture
def client(fakes, providers_file, halo_store) -> TestClient:  # noqa: ANN001
    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "vo": {"kind": "vonage", "channel": "sms", "countries": ["DE"], "base_url": fakes["vonage"].url, **SECRETS["vonage"],
               "signature_secret": "sigsecret", "signature_method": "md5hash"},
    })
    return TestClient(create_app({"store": halo_store, "providers": providers}), raise_server_exceptions=False)


def count(table) -> int:  # noqa: ANN001
    with STORE.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_a_signed_vonage_inbound_stop_whose_message_id_is_a_lone_surrogate_is_400_and_opts_nobody_out(client):
    params = {"msisdn": "4915112345678", "to": "33700000000", "messageId": "0B00000123456789\ud800", "text": "STOP", "type": "text",
              "timestamp": str(int(time.time())), "nonce": "n1"}
    params["sig"] = vonage_signature("sigsecret", params)
    answer = client.post("/v1/inbound/vo", content=json.dumps(params), headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert "lone surrogate" in answer.json()["error"] and answer.json()["detail"] is None
    assert count(Suppression) == 0 and count(InboundMessage) == 0


def test_a_signed_callback_with_a_long_error_text_is_answered_at_once_and_stores_it_shortened(client):
    key = bearer(make_key(client.app, "messages:send", "messages:read"))
    sent = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "a", "country": "FR", "priority": "HIGH"}, headers=key)
    view = client.get(f"/v1/messages/{sent.json()['id']}", headers=key).json()
    params = {"MessageSid": view["provider_message_id"], "MessageStatus": "failed", "AccountSid": SECRETS["twilio"]["account_sid"],
              "ErrorCode": "x" * 100_000}
    signature = twilio_signature(SECRETS["twilio"]["auth_token"], f"{BASE}/v1/callbacks/tw", params)
    started = time.monotonic()
    answer = client.post("/v1/callbacks/tw", content=urlencode(params),
                         headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
    assert answer.status_code == 200 and answer.json()["applied"] == 1, answer.text
    assert time.monotonic() - started < 5
    with STORE.read() as conn:
        detail = conn.execute(sa.select(MessageEvent.detail).where(MessageEvent.message_id == view["id"], MessageEvent.event == "provider_error")).scalar_one()
    assert detail.startswith("failed xxx") and detail.endswith("x…") and len(detail) == LIMIT + 1


def test_a_provider_text_is_masked_in_linear_time_and_kept_to_the_limit():
    started = time.process_time()  # CPU time: the suite's load stretched the wall clock's past the limit
    event = CallbackEvent("delivered", "k", detail="ada@example.com " + "a" * 300_000)
    result = SendResult("m", "permanent", detail="+33612345678 " + "b." * 150_000)
    assert time.process_time() - started < 2
    assert event.detail.startswith("a***@example.com aaa") and event.detail.endswith("a…") and len(event.detail) < LIMIT + 10
    assert result.detail.startswith("+336*****678 b.b.") and result.detail.endswith("…") and len(result.detail) < LIMIT + 10


def test_a_signed_twilio_inbound_stop_from_a_long_sender_is_ignored_at_once(client):
    """Its refusal is logged with the sender masked, which the log filter masks again: a long
    run took quadratic time there."""
    form = {"MessageSid": "SM" + "1" * 32, "AccountSid": SECRETS["twilio"]["account_sid"], "From": "+" + "a" * 100_000, "Body": "STOP"}
    signature = twilio_signature(SECRETS["twilio"]["auth_token"], f"{BASE}/v1/inbound/tw", form)
    started = time.monotonic()
    answer = client.post("/v1/inbound/tw", content=urlencode(form),
                         headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
    assert answer.status_code == 200 and answer.json() == {"action": "ignored"}, answer.text
    assert time.monotonic() - started < 5
    assert count(Suppression) == 0 and count(InboundMessage) == 0
