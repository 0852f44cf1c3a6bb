"""Spec review (delivery.md): what a provider of the providers file offers can be asked for, a
rule for Norway (`country: NO`) routes Norway's messages, and an inbound opt-out keyword is read
as the same text however its letters are encoded."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from halo_platform.delivery.config import load_config
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.suppressions import keyword_action
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS, twilio_inbound
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.fixtures.access import authorized_client

NUMBER = "+33612345678"


def test_a_capability_that_only_a_provider_of_the_file_lists_is_sent_through_it(providers_file, halo_store):
    """delivery.md: 422 for an "unknown capability for the channel". A capability the channel's
    own provider lists (MMS, outside the built-in TEXT/SECURE/VOICE) is known for it: it was a
    422, so the provider's capability could never be used without an undocumented section."""
    providers = providers_file({
        "mms": {"kind": "sandbox", "channel": "sms", "countries": ["FR"], "capabilities": ["TEXT", "MMS"]},
    }, routing=[{"channel": "sms", "country": "FR", "capability": "MMS", "weights": {"mms": 1}}])
    client = authorized_client(create_app({"store": halo_store, "providers": providers}))
    response = client.post("/v1/messages/sms", json={"to": NUMBER, "body": "a picture", "capability": "MMS"})
    assert response.status_code == 202, response.text
    drain(providers, halo_store)
    view = client.get(f"/v1/messages/{response.json()['id']}").json()
    assert (view["status"], view["provider"]) == ("sent", "mms")
    refused = client.post("/v1/messages/sms", json={"to": NUMBER, "body": "x", "capability": "FAX"})
    assert refused.status_code == 422 and "not known for sms" in refused.json()["error"]
    assert client.post("/v1/messages/email", json={"to": "a@example.com", "subject": "s", "body": "b", "capability": "MMS"}).status_code == 422


NORWAY = """
providers:
  telenor: {kind: sandbox, channel: sms, countries: [NO, SE], capabilities: [TEXT]}
  anywhere: {kind: sandbox, channel: sms, countries: ["*"], capabilities: ["*"]}
  relay: {kind: smtp, channel: email, host: 127.0.0.1, port: 2525, starttls: true, sender: noreply@example.com}
routing:
  - {channel: sms, country: "*", capability: "*", weights: {anywhere: 1}}
  - {channel: sms, country: NO, capability: TEXT, weights: {telenor: 1}}
quiet_hours:
  sms: {start: "21:00", end: "08:00", countries: {NO: null}}
"""


def test_a_rule_for_norway_written_as_the_spec_writes_countries_routes_norways_messages(halo_env, halo_store, tmp_path, monkeypatch):
    """delivery.md writes countries unquoted (`country: FR`). YAML 1.1 reads an unquoted `NO` as
    false: the rule became `sms/FALSE/TEXT`, which no message matches, and Norway's SMS went
    through the catch-all provider; `countries: [NO, SE]` was refused as "not a list of strings".
    `true` and `false` still read as booleans (starttls)."""
    path = tmp_path / "providers.yaml"
    path.write_text(NORWAY)
    monkeypatch.setenv("HALO_PROVIDERS_FILE", str(path))
    config = load_config(path)
    assert [rule.key for rule in config.rules] == ["sms/*/*", "sms/NO/TEXT"]
    assert config.providers["telenor"].countries == ("NO", "SE") and config.providers["relay"].raw["starttls"] is True
    assert config.quiet_hours_for("sms", "NO") is None
    providers = ProvidersResource(providers_file=str(path))
    client = authorized_client(create_app({"store": halo_store, "providers": providers}))
    response = client.post("/v1/messages/sms", json={"to": "+4741234567", "body": "Hei", "priority": "HIGH"})
    assert response.status_code == 201, response.text
    assert response.json()["provider"] == "telenor"
    providers.close()


@pytest.mark.parametrize("text", [
    unicodedata.normalize("NFD", "ARRÊT"),  # Ê as E + combining circumflex, as some keyboards send it
    unicodedata.normalize("NFD", "arrêt"),
    "ＳＴＯＰ",  # full-width letters of an East Asian keyboard
    "ｓｔｏｐｐ",
])
def test_an_opt_out_keyword_in_another_unicode_form_suppresses(fakes, providers_file, halo_store, text):
    """delivery.md: STOP and the locale keywords (ARRET, STOPP, BERHENTI) opt the sender out.
    `ARRÊT` decomposed (E + U+0302) is the same text as the composed one, and full-width STOP
    the same word: both were answered `ignored` and the sender kept getting messages."""
    reply_suppresses(fakes, providers_file, halo_store, text)


def reply_suppresses(fakes, providers_file, halo_store, text: str) -> None:  # noqa: ANN001
    """`text` received through Twilio's inbound webhook is answered `suppressed`, and the next SMS to its sender is suppressed."""
    providers = providers_file({"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"],
                                       "sender": "+33700000000"}})
    client = authorized_client(create_app({"store": halo_store, "providers": providers}))
    form, headers = twilio_inbound("http://testserver/v1/inbound/tw", NUMBER, text)
    answer = client.post("/v1/inbound/tw", content=urlencode(form), headers={**headers, "Authorization": ""})
    assert answer.status_code == 200 and answer.json() == {"action": "suppressed"}, answer.text
    assert client.post("/v1/messages/sms", json={"to": NUMBER, "body": "reminder"}).json()["status"] == "suppressed"


@pytest.mark.parametrize(("text", "action"), [
    (unicodedata.normalize("NFD", " Arrêt\n"), "suppress"), ("ＳＴＡＲＴ", "lift"), ("STOP.", "suppress"), ("S T O P", None), ("ARRETE", None),
])
def test_keywords_are_compared_in_one_unicode_form(text, action):
    assert keyword_action(text) == action


SANDBOX = {"sb": {"kind": "sandbox", "channel": "sms", "countries": ["*"], "capabilities": ["*"]}}
ANYWHERE = [{"channel": "sms", "country": "*", "capability": "*", "weights": {"sb": 1}}]


@pytest.mark.parametrize("payload, reason", [
    ({"body": "\u200b"}, "body: must not be empty"),  # a zero-width space: nothing a person would see
    ({"body": "\ufeff \u2060"}, "body: must not be empty"),
    ({"body": "hi", "priority": "h\u0131gh"}, "priority: must be HIGH, NORMAL or LOW"),  # dotless i upper-cases to I
    ({"body": "hi", "country": "\u017ft"}, "country:"),  # long s upper-cases to S: read as ST
])
def test_invisible_bodies_and_letters_that_only_upper_case_into_ascii_are_refused(halo_store, providers_file, payload, reason):
    """delivery.md: an empty body is a 422; a body of zero-width characters was sent (202), and
    `h\u0131gh` was taken as HIGH, `\u017ft` as Sao Tome, by Unicode upper-casing."""
    client = authorized_client(create_app({"store": halo_store, "providers": providers_file(SANDBOX, ANYWHERE)}))
    response = client.post("/v1/messages/sms", json={"to": NUMBER, **payload})
    assert response.status_code == 422 and response.json()["error"].startswith(reason), response.text
    with halo_store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM messages")).scalar() == 0


def test_a_body_with_a_zero_width_character_among_visible_text_is_sent(halo_store, providers_file):
    client = authorized_client(create_app({"store": halo_store, "providers": providers_file(SANDBOX, ANYWHERE)}))
    assert client.post("/v1/messages/sms", json={"to": NUMBER, "body": "caf\u00e9\u200b ok", "priority": "high"}).status_code == 201
