"""Provider callbacks over real HTTP (uvicorn on 127.0.0.1) on every store, continued.

Pinned here: a correctly signed Vonage JSON receipt (or inbound message) whose `Content-Type`
was not written in lower case (`Application/JSON`) was read as a form and refused 401."""

from __future__ import annotations

import json
import time

import pytest

from halo_platform.delivery.providers.vonage import vonage_signature
from halo_platform_tests.delivery.test_review_callbacks_wire import MESSAGES, served  # noqa: F401

SENT = [("queued", False), ("sent", False)]


def signed_vonage(params: dict) -> dict:
    params = {**params, "timestamp": str(int(time.time())), "nonce": "n1"}
    return {**params, "sig": vonage_signature("sigsecret", params)}


@pytest.mark.parametrize("content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8", "application/Json;charset=utf-8"])
def test_a_signed_vonage_json_receipt_is_read_as_json_whatever_the_case_of_its_media_type(served, content_type):  # noqa: F811
    view = served.sent(*MESSAGES["vo"])
    params = signed_vonage({"msisdn": "4915123456789", "to": "Halo", "messageId": view["provider_message_id"], "status": "delivered",
                            "err-code": "0", "client-ref": view["id"]})
    answer = served.http.post("/v1/callbacks/vo", content=json.dumps(params), headers={"Content-Type": content_type})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"applied": 1, "duplicates": 0, "unmatched": 0}
    assert served.view(view["id"])["status"] == "received"


def test_a_signed_vonage_json_inbound_stop_is_read_as_json_whatever_the_case_of_its_media_type(served):  # noqa: F811
    params = signed_vonage({"msisdn": "4915112345678", "to": "33700000000", "messageId": "0B00000123456789", "text": "STOP", "type": "text"})
    answer = served.http.post("/v1/inbound/vo", content=json.dumps(params), headers={"Content-Type": "Application/JSON; charset=UTF-8"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"action": "suppressed"}
