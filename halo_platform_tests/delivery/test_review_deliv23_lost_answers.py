"""A receipt that comes after a send whose answer was lost, against the real Twilio and Vonage
fakes: the fake takes the message but answers after our timeout, so the outcome is unknown and
the queued message waits for its retry. The provider's receipt then says what became of it:
the message reaches the receipt's state once, and the retry never sends it a second time."""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.core.models import utcnow
from halo_platform.delivery.service import submit
from halo_platform.delivery.tables import MessageEvent
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.delivery.test_callbacks import twilio_sig, vonage_sig

BASE = "http://testserver"
FRENCH, GERMAN = "+33612345678", "+4915112345678"


@pytest.fixture
def platform(fakes, providers_file, halo_store):  # noqa: ANN001, ANN201
    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url, **SECRETS["twilio"],
               "sender": "+33700000000", "status_callback": f"{BASE}/v1/callbacks/tw", "timeout_seconds": 0.5},
        "vo": {"kind": "vonage", "channel": "sms", "countries": ["DE"], "base_url": fakes["vonage"].url, **SECRETS["vonage"],
               "signature_secret": "sigsecret", "signature_method": "md5hash", "callback_url": f"{BASE}/v1/callbacks/vo", "timeout_seconds": 0.5},
    }, routing=[{"channel": "sms", "country": "FR", "weights": {"tw": 1}}, {"channel": "sms", "country": "DE", "weights": {"vo": 1}}],
       high_deadline_seconds=1.0)
    return TestClient(create_app({"store": halo_store, "providers": providers})), providers, halo_store


def sent_without_answer(platform, fake, to: str) -> str:  # noqa: ANN001
    """A LOW message the fake takes while its answer comes after our 0.5 s timeout."""
    _client, providers, store = platform
    message_id = submit("sms", {"to": to, "body": "your appointment is at 9", "priority": "LOW"}, store=store, providers=providers)[0]["id"]
    fake.set_switches(latency_seconds=1.5)
    drain(providers, store)
    fake.accepted.wait_for(1, timeout=5)
    fake.set_switches(latency_seconds=0.0)
    return message_id


def events(store, message_id: str) -> list[str]:  # noqa: ANN001
    with store.read() as conn:
        return [e for (e,) in conn.execute(sa.select(MessageEvent.event).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id))]


def status(store, message_id: str) -> str:  # noqa: ANN001
    with store.read() as conn:
        return conn.execute(sa.text("SELECT status FROM messages WHERE id = :i"), {"i": message_id}).scalar()


def later(hours: float = 2) -> dt.datetime:
    return utcnow() + dt.timedelta(hours=hours)


@pytest.mark.parametrize(("vonage_status", "reached"), [("delivered", "received"), ("failed", "delivery_failed"), ("accepted", "delivered")])
def test_a_vonage_receipt_after_a_lost_answer_settles_the_message_and_the_retry_never_resends_it(platform, fakes, vonage_status, reached):
    client, providers, store = platform
    message_id = sent_without_answer(platform, fakes["vonage"], GERMAN)
    assert status(store, message_id) == "retry_scheduled"  # a timeout: retryable, the provider may have it
    taken = fakes["vonage"].accepted[0]
    params = {"msisdn": GERMAN[1:], "to": "Halo", "messageId": taken["provider_id"], "status": vonage_status, "err-code": "0",
              "client-ref": message_id, "message-timestamp": "2026-12-06 10:00:00", "timestamp": str(int(time.time())), "nonce": "n1"}
    for _ in range(2):  # Vonage delivers a receipt again until it gets a 200
        assert client.post("/v1/callbacks/vo", data={**params, "sig": vonage_sig(params, "md5hash")}).status_code == 200
    drain(providers, store, clock=later)
    assert len(fakes["vonage"].accepted) == 1
    assert status(store, message_id) == reached
    assert events(store, message_id).count(reached) == 1


@pytest.mark.parametrize(("twilio_status", "reached"), [("delivered", "received"), ("undelivered", "delivery_failed"), ("sent", "delivered")])
def test_a_twilio_status_after_a_lost_answer_settles_the_message_and_the_retry_never_resends_it(platform, fakes, twilio_status, reached):
    """Twilio's status callback names its MessageSid, which we never read (the answer was lost):
    only the callback URL we gave can say which message of ours it is."""
    client, providers, store = platform
    message_id = sent_without_answer(platform, fakes["twilio"], FRENCH)
    assert status(store, message_id) == "retry_scheduled"
    taken = fakes["twilio"].requests.snapshot()[0]
    url = taken.form()["StatusCallback"]  # the URL Twilio posts the message's statuses to, as we gave it
    params = {"MessageSid": fakes["twilio"].accepted[0]["provider_id"], "MessageStatus": twilio_status, "AccountSid": SECRETS["twilio"]["account_sid"],
              "From": "+33700000000", "To": FRENCH, "ErrorCode": ""}
    for _ in range(2):
        answer = client.post(url.removeprefix(BASE), content=urlencode(params),
                             headers={"X-Twilio-Signature": twilio_sig(url, params), "Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200, answer.text
    drain(providers, store, clock=later)
    assert len(fakes["twilio"].accepted) == 1
    assert status(store, message_id) == reached
    assert events(store, message_id).count(reached) == 1


def test_a_twilio_status_naming_twice_or_another_providers_message_changes_nothing(platform, fakes):
    client, providers, store = platform
    vonage_id = submit("sms", {"to": GERMAN, "body": "b", "priority": "LOW"}, store=store, providers=providers)[0]["id"]
    drain(providers, store)
    params = {"MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered", "AccountSid": SECRETS["twilio"]["account_sid"]}
    for query, code in ((f"halo_message={vonage_id}", 200), (f"halo_message={vonage_id}&halo_message=x", 400)):
        url = f"{BASE}/v1/callbacks/tw?{query}"
        answer = client.post(url.removeprefix(BASE), content=urlencode(params),
                             headers={"X-Twilio-Signature": twilio_sig(url, params), "Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == code, answer.text
        assert code == 400 or answer.json() == {"applied": 0, "duplicates": 0, "unmatched": 1}
    assert events(store, vonage_id) == ["queued", "sent"]


@pytest.mark.parametrize(("kind", "to"), [("twilio", FRENCH), ("vonage", GERMAN)])
def test_a_high_message_lost_for_want_of_an_answer_reaches_the_receipts_state_once_and_is_never_resent(platform, fakes, kind, to):
    client, providers, store = platform
    fakes[kind].set_switches(latency_seconds=1.5)
    message_id = submit("sms", {"to": to, "body": "code 123456", "priority": "HIGH"}, store=store, providers=providers)[0]["id"]
    fakes[kind].accepted.wait_for(1, timeout=5)
    fakes[kind].set_switches(latency_seconds=0.0)
    assert status(store, message_id) == "lost"  # an OTP is never re-sent after an unknown outcome
    provider_id = fakes[kind].accepted[0]["provider_id"]
    for _ in range(2):
        if kind == "twilio":
            url = fakes[kind].requests.snapshot()[0].form()["StatusCallback"]
            params = {"MessageSid": provider_id, "MessageStatus": "delivered", "AccountSid": SECRETS["twilio"]["account_sid"]}
            answer = client.post(url.removeprefix(BASE), content=urlencode(params),
                                 headers={"X-Twilio-Signature": twilio_sig(url, params), "Content-Type": "application/x-www-form-urlencoded"})
        else:
            params = {"msisdn": to[1:], "to": "Halo", "messageId": provider_id, "status": "delivered", "client-ref": message_id,
                      "timestamp": str(int(time.time())), "nonce": "n2"}
            answer = client.post("/v1/callbacks/vo", data={**params, "sig": vonage_sig(params, "md5hash")})
        assert answer.status_code == 200, answer.text
    drain(providers, store, clock=later)
    assert len(fakes[kind].accepted) == 1
    assert status(store, message_id) == "received"
    assert events(store, message_id).count("received") == 1
