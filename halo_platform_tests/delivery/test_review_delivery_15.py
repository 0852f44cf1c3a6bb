"""Delivery review 15: an opt-out keyword with punctuation around it, SMS bodies counted in
segments only, quiet hours of a number of several zones, and the fallback email's quiet hours."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from halo_platform.delivery.suppressions import keyword_action
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS, twilio_inbound
from halo_platform_tests.fixtures.access import authorized_client

NUMBER = "+33612345678"


@pytest.mark.parametrize("text", ["STOP.", "Stop!", "stop!!!", " STOP. ", "\"STOP\"", "¡Stop!", "ARRÊT !", "(stopp)", "Berhenti."])
def test_an_opt_out_keyword_with_punctuation_around_it_suppresses(fakes, providers_file, halo_store, text):
    """delivery.md: STOP (and ARRET, STOPP, BERHENTI) received through the inbound webhook opts the
    sender out. A phone that ends a reply with a full stop (`Stop.`), or a patient who writes
    `STOP!`, sends the keyword and nothing else: it was answered `ignored` and the sender kept
    getting reminders. Punctuation and spaces around the word are not part of it."""
    providers = providers_file({"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"],
                                       "sender": "+33700000000"}})
    client = authorized_client(create_app({"store": halo_store, "providers": providers}))
    form, headers = twilio_inbound("http://testserver/v1/inbound/tw", NUMBER, text)
    answer = client.post("/v1/inbound/tw", content=urlencode(form), headers={**headers, "Authorization": ""})
    assert answer.status_code == 200 and answer.json() == {"action": "suppressed"}, answer.text
    assert client.post("/v1/messages/sms", json={"to": NUMBER, "body": "reminder"}).json()["status"] == "suppressed"


@pytest.mark.parametrize(("text", "action"), [
    ("Start!", "lift"), ("START.", "lift"), ("STOP PLEASE", None), ("S.T.O.P", None), ("STOP-ALL", None),
    ("...", None), ("", None),
])
def test_only_the_keyword_itself_counts_punctuation_around_it_aside(text, action):
    """The message must still be the keyword alone: words or punctuation inside it, or another
    word, are not a keyword."""
    assert keyword_action(text) == action
