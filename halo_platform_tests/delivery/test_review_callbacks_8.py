"""Provider callbacks and inbound messages over real HTTP (uvicorn on 127.0.0.1, the provider fakes
as real servers), reviewed as a provider that misbehaves or an attacker.

Pinned here: a signed timestamp exactly 10 minutes old (or ahead), in the whole seconds the
providers sign, was refused 401 whenever the current second had begun (nearly always): the
age was taken against the current time with its fraction, so 600 s read as 600.4 s. A status
webhook receiver that answered 200 with a body that never ended (a chunk every 0.2 s) held the
delivery run forever, reading it into memory: no other message's webhook went out, and the
sensor launches no run while one is active. A suppression's reason kept a number typed in it in clear."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from halo_platform.delivery.providers.vonage import vonage_signature
from halo_platform.delivery.tables import WebhookAttempt
from halo_platform.delivery.webhooks import deliver
from halo_platform_tests.delivery.helpers import webhook_receiver
from halo_platform_tests.delivery.test_review_callbacks_wire import MESSAGES, SG_KEY, served  # noqa: F401
from halo_platform_tests.delivery.test_status_webhooks import setup  # noqa: F401


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


@contextmanager
def endless_receiver() -> Iterator[str]:
    """A webhook receiver on 127.0.0.1 that answers each request `200` with a chunked body that
    never ends (64 kB every 0.2 s, until the client goes or the test ends); yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
                while not stop.is_set():
                    conn.sendall(b"10000\r\n" + b"x" * 0x10000 + b"\r\n")
                    stop.wait(0.2)
            except OSError:  # the client closed the connection
                pass

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hooks"
    finally:
        stop.set()
        server.join()
        listener.close()


def test_a_receiver_whose_answer_never_ends_holds_no_delivery_run(setup):  # noqa: F811
    client, _providers, store, _key = setup
    with endless_receiver() as endless, webhook_receiver() as good:
        stuck = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "a", "priority": "LOW", "callback_url": endless}).json()["id"]
        client.post("/v1/messages/sms", json={"to": "+33612345679", "body": "b", "priority": "LOW", "callback_url": f"{good.url}/hooks"})
        done = []
        run = threading.Thread(target=lambda: done.append(deliver(store, timeout=2, workers=1, max_seconds=5)), daemon=True)
        run.start()
        run.join(timeout=30)
        assert done == [{"delivered": 2, "failed": 0, "messages": 2}]  # workers=1: the good receiver's message waited for the other
        assert len(good.got) == 1
    with store.read() as conn:
        attempts = conn.execute(sa.select(WebhookAttempt.ok, WebhookAttempt.http_status).where(WebhookAttempt.message_id == stuck)).all()
    assert [tuple(a) for a in attempts] == [(True, 200)]  # the receiver took it: its answer's body is not ours to read


def test_a_suppression_reason_keeps_no_phone_number_or_address_in_clear(halo_env):  # noqa: ARG001
    """The suppressions table keeps only a keyed hash of the recipient, yet a reason typed with the
    number in it ('asked by +33612345678') was stored as typed and listed by `halo delivery
    suppressions` and the API. It is masked as a log line is, before it is stored."""
    from halo_platform.core.store import StoreResource
    from halo_platform.delivery.suppressions import list_suppressions, suppress

    store = StoreResource()
    try:
        suppress(store, "sms", "+33612345678", reason="asked by +33612345678, cc jean.dupont@example.com")
        (kept,) = list_suppressions(store)
    finally:
        store.dispose()
    assert "33612345678" not in kept["reason"] and "jean.dupont" not in kept["reason"], kept
    assert kept["reason"].startswith("asked by +336"), kept
