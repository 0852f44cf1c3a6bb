"""A message's end is its first outcome: a late or repeated callback, or two at once, never
rewinds a status, never replaces one outcome with another of the same stage, never falls back
for an SMS that was received, and is never a 500; two opt-outs at once are one suppression."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.core.store import StoreResource
from halo_platform.delivery.callbacks import handle_callback
from halo_platform.delivery.fallback import send_fallbacks
from halo_platform.delivery.providers.base import CallbackRequest
from halo_platform.delivery.service import message_view, submit
from halo_platform.delivery.suppressions import suppress
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.test_callbacks import BASE, twilio_sig
from halo_platform_tests.delivery.test_callbacks_scoped import vonage_signed

URL = f"{BASE}/v1/callbacks/tw"


def _twilio(fakes) -> dict:  # noqa: ANN001
    return {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"}


def _twilio_request(sid: str, status: str) -> CallbackRequest:
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": SECRETS["twilio"]["account_sid"],
              "ErrorCode": "30008" if status in ("failed", "undelivered") else ""}
    return CallbackRequest(url=URL, method="POST", body=urlencode(params).encode(),
                           headers={"x-twilio-signature": twilio_sig(URL, params), "content-type": "application/x-www-form-urlencoded"})


@pytest.fixture(params=["migrated_pg_url", "migrated_mysql_url"])
def server_store(request) -> Iterator[StoreResource]:  # noqa: ANN001
    store = StoreResource(db_url=request.getfixturevalue(request.param))
    yield store
    store.dispose()


@contextlib.contextmanager
def held_after(store: StoreResource, statement_start: str, seconds: float) -> Iterator[threading.Event]:
    """The first statement on `store` that starts with `statement_start` waits `seconds` once it
    has run, its transaction still open: what another request does meanwhile races it. The
    event is set when it starts waiting."""
    waiting = threading.Event()

    def after(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, ARG001
        if statement.lstrip().upper().startswith(statement_start) and not waiting.is_set():
            waiting.set()
            time.sleep(seconds)

    sa.event.listen(store.engine, "after_cursor_execute", after)
    try:
        yield waiting
    finally:
        sa.event.remove(store.engine, "after_cursor_execute", after)


def _in_a_thread(fn) -> threading.Thread:  # noqa: ANN001
    thread = threading.Thread(target=fn)
    thread.start()
    return thread


def test_a_late_failure_callback_of_a_received_sms_makes_no_fallback(fakes, providers_file, halo_store) -> None:
    providers = providers_file({"tw": _twilio(fakes), "sg": {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url,
                                                            **SECRETS["sendgrid"], "sender": "noreply@example.com"}})
    view, _ = submit("sms", {"to": "+33612345678", "country": "FR", "body": "Tomorrow 10:00", "priority": "HIGH",
                             "fallback": {"channel": "email", "to": "ada@example.com", "subject": "Reminder"}}, store=halo_store, providers=providers)
    sid = message_view(view["id"], halo_store)["provider_message_id"]
    assert handle_callback("tw", _twilio_request(sid, "delivered"), halo_store, providers)["applied"] == 1
    assert handle_callback("tw", _twilio_request(sid, "failed"), halo_store, providers)["applied"] == 1  # stored, out of order
    assert message_view(view["id"], halo_store)["status"] == "received"
    assert send_fallbacks(halo_store, providers)["made"] == []  # an email for an SMS received was made


def test_one_outcome_never_replaces_another_of_the_same_stage(fakes, providers_file, halo_store) -> None:
    providers = providers_file({"vo": {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"],
                                       "signature_secret": "sigsecret", "signature_method": "md5hash"}})
    client = TestClient(create_app({"store": halo_store, "providers": providers}))
    view, _ = submit("sms", {"to": "+4915112345678", "body": "hello", "priority": "HIGH"}, store=halo_store, providers=providers)
    base = {"messageId": message_view(view["id"], halo_store)["provider_message_id"], "client-ref": view["id"], "msisdn": "4915112345678"}
    assert vonage_signed(client, {**base, "status": "delivered"}).json()["applied"] == 1
    assert vonage_signed(client, {**base, "status": "failed"}).status_code == 200
    assert message_view(view["id"], halo_store)["status"] == "received"  # it became delivery_failed


def test_two_callbacks_at_once_never_rewind_the_status(fakes, providers_file, server_store) -> None:
    providers = providers_file({"tw": _twilio(fakes)})
    view, _ = submit("sms", {"to": "+33612345678", "body": "hi", "priority": "HIGH"}, store=server_store, providers=providers)
    sid = message_view(view["id"], server_store)["provider_message_id"]
    with held_after(server_store, "SELECT MESSAGES.ID", 0.5) as waiting:  # `sent` has read the message, writes last
        sent = _in_a_thread(lambda: handle_callback("tw", _twilio_request(sid, "sent"), server_store, providers))
        assert waiting.wait(10)
        handle_callback("tw", _twilio_request(sid, "delivered"), server_store, providers)
        sent.join()
    assert message_view(view["id"], server_store)["status"] == "received"  # it was rewound to delivered


def test_the_same_callback_twice_at_once_is_one_event_and_never_a_500(fakes, providers_file, server_store) -> None:
    providers = providers_file({"tw": _twilio(fakes)})
    view, _ = submit("sms", {"to": "+33612345678", "body": "hi", "priority": "HIGH"}, store=server_store, providers=providers)
    sid = message_view(view["id"], server_store)["provider_message_id"]
    counts = []
    with held_after(server_store, "INSERT INTO MESSAGE_EVENTS", 0.5) as waiting:  # the first one's event not committed yet
        first = _in_a_thread(lambda: counts.append(handle_callback("tw", _twilio_request(sid, "delivered"), server_store, providers)))
        assert waiting.wait(10)
        counts.append(handle_callback("tw", _twilio_request(sid, "delivered"), server_store, providers))  # IntegrityError: a 500
        first.join()
    assert sorted(c["applied"] for c in counts) == [0, 1] and sorted(c["duplicates"] for c in counts) == [0, 1]
    assert message_view(view["id"], server_store)["status"] == "received"


def test_two_opt_outs_of_one_recipient_at_once_are_one_suppression(halo_env, server_store) -> None:
    answers = []
    with held_after(server_store, "INSERT INTO SUPPRESSIONS", 0.5) as waiting:
        first = _in_a_thread(lambda: answers.append(suppress(server_store, "sms", "+33612345678", reason="STOP")))
        assert waiting.wait(10)
        answers.append(suppress(server_store, "sms", "+33612345678", scope="all", reason="STOP again"))  # IntegrityError: a 500
        first.join()
    assert len(answers) == 2
    with server_store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*), max(scope) FROM suppressions")).one() == (1, "all")
