"""Conformance with delivery.md and providers.md for inputs the other tests do not use: Twilio
signatures over the URL as Twilio's own validator reads it (with or without the port), expiry
times a provider's validity setting cannot carry (far future) or that FCM and OneSignal would
outlive, internationalized email domains on a relay without SMTPUTF8, callbacks naming a
message that is not ours next to a provider id several messages share, and the per-part
answers and receipts of a long Vonage SMS."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from halo_platform.core.definitions import STORE
from halo_platform.core.models import utcnow
from halo_platform.delivery.providers.base import ACKNOWLEDGED, PERMANENT
from halo_platform.delivery.tables import Message
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.conftest import outgoing
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.delivery.test_callbacks import SG_KEY, _mj_password, events, sent, setup, status_of, vonage_sig  # noqa: F401
from halo_platform_tests.fixtures.access import bearer, make_key

FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def twilio_signed(url: str, params: list[tuple[str, str]]) -> str:
    """X-Twilio-Signature as Twilio computes it: the URL, then each parameter name and value,
    by name and, for a name given twice, by value."""
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(SECRETS["twilio"]["auth_token"].encode(), data.encode(), hashlib.sha1).digest()).decode()


def twilio_status(client: TestClient, view: dict, status: str, signed_url: str, extra: list[tuple[str, str]] = ()):  # noqa: ANN201
    params = [("MessageSid", view["provider_message_id"]), ("MessageStatus", status), ("AccountSid", SECRETS["twilio"]["account_sid"]),
              ("From", "+33700000000"), ("To", "+33612345678"), ("ErrorCode", ""), *extra]
    return client.post("/v1/callbacks/tw", content=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": twilio_signed(signed_url, params)})


@pytest.mark.parametrize("signed_url", ["http://testserver/v1/callbacks/tw", "http://testserver:80/v1/callbacks/tw"])
def test_a_twilio_callback_signed_over_its_url_with_or_without_the_default_port_is_accepted(setup, signed_url):  # noqa: F811
    """Twilio signs a webhook's URL with its port or without it (its own validators accept both:
    "sig generation on back end is inconsistent"); a URL read without one refused every callback
    signed with ":80" (or ":443") as forged, and the message never left `sent`."""
    view = sent(setup, "sms", {"to": "+33612345678", "body": "port", "country": "FR"})
    assert twilio_status(setup, view, "delivered", signed_url).json() == {"applied": 1, "duplicates": 0, "unmatched": 0}
    assert status_of(setup, view["id"]) == "received"


def test_a_twilio_callback_signed_for_another_host_or_port_is_still_refused(setup):  # noqa: F811
    view = sent(setup, "sms", {"to": "+33612345678", "body": "host", "country": "FR"})
    for url in ("http://testserver:8080/v1/callbacks/tw", "http://elsewhere/v1/callbacks/tw", "https://testserver/v1/callbacks/tw"):
        assert twilio_status(setup, view, "delivered", url).status_code == 401
    assert events(view["id"]) == ["queued", "sent"]


def test_a_twilio_callback_repeating_a_parameter_is_verified_over_every_value(setup):  # noqa: F811
    """Twilio signs each value of a parameter sent twice (sorted by value); keeping only the last
    one refused a genuine request."""
    view = sent(setup, "sms", {"to": "+33612345678", "body": "twice", "country": "FR"})
    answer = twilio_status(setup, view, "delivered", "http://testserver/v1/callbacks/tw", extra=[("Tag", "b"), ("Tag", "a")])
    assert answer.status_code == 200, answer.text
    assert status_of(setup, view["id"]) == "received"


def test_an_inbound_twilio_stop_signed_with_the_port_opts_the_sender_out(setup):  # noqa: F811
    params = [("MessageSid", "SM" + "f" * 32), ("AccountSid", SECRETS["twilio"]["account_sid"]), ("From", "+33611111111"),
              ("To", "+33700000000"), ("Body", "STOP"), ("NumMedia", "0")]
    answer = setup.post("/v1/inbound/tw", content=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": twilio_signed("http://testserver:80/v1/inbound/tw", params)})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"action": "suppressed"}


# -- expiry times a provider's validity setting must carry ------------------------------------


def test_a_vonage_sms_expiring_in_the_far_future_is_sent_with_the_longest_ttl_vonage_takes(fakes, make_provider):
    """Vonage's `ttl` is 20,000 to 604,800,000 ms (7 days): a message valid until 2100 asked for
    more and Vonage refused it (status 3), a permanent failure of a message that was fine."""
    result = make_provider("vonage", fakes["vonage"]).send(outgoing("sms", expires_at=FAR_FUTURE))
    assert result.outcome == ACKNOWLEDGED, result.detail
    assert fakes["vonage"].requests[0].form()["ttl"] == "604800000"


def test_the_vonage_fake_refuses_a_ttl_out_of_its_range_as_vonage_does(fakes):
    import httpx

    form = {"api_key": SECRETS["vonage"]["api_key"], "api_secret": SECRETS["vonage"]["api_secret"], "from": "Halo", "to": "33612345678", "text": "x"}
    for ttl, status in (("19999", "3"), ("604800001", "3"), ("20000", "0"), ("604800000", "0"), ("soon", "3")):
        answer = httpx.post(f"{fakes['vonage'].url}/sms/json", data={**form, "ttl": ttl}).json()
        assert answer["messages"][0]["status"] == status, (ttl, answer)


@pytest.mark.parametrize("seconds_left", [45, 600])
def test_an_fcm_push_is_kept_by_fcm_no_longer_than_until_its_expires_at(fakes, make_provider, seconds_left):
    """`android.ttl` was always the provider's `ttl_seconds` (3600 s): FCM then delivered a push to a
    device that came online after the message had expired."""
    message = outgoing("push", expires_at=utcnow() + dt.timedelta(seconds=seconds_left))
    assert make_provider("fcm", fakes["fcm"]).send(message).outcome == ACKNOWLEDGED
    ttl = fakes["fcm"].requests[0].json()["message"]["android"]["ttl"]
    assert ttl.endswith("s") and seconds_left - 5 <= int(ttl[:-1]) <= seconds_left


def test_an_fcm_push_without_expiry_or_expiring_late_keeps_the_configured_ttl(fakes, make_provider):
    provider = make_provider("fcm", fakes["fcm"])
    provider.send(outgoing("push"))
    provider.send(outgoing("push", expires_at=FAR_FUTURE))
    assert [r.json()["message"]["android"]["ttl"] for r in fakes["fcm"].requests] == ["3600s", "3600s"]


def test_the_fcm_fake_refuses_a_reserved_data_key_as_fcm_does(fakes, make_provider):
    provider = make_provider("fcm", fakes["fcm"])
    assert provider.send(outgoing("push", data={"from": "clinic"})).outcome == PERMANENT
    assert provider.send(outgoing("push", data={"fromage": "brie"})).outcome == ACKNOWLEDGED


def test_a_onesignal_push_expires_with_its_message(fakes, make_provider):
    """OneSignal keeps an undelivered push 3 days unless `ttl` (seconds, at most 28 days) says less."""
    provider = make_provider("onesignal", fakes["onesignal"])
    provider.send(outgoing("push", expires_at=utcnow() + dt.timedelta(seconds=90)))
    provider.send(outgoing("push", expires_at=FAR_FUTURE))
    provider.send(outgoing("push"))
    ttls = [r.json().get("ttl") for r in fakes["onesignal"].requests]
    assert 85 <= ttls[0] <= 90 and ttls[1] == 28 * 24 * 3600 and ttls[2] is None


# -- internationalized email addresses ----------------------------------------------------------


def smtp_relay(make_provider, smtp_server):  # noqa: ANN001, ANN201
    """A relay that offers no SMTPUTF8 (as many do not)."""
    smtp_server.switches.offer_smtputf8 = False
    return make_provider("smtp", smtp_server, host="127.0.0.1", port=smtp_server.port, username=smtp_server.username,
                         password=smtp_server.password)


def test_an_email_to_an_internationalized_domain_goes_to_its_ascii_form_on_a_relay_without_smtputf8(smtp_server, make_provider):
    """The domain of ada@bücher.example is xn--bcher-kva.example on the wire: smtplib refused the
    Unicode form before MAIL FROM (the relay offers no SMTPUTF8), which was recorded as an unknown
    outcome and retried on every provider until the message was `lost`."""
    result = smtp_relay(make_provider, smtp_server).send(outgoing("email", recipient="ada+news@bücher.example"))
    assert result.outcome == ACKNOWLEDGED, result.detail
    mail = smtp_server.messages[0]
    assert mail.rcpt_tos == ["ada+news@xn--bcher-kva.example"]
    assert mail.message["To"] == "ada+news@xn--bcher-kva.example"


def test_an_address_whose_local_part_needs_smtputf8_is_refused_by_such_a_relay_for_good_and_nothing_leaves(smtp_server, make_provider):
    """Nothing left (smtplib refuses before MAIL FROM): not an unknown outcome, which a HIGH
    message ends `lost` on and a queued one is retried on for hours."""
    result = smtp_relay(make_provider, smtp_server).send(outgoing("email", recipient="jörg@example.com"))
    assert result.outcome == PERMANENT and "SMTPUTF8" in result.detail
    assert len(smtp_server.messages) == 0


@pytest.mark.parametrize("kind", ["sendgrid", "mailjet"])
def test_sendgrid_and_mailjet_get_an_internationalized_domain_in_its_ascii_form(kind, fakes, make_provider):
    make_provider(kind, fakes[kind]).send(outgoing("email", recipient="ada@bücher.example"))
    body = fakes[kind].requests[0].json()
    to = body["personalizations"][0]["to"][0]["email"] if kind == "sendgrid" else body["Messages"][0]["To"][0]["Email"]
    assert to == "ada@xn--bcher-kva.example"


# -- callbacks that name a message that is not ours ---------------------------------------------


def sendgrid_signed(client: TestClient, items: list[dict]):  # noqa: ANN201
    body, stamp = json.dumps(items).encode(), str(int(time.time()))
    signature = base64.b64encode(SG_KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return client.post("/v1/callbacks/sg", content=body, headers={
        "Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Signature": signature, "X-Twilio-Email-Event-Webhook-Timestamp": stamp})


@pytest.fixture
def batch(setup):  # noqa: ANN001, ANN201, F811
    """Two emails SendGrid took in one request: they share its X-Message-Id."""
    key = bearer(make_key(setup.app, "messages:send", "messages:read"))
    ids = [setup.post("/v1/messages/email", json={"to": to, "subject": "s", "body": "same"}, headers=key).json()["id"]
           for to in ("ada@example.com", "bob@example.com")]
    drain(setup.app.state.resources["providers"], setup.app.state.resources["store"], "email")
    with STORE.read() as conn:
        rows = conn.execute(sa.select(Message.id, Message.status, Message.provider_message_id).where(Message.id.in_(ids))).all()
    assert {r.status for r in rows} == {"sent"} and len({r.provider_message_id for r in rows}) == 1
    return ids, rows[0].provider_message_id


@pytest.mark.parametrize("named", ["01ZZZZZZZZZZZZZZZZZZZZZZZZ", None])
def test_an_event_naming_no_message_of_ours_never_lands_on_a_message_sharing_its_provider_id(setup, batch, named):  # noqa: F811
    """A SendGrid event whose `halo_message_id` is no message of ours (or that names none) next to
    the X-Message-Id of a batch was applied to whichever message of the batch came first."""
    ids, x_message_id = batch
    item = {"email": "eve@example.com", "timestamp": 1, "event": "bounce", "sg_event_id": f"ev-{named}", "sg_message_id": f"{x_message_id}.filter0001"}
    if named:
        item["halo_message_id"] = named
    assert sendgrid_signed(setup, [item]).json() == {"applied": 0, "duplicates": 0, "unmatched": 1}
    assert [events(i) for i in ids] == [["queued", "sent"], ["queued", "sent"]]


def test_each_event_of_a_batch_lands_on_its_own_message(setup, batch):  # noqa: F811
    ids, x_message_id = batch
    items = [{"email": to, "timestamp": 1, "event": kind, "sg_event_id": f"ev-{to}", "sg_message_id": f"{x_message_id}.filter0001.{n}",
              "halo_message_id": mid} for n, (to, kind, mid) in enumerate((("ada@example.com", "delivered", ids[0]), ("bob@example.com", "bounce", ids[1])))]
    assert sendgrid_signed(setup, items).json()["applied"] == 2
    assert [status_of(setup, i) for i in ids] == ["received", "delivery_failed"]


# -- a long Vonage SMS: one message, several parts ---------------------------------------------


def test_the_receipts_of_each_part_of_a_long_vonage_sms_make_one_lifecycle_event_each(setup):  # noqa: F811
    """Vonage answers a long text with a message id per part and sends a receipt per part (each
    naming our `client-ref`): each part's `delivered` had added a `received` (and a status
    webhook) of its own to the one message."""
    view = sent(setup, "sms", {"to": "+4915123456789", "body": "x" * 200, "country": "DE"})
    receipt = {"msisdn": "4915123456789", "to": "Halo", "status": "delivered", "err-code": "0", "client-ref": view["id"],
               "message-timestamp": "2026-11-21 10:00:00", "nonce": "n-1"}
    answers = []
    for part in (view["provider_message_id"], "0B00000000000002", view["provider_message_id"]):
        params = {**receipt, "messageId": part, "timestamp": str(int(time.time()))}
        answers.append(setup.get("/v1/callbacks/vo", params={**params, "sig": vonage_sig(params, "md5hash")}).json())
    assert answers == [{"applied": 1, "duplicates": 0, "unmatched": 0}, {"applied": 0, "duplicates": 1, "unmatched": 0},
                       {"applied": 0, "duplicates": 1, "unmatched": 0}]
    assert events(view["id"]) == ["queued", "sent", "received"]


def test_the_vonage_fake_answers_a_long_text_with_a_message_id_per_part(fakes):
    import httpx

    form = {"api_key": SECRETS["vonage"]["api_key"], "api_secret": SECRETS["vonage"]["api_secret"], "from": "Halo", "to": "33612345678",
            "client-ref": "m-1"}
    for text, kind, parts in (("x" * 160, "text", 1), ("x" * 161, "text", 2), ("ç" * 70, "unicode", 1), ("ç" * 135, "unicode", 3)):
        answer = httpx.post(f"{fakes['vonage'].url}/sms/json", data={**form, "text": text, "type": kind}).json()
        assert answer["message-count"] == str(parts) and len({m["message-id"] for m in answer["messages"]}) == parts
        assert {(m["status"], m["client-ref"]) for m in answer["messages"]} == {("0", "m-1")}
    assert len(fakes["vonage"].accepted) == 4
