"""Review wire16 of the provider clients and callbacks against providers.md and delivery.md.

Pinned here: a SendGrid 400 naming a field of the whole request (`from.email`, `content`) was
bisected as if one personalization were bad: a batch of n messages became 2n - 1 requests, each
refused alike. A signed SendGrid batch of events for mail another sender of the account sent (no
`halo_message_id`, an `sg_message_id` we never recorded) cost four statements per event, each
event looked up, kept (`park`) and looked up again: a 1 MiB batch, 8,000 events, took 17 s on
PostgreSQL, past the webhook's patience, so SendGrid posted it again (and it was kept again)."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import urlencode

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from halo_platform.delivery.callbacks import handle_callback
from halo_platform.delivery.dispatch import call_provider
from halo_platform.delivery.providers.base import PERMANENT, CallbackRequest
from halo_platform.delivery.providers.twilio import twilio_signature
from halo_platform.delivery.service import message_view, submit
from halo_platform.delivery.tables import ParkedCallback, Suppression
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.conftest import outgoing
from halo_platform_tests.delivery.test_review_callbacks_wire import SG_KEY, SG_PUBLIC, served  # noqa: F401


def test_a_sendgrid_400_on_a_field_of_the_whole_request_is_one_request_not_a_bisection(fakes, make_provider) -> None:
    """No sender address (the fake answers 400 on `from.email`, as SendGrid does): every message of
    the batch fails for good on the first answer, which a half of the batch would get again."""
    fake = fakes["sendgrid"]
    provider = make_provider("sendgrid", fake, sender="")
    messages = [outgoing("email", recipient=f"user{n}@example.com", body="same", subject="Same") for n in range(64)]
    results = call_provider(provider, messages)
    assert fake.request_count == 1  # was 127
    assert {(r.outcome, r.detail) for r in results} == {
        (PERMANENT, '400 {"errors": [{"message": "The from object must be provided for every email send.", "field": "from.email", "help": null}]}')}


def test_a_sendgrid_400_naming_one_personalization_still_isolates_it(fakes, make_provider) -> None:
    """The bisection stays for what it is for: one bad recipient among good ones."""
    fake = fakes["sendgrid"]
    provider = make_provider("sendgrid", fake)
    recipients = ["a@example.com", "b@example.com", "bounce@example.com", "c@example.com"]
    results = call_provider(provider, [outgoing("email", recipient=r, body="same", subject="Same") for r in recipients])
    assert [r.outcome for r in results] == ["acknowledged", "acknowledged", PERMANENT, "acknowledged"]


def signed_sendgrid(items: list[dict]) -> CallbackRequest:
    body = json.dumps(items).encode()
    ts = str(int(time.time()))
    signature = base64.b64encode(SG_KEY.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return CallbackRequest(url="http://halo.example/v1/callbacks/sg", method="POST", body=body, headers={
        "content-type": "application/json", "x-twilio-email-event-webhook-signature": signature, "x-twilio-email-event-webhook-timestamp": ts})


def test_a_sendgrid_batch_of_thousands_of_events_for_mail_we_did_not_send_costs_a_few_statements(fakes, providers_file, any_store) -> None:
    """2,000 events naming ids we never recorded, and one of a message we sent: each unknown one is
    kept (it may have overtaken its answer) and the batch is a few statements, not 8,000; the
    message we sent moves."""
    providers = providers_file({"sg": {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"],
                                       "sender": "noreply@example.com", "webhook_public_key": SG_PUBLIC}})
    view, _ = submit("email", {"to": "ada@example.com", "subject": "s", "body": "b", "priority": "HIGH"}, store=any_store, providers=providers)
    sent = message_view(view["id"], any_store)
    items = [{"event": "delivered", "sg_event_id": f"e{n}", "sg_message_id": f"other{n}.filter0001", "email": f"u{n}@example.com"}
             for n in range(2000)]
    items.append({"event": "delivered", "sg_event_id": "ours", "sg_message_id": f"{sent['provider_message_id']}.filter0001",
                  "halo_message_id": sent["id"], "email": "ada@example.com"})
    statements = []

    def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001, ANN002, ARG001
        statements.append(statement)

    sa.event.listen(any_store.engine, "before_cursor_execute", count)
    try:
        assert handle_callback("sg", signed_sendgrid(items), any_store, providers) == {"applied": 1, "duplicates": 0, "unmatched": 2000}
    finally:
        sa.event.remove(any_store.engine, "before_cursor_execute", count)
    assert len(statements) < 40, len(statements)  # was 8,009 on SQLite
    assert message_view(sent["id"], any_store)["status"] == "received"
    with any_store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ParkedCallback)).scalar_one() == 2000


def test_a_signed_twilio_inbound_stop_sent_by_get_opts_the_sender_out(served) -> None:  # noqa: F811
    """A Twilio number's incoming-message webhook may be set to HTTP GET: the fields come in the query
    and the signature covers the URL with it. The route takes GET, and the signature passed, but the
    fields were read from the (empty) body: 401 'the message is for another Twilio account', the STOP lost."""
    query = urlencode({"MessageSid": "SM" + "7" * 32, "AccountSid": SECRETS["twilio"]["account_sid"], "From": "+33612345678",
                       "To": "+33700000000", "Body": "STOP"})
    path = f"/v1/inbound/tw?{query}"
    signature = twilio_signature(SECRETS["twilio"]["auth_token"], f"{served.url}{path}", [])
    answer = served.http.get(path, headers={"X-Twilio-Signature": signature})
    assert (answer.status_code, answer.json()) == (200, {"action": "suppressed"})
    with served.store.read() as conn:
        assert conn.execute(sa.select(Suppression.channel, Suppression.created_by)).all() == [("sms", "inbound:tw")]
    forged = served.http.get(path.replace("STOP", "START"), headers={"X-Twilio-Signature": signature})
    assert forged.status_code == 401  # the query is signed
