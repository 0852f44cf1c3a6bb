"""Provider callbacks and inbound messages over real HTTP (uvicorn on 127.0.0.1, the provider fakes
as real servers), reviewed as a provider that misbehaves or an attacker.

Pinned here: a signed timestamp exactly 10 minutes old (or ahead), in the whole seconds the
providers sign, was refused 401 whenever the current second had begun (nearly always): the
age was taken against the current time with its fraction, so 600 s read as 600.4 s."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from halo_platform.delivery.providers.vonage import vonage_signature
from halo_platform_tests.delivery.test_review_callbacks_wire import MESSAGES, SG_KEY, served  # noqa: F401


def _early_in_a_second() -> int:
    """The current Unix second, once at most 0.3 s of it passed (the request is then answered in the same second)."""
    while time.time() % 1 > 0.3:
        time.sleep(0.05)
    return int(time.time())


def _sendgrid(served, items: list, timestamp: int):  # noqa: ANN001, ANN202, F811
    body, ts = json.dumps(items).encode(), str(timestamp)
    sig = base64.b64encode(SG_KEY.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return served.http.post("/v1/callbacks/sg", content=body, headers={
        "Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Signature": sig, "X-Twilio-Email-Event-Webhook-Timestamp": ts})


def _vonage(served, path: str, params: dict, timestamp: int):  # noqa: ANN001, ANN202, F811
    params = {**params, "timestamp": str(timestamp), "nonce": f"n{timestamp}"}
    params["sig"] = vonage_signature("sigsecret", params)
    return served.http.post(path, content=urlencode(params), headers={"Content-Type": "application/x-www-form-urlencoded"})


@pytest.mark.parametrize("offset", [-600, 600], ids=["10 minutes old", "10 minutes ahead"])
def test_a_timestamp_signed_exactly_ten_minutes_from_now_is_taken_and_one_second_more_refused(served, offset):  # noqa: F811
    email, sms = served.sent(*MESSAGES["sg"]), served.sent(*MESSAGES["vo"])
    items = [{"event": "delivered", "sg_event_id": "ev-edge", "sg_message_id": email["provider_message_id"], "halo_message_id": email["id"]}]
    receipt = {"msisdn": "4915123456789", "to": "Halo", "messageId": sms["provider_message_id"], "status": "delivered", "err-code": "0",
               "client-ref": sms["id"]}
    beyond = offset + (1 if offset > 0 else -1)
    now = _early_in_a_second()
    refused = [_sendgrid(served, items, now + beyond), _vonage(served, "/v1/callbacks/vo", receipt, now + beyond)]
    assert [r.status_code for r in refused] == [401, 401], [r.text for r in refused]
    assert served.view(email["id"])["status"] == "sent" and served.view(sms["id"])["status"] == "sent"
    now = _early_in_a_second()
    taken = [_sendgrid(served, items, now + offset), _vonage(served, "/v1/callbacks/vo", receipt, now + offset)]
    assert [r.status_code for r in taken] == [200, 200], [r.text for r in taken]
    assert served.view(email["id"])["status"] == "received" and served.view(sms["id"])["status"] == "received"
    now = _early_in_a_second()
    stop = {"msisdn": "4915123456789", "to": "33700000000", "messageId": f"0B{now}", "text": "STOP", "type": "text"}
    answer = _vonage(served, "/v1/inbound/vo", stop, now + offset)
    assert (answer.status_code, answer.json()) == (200, {"action": "suppressed"})
