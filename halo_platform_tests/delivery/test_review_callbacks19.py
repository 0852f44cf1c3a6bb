"""Provider callbacks and inbound messages as a hostile or sloppy provider sends them (review 19).

Pinned here: a signed inbound STOP whose keyword had spaces or punctuation around it on another
line (`STOP` and a signature line of dashes), a tab, a long run of `!`, or an invisible format
character (a zero-width space) was answered `ignored` and the sender kept getting messages: the
suppression's reason was the raw text, which a reason (one line, 255 characters) refused.

A Twilio entry whose auth token is empty (`TWILIO_AUTH_TOKEN=` left blank in a `.env`) took
status callbacks and inbound messages "signed" with the empty key, which anyone computes: a
forged START lifted a patient's opt-out. Every other kind refuses all callbacks without its
secret; Twilio now does too (401, nothing changed)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from halo_platform.delivery.providers.twilio import twilio_signature
from halo_platform.delivery.tables import MessageEvent, ParkedCallback, Suppression
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS, twilio_inbound, vonage_inbound
from halo_platform_tests.delivery.test_opt_out import GERMAN, NUMBER, setup, sms, stop_by_twilio  # noqa: F401
from halo_platform_tests.fixtures.access import authorized_client


@pytest.mark.parametrize(("text", "reason"), [
    ("STOP\n--", "STOP via tw"), ("Stop!\n\n:)", "STOP via tw"), ("stop" + "!" * 300, "STOP via tw"), ("STOP \t!", "STOP via tw"),
    ("stop\u200b", "STOP via tw"), ("\u200eARRÊT.", "ARRÊT via tw"),
])
def test_a_signed_stop_with_spaces_punctuation_or_invisible_characters_around_it_opts_the_sender_out(setup, text, reason):  # noqa: F811
    """delivery.md: STOP received through the inbound webhook opts the sender out. The keyword is read
    without what surrounds it, and the suppression keeps that keyword as its reason, never the text
    (a second line, a tab, 300 characters were refused as a reason, and the STOP `ignored`)."""
    client, _providers, store = setup
    answer = stop_by_twilio(client, NUMBER, text)
    assert answer.status_code == 200 and answer.json() == {"action": "suppressed"}, answer.text
    assert sms(client, NUMBER)["status"] == "suppressed"
    with store.read() as conn:
        assert conn.execute(sa.select(Suppression.reason)).scalars().all() == [reason]


def test_a_signed_vonage_start_on_two_lines_lifts_the_opt_out(setup):  # noqa: F811
    client, _providers, _store = setup
    assert client.post("/v1/inbound/vo", data=vonage_inbound(GERMAN, "Stop.\n-", "sigsecret")).json() == {"action": "suppressed"}
    assert client.post("/v1/inbound/vo", data=vonage_inbound(GERMAN, "start !\n", "sigsecret")).json() == {"action": "lifted"}
    assert sms(client, GERMAN)["status"] == "queued"


def test_a_twilio_entry_with_an_empty_auth_token_takes_no_callback_or_inbound_message_signed_with_it(fakes, providers_file, halo_store):
    """delivery.md: each provider's own signature scheme is verified, a bad or missing signature gets
    401 and changes nothing. An HMAC under an empty auth token is no signature: anyone computes it."""
    providers = providers_file({"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url,
                                       "account_sid": SECRETS["twilio"]["account_sid"], "auth_token": "", "sender": "+33700000000"}})
    client = authorized_client(create_app({"store": halo_store, "providers": providers}))
    assert client.post("/v1/suppressions", json={"channel": "sms", "to": NUMBER}).status_code == 201
    form, headers = twilio_inbound("http://testserver/v1/inbound/tw", NUMBER, "START", auth_token="")
    answer = client.post("/v1/inbound/tw", content=urlencode(form), headers={**headers, "Authorization": ""})
    assert answer.status_code == 401 and answer.json()["error"] == "bad or missing X-Twilio-Signature", answer.text
    assert sms(client, NUMBER)["status"] == "suppressed"

    status = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "AccountSid": SECRETS["twilio"]["account_sid"]}
    forged = twilio_signature("", "http://testserver/v1/callbacks/tw", status)
    answer = client.post("/v1/callbacks/tw", content=urlencode(status), headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": forged, "Authorization": ""})
    assert answer.status_code == 401, answer.text
    with halo_store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ParkedCallback)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(MessageEvent).where(MessageEvent.provider == "tw")).scalar_one() == 0
