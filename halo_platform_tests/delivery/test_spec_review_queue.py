"""Spec review (delivery.md "Queue, retries, expiry, duplicates", "Interfaces"): a push whose
request to OneSignal got no answer in time is retried there under its idempotency key, never
through another provider; a message whose retry would come after its `expires_at` is marked
`expired` when it expires, not at its retry; `GET /v1/messages/{id}` finds a message by its own
id only, with the same answer on every store; a push repeated under its key with empty `data`
is the same message."""

from __future__ import annotations

import datetime as dt
import random

from halo_platform.core.models import utcnow
from halo_platform.delivery.dispatch import Dispatcher
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.test_dispatch import Clock
from halo_platform_tests.fixtures.access import authorized_client


def test_a_push_onesignal_took_without_answering_in_time_is_retried_there_under_its_key_not_sent_by_fcm(fakes, providers_file, halo_store):
    """delivery.md: "where a provider supports request idempotency, retries reuse the key"; never
    twice. OneSignal took the push but answered after the client's timeout; the retry avoided
    OneSignal and FCM sent the push a second time, so the device showed it twice. Now the retry
    goes back to OneSignal with the same `idempotency_key`, which drops the copy."""
    fakes["onesignal"].set_switches(latency_seconds=0.6)
    providers = providers_file(
        {"os": {"kind": "onesignal", "channel": "push", "base_url": fakes["onesignal"].url, **SECRETS["onesignal"], "timeout_seconds": 0.3},
         "fcm": {"kind": "fcm", "channel": "push", "base_url": fakes["fcm"].url, **SECRETS["fcm"], "timeout_seconds": 2}},
        [{"channel": "push", "country": "*", "capability": "*", "weights": {"os": 1, "fcm": 1}}],
        retry={"max_retries": 3, "backoff_seconds": [1]},
    )
    client = authorized_client(create_app({"store": halo_store, "providers": providers}))
    recipient_of = {client.post("/v1/messages/push", json={"to": to, "title": "Reminder", "body": "Tomorrow 10:00", "priority": "LOW"}).json()["id"]: to
                    for to in (f"user_{i:08d}" for i in range(6))}
    clock = Clock()
    dispatcher = Dispatcher(providers, halo_store, clock=clock, rng=random.Random(0))  # draws some of the six for each
    try:
        first = dispatcher.run_once("push").by_status
        took = {a["ref"] for a in fakes["onesignal"].accepted.wait_for(first["retry_scheduled"], timeout=5)}
        assert first["retry_scheduled"] >= 1 and first["sent"] >= 1, first
        fakes["onesignal"].set_switches(latency_seconds=0)
        clock.advance(2)
        assert dispatcher.run_once("push").by_status == {"sent": first["retry_scheduled"]}
    finally:
        dispatcher.close()
    assert not {recipient_of[mid] for mid in took} & {r.json()["message"]["token"] for r in fakes["fcm"].requests}
    for mid in took:
        view = client.get(f"/v1/messages/{mid}").json()
        assert (view["status"], view["provider"], view["number_of_retries"]) == ("sent", "os", 1), view
    assert fakes["onesignal"].duplicates() == [] and len(fakes["onesignal"].accepted) == len(took)
    keys = [r.json()["idempotency_key"] for r in fakes["onesignal"].requests]
    assert sorted(keys) == sorted([*took, *took])  # each sent twice, under its own key both times


def test_a_message_whose_next_retry_comes_after_its_expiry_is_expired_when_it_expires(fakes, providers_file, halo_store):
    """delivery.md: past `expires_at` a message is never sent and is marked `expired`. A LOW SMS
    expiring in 30 s whose first attempt failed (503) was retried only after the 600 s backoff:
    a minute later, 30 s past its expiry, its status was still `retry_scheduled`, and it was
    marked expired ten minutes late. Now its retry is due no later than its `expires_at`."""
    fakes["twilio"].set_switches(failure_rate=1.0)
    providers = providers_file(
        {"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"}},
        [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 1}}],
        retry={"max_retries": 3, "backoff_seconds": [600]},
    )
    client = authorized_client(create_app({"store": halo_store, "providers": providers}))
    expires_at = utcnow() + dt.timedelta(seconds=30)
    message_id = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "Your table is ready", "priority": "LOW",
                                                       "expires_at": expires_at.isoformat()}).json()["id"]
    clock = Clock()
    dispatcher = Dispatcher(providers, halo_store, clock=clock)
    try:
        assert dispatcher.run_once("sms").by_status == {"retry_scheduled": 1}
        clock.advance(60)
        assert dispatcher.run_once("sms").by_status == {"expired": 1}
    finally:
        dispatcher.close()
    view = client.get(f"/v1/messages/{message_id}").json()
    assert view["status"] == "expired" and [e["event"] for e in view["events"]] == ["queued", "retry_scheduled", "expired"]
    assert fakes["twilio"].request_count == 1


SANDBOX = {"sb": {"kind": "sandbox", "channel": "sms", "countries": ["*"], "capabilities": ["*"]}}
ANYWHERE = [{"channel": "sms", "country": "*", "capability": "*", "weights": {"sb": 1}}]


def test_a_message_is_found_by_its_own_id_only_and_with_the_same_answer_on_every_store(every_store, providers_file):
    """delivery.md: `GET /v1/messages/{id}` gives that message (an unknown one is 404). On MariaDB
    the id in upper case, or followed by a space, answered 200 with the message (the column's
    collation ignores case and trailing spaces) where SQLite and PostgreSQL answer 404, and an id
    with a NUL was 422 "a value cannot be stored" on PostgreSQL only. Now each is 404 everywhere."""
    client = authorized_client(create_app({"store": every_store, "providers": providers_file(SANDBOX, ANYWHERE)}))
    message_id = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "Your order is ready", "priority": "LOW"}).json()["id"]
    assert client.get(f"/v1/messages/{message_id}").json()["id"] == message_id
    for other in (message_id.upper(), f"{message_id}%20", f"{message_id}%00", "%00"):
        response = client.get(f"/v1/messages/{other}")
        assert response.status_code == 404 and response.json()["error"].startswith("no message"), (other, response.text)


def test_a_push_repeated_under_its_key_with_empty_data_is_the_same_message(halo_store, providers_file):
    """delivery.md: an idempotency key seen before returns the first message, 409 only if the
    payload differs. `"data": {}` sends what no `data` sends (FCM and OneSignal leave it out),
    but a repeat with it was a 409; other data is still a different message."""
    push = {"sbp": {"kind": "sandbox", "channel": "push", "countries": ["*"], "capabilities": ["*"]}}
    client = authorized_client(create_app({"store": halo_store, "providers": providers_file(
        push, [{"channel": "push", "country": "*", "capability": "*", "weights": {"sbp": 1}}])}))
    first = {"to": "device_token_1234", "title": "Reminder", "body": "Tomorrow 10:00", "idempotency_key": "reminder-42", "priority": "LOW"}
    message_id = client.post("/v1/messages/push", json=first).json()["id"]
    again = client.post("/v1/messages/push", json={**first, "data": {}})
    assert again.status_code == 202 and again.json()["id"] == message_id, again.text
    assert client.post("/v1/messages/push", json={**first, "data": {"visit": "42"}}).status_code == 409
