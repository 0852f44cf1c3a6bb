"""Provider callbacks over real HTTP (uvicorn on 127.0.0.1) on every store, continued.

Pinned here: a correctly signed Vonage JSON receipt (or inbound message) whose `Content-Type`
was not written in lower case (`Application/JSON`) was read as a form and refused 401. A signed
form naming a field twice (Twilio's `MessageStatus`, Vonage's `status`, an inbound `Body`), or a
JSON object naming a key twice, took its last value silently. A Mailjet event reported again
with another `time` was stored twice. Mailjet's `Authorization: basic ...` and OneSignal's
`bearer ...` (schemes are case-insensitive) were refused 401."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from halo_platform.delivery.providers.vonage import vonage_signature
from halo_platform.delivery.tables import Suppression
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.test_review_callbacks_wire import MESSAGES, MJ_AUTH, served  # noqa: F401

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


def test_a_signed_twilio_status_callback_naming_its_status_twice_is_400_and_changes_nothing(served):  # noqa: F811
    view = served.sent(*MESSAGES["tw"])
    pairs = [("MessageSid", view["provider_message_id"]), ("MessageStatus", "delivered"), ("MessageStatus", "sent"),
             ("AccountSid", SECRETS["twilio"]["account_sid"])]
    answer = served.twilio(pairs)  # signed over both pairs
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": "field 'MessageStatus' given twice", "detail": None}
    assert served.events(view["id"]) == SENT


def test_a_signed_twilio_inbound_message_naming_its_body_twice_is_400_and_opts_nobody_out(served):  # noqa: F811
    pairs = [("MessageSid", "SM" + "1" * 32), ("AccountSid", SECRETS["twilio"]["account_sid"]), ("From", "+33612345678"),
             ("Body", "STOP"), ("Body", "hello")]
    answer = served.twilio(pairs, path="/v1/inbound/tw")
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": "field 'Body' given twice", "detail": None}
    with served.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Suppression)).scalar_one() == 0


@pytest.mark.parametrize("twice", ["in the body", "in the query and the body"])
def test_a_signed_vonage_form_receipt_naming_its_status_twice_is_400_and_changes_nothing(served, twice):  # noqa: F811
    view = served.sent(*MESSAGES["vo"])
    params = signed_vonage({"msisdn": "4915123456789", "to": "Halo", "messageId": view["provider_message_id"], "status": "delivered",
                            "err-code": "0", "client-ref": view["id"]})
    if twice == "in the body":  # the signature covers one value of a name: the one kept
        body, query = urlencode([("status", "failed"), *params.items()]), ""
    else:
        body, query = urlencode(params), "?status=failed"
    answer = served.http.post(f"/v1/callbacks/vo{query}", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": "field 'status' given twice", "detail": None}
    assert served.events(view["id"]) == SENT


def test_a_signed_json_callback_naming_a_key_twice_is_400_and_changes_nothing(served):  # noqa: F811
    vonage, mailjet = served.sent(*MESSAGES["vo"]), served.sent(*MESSAGES["mj"])
    params = signed_vonage({"msisdn": "4915123456789", "to": "Halo", "messageId": vonage["provider_message_id"], "status": "delivered",
                            "err-code": "0", "client-ref": vonage["id"]})
    raw = '{"status": "failed", ' + json.dumps(params)[1:]  # signed over the value json.loads keeps
    answer = served.http.post("/v1/callbacks/vo", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": "field 'status' given twice", "detail": None}
    raw = '{"event": "bounce", ' + json.dumps({"event": "sent", "MessageID": int(mailjet["provider_message_id"]), "CustomID": mailjet["id"]})[1:]
    answer = served.http.post("/v1/callbacks/mj", content=raw, headers={"Content-Type": "application/json", "Authorization": MJ_AUTH})
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": "field 'event' given twice", "detail": None}
    assert served.events(vonage["id"]) == served.events(mailjet["id"]) == SENT


def test_a_mailjet_event_reported_again_at_another_time_is_a_duplicate_and_other_events_are_not(served):  # noqa: F811
    view = served.sent(*MESSAGES["mj"])

    def event(kind: str, at: int) -> dict:
        return {"event": kind, "time": at, "MessageID": int(view["provider_message_id"]), "CustomID": view["id"], "email": "bob@example.com"}

    assert served.mailjet(event("sent", 1_800_000_000)).json() == {"applied": 1, "duplicates": 0, "unmatched": 0}
    assert served.mailjet(event("sent", 1_800_000_060)).json() == {"applied": 0, "duplicates": 1, "unmatched": 0}
    assert served.mailjet([event("bounce", 1_800_000_120), event("bounce", 1_800_000_180)]).json() == {"applied": 1, "duplicates": 1, "unmatched": 0}
    assert served.mailjet(event("spam", 1_800_000_240)).json() == {"applied": 1, "duplicates": 0, "unmatched": 0}
    assert served.events(view["id"]) == [*SENT, ("received", False), ("delivery_failed", True), ("delivery_failed", True)]


@pytest.mark.parametrize(("basic", "bearer"), [("basic", "bearer"), ("BASIC", "BEARER"), ("bAsIc", "bEaReR")])
def test_mailjet_and_onesignal_credentials_are_taken_whatever_the_case_of_their_scheme(served, basic, bearer):  # noqa: F811
    mailjet, onesignal = served.sent(*MESSAGES["mj"]), served.sent(*MESSAGES["os"])
    item = {"event": "sent", "time": 1_800_000_000, "MessageID": int(mailjet["provider_message_id"]), "CustomID": mailjet["id"]}
    answer = served.http.post("/v1/callbacks/mj", json=item, headers={"Authorization": MJ_AUTH.replace("Basic", basic)})
    assert answer.status_code == 200, answer.text
    item = {"event": {"kind": "message.push.received", "id": "e1"}, "message": {"id": onesignal["provider_message_id"]}, "external_id": onesignal["id"]}
    answer = served.http.post("/v1/callbacks/os", json=item, headers={"Authorization": f"{bearer} os-shared"})
    assert answer.status_code == 200, answer.text
    assert served.view(mailjet["id"])["status"] == served.view(onesignal["id"])["status"] == "received"
