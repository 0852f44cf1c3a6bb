"""Delivery review 15: an opt-out keyword with punctuation around it, SMS bodies counted in
segments only, quiet hours of a number of several zones, and the fallback email's quiet hours."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from halo_platform.delivery.fallback import send_fallbacks
from halo_platform.delivery.queue import messages_t
from halo_platform.delivery.quiet_hours import QuietHours, quiet_until
from halo_platform.delivery.service import message_view, submit
from halo_platform.delivery.suppressions import keyword_action
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.delivery.test_spec_review_3 import reply_suppresses
from halo_platform_tests.fixtures.access import authorized_client

NUMBER = "+33612345678"


@pytest.mark.parametrize("text", ["STOP.", "Stop!", "stop!!!", " STOP. ", "\"STOP\"", "¡Stop!", "ARRÊT !", "(stopp)", "Berhenti."])
def test_an_opt_out_keyword_with_punctuation_around_it_suppresses(fakes, providers_file, halo_store, text):
    """delivery.md: STOP (and ARRET, STOPP, BERHENTI) received through the inbound webhook opts the
    sender out. A phone that ends a reply with a full stop (`Stop.`), or a patient who writes
    `STOP!`, sends the keyword and nothing else: it was answered `ignored` and the sender kept
    getting reminders. Punctuation and spaces around the word are not part of it."""
    reply_suppresses(fakes, providers_file, halo_store, text)

@pytest.mark.parametrize(("text", "action"), [
    ("Start!", "lift"), ("START.", "lift"), ("STOP PLEASE", None), ("S.T.O.P", None), ("STOP-ALL", None),
    ("...", None), ("", None),
])
def test_only_the_keyword_itself_counts_punctuation_around_it_aside(text, action):
    """The message must still be the keyword alone: words or punctuation inside it, or another
    word, are not a keyword."""
    assert keyword_action(text) == action


@pytest.mark.parametrize(("text", "action"), [
    ("STOP 🛑", "suppress"), ("🛑 Stop", "suppress"), ("Stop 👍🏽", "suppress"), ("STOP ✋️", "suppress"),
    ("stop stop", "suppress"), ("STOP STOP STOP", "suppress"), ("Start 👍", "lift"), ("START START", "lift"),
    ("🛑", None), ("STOP 🛑 PLEASE", None), ("STOP START", None), ("STOP STOP PLEASE", None),
])
def test_an_opt_out_keyword_with_an_emoji_or_said_twice_is_the_keyword(text, action):
    """A patient who answers `STOP 🛑` or `stop stop` asks for the same thing as `STOP`: both were
    `ignored` (an emoji is a symbol, not punctuation; two words were not a keyword) and the
    reminders kept coming. Symbols around the keyword (an emoji with its skin tone or variation
    selector) are not part of it, and one keyword said several times is that keyword; other
    words still make the message no keyword."""
    assert keyword_action(text) == action


@pytest.mark.parametrize("text", ["STOP 🛑", "Stop stop"])
def test_an_inbound_stop_with_an_emoji_or_said_twice_suppresses(fakes, providers_file, halo_store, text):
    reply_suppresses(fakes, providers_file, halo_store, text)


@pytest.mark.parametrize(("body", "segments", "too_long"), [("x" * 1700, 12, "x" * 3061), ("x" * 3060, 20, "x" * 3061), ("ç" * 1340, 20, "ç" * 1341)])
def test_an_sms_body_within_the_files_max_segments_is_taken_however_many_characters(providers_file, halo_store, body, segments, too_long):
    """delivery.md: `max_segments` per channel refuses longer bodies with 422. With
    `max_segments: {sms: 20}` a body of 1,700 GSM-7 characters is 12 segments and must go: it
    was refused 'body: too long (1700 characters, at most 1600)', a cap of its own that the
    providers file could not raise and that no segment count explains."""
    providers = providers_file({"sms": {"kind": "sandbox", "channel": "sms"}}, max_segments={"sms": 20})
    client = authorized_client(create_app({"store": halo_store, "providers": providers}))
    queued = client.post("/v1/messages/sms", json={"to": NUMBER, "body": body})
    assert queued.status_code == 202, queued.text
    assert client.get(f"/v1/messages/{queued.json()['id']}").json()["segments"] == segments
    refused = client.post("/v1/messages/sms", json={"to": NUMBER, "body": too_long})
    assert refused.status_code == 422 and refused.json()["error"].startswith("body: too long (21 segments, at most 20)"), refused.text


@pytest.mark.parametrize(("body", "segments"), [("x" * 1601, 11), ("😀" * 1601, 49), ("€" * 2000, 27)])
def test_a_long_sms_body_is_refused_naming_its_segments(providers_file, halo_store, body, segments):
    """A body over `max_segments` (6 by default) gets a 422 naming the field with its counted
    segments, however long it is: past 1,600 characters the answer was a character count
    ('1601 characters, at most 1600') that says nothing of the rule the sender must meet."""
    providers = providers_file({"sms": {"kind": "sandbox", "channel": "sms"}})
    client = authorized_client(create_app({"store": halo_store, "providers": providers}))
    refused = client.post("/v1/messages/sms", json={"to": NUMBER, "body": body})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"].startswith(f"body: too long ({segments} segments, at most 6)"), refused.text


@pytest.mark.parametrize(("to", "timezone", "due"), [
    # a mobile names every zone of +7: it may be in Kamchatka (00:00) as in Kaliningrad (14:00); the
    # first instant outside 21:00-08:00 in each of Russia's zones is 08:00 in Kaliningrad (06:00 UTC)
    ("+79161234567", None, dt.datetime(2026, 12, 3, 6, 0, tzinfo=dt.UTC)),
    ("+74232123456", None, dt.datetime(2026, 12, 2, 22, 0, tzinfo=dt.UTC)),  # a Vladivostok line: 08:00 there
    ("+79161234567", "Europe/Moscow", None),  # 15:00 where the sender says the recipient is
])
def test_a_number_of_a_country_of_several_zones_waits_for_the_end_of_the_quiet_hours_in_each(fakes, providers_file, halo_store, to,
                                                                                             timezone, due):
    """delivery.md: a NORMAL/LOW message due inside the recipient's local quiet hours waits until
    they end. A Russian mobile tells no zone, and Russia's was its first in zone.tab, Kaliningrad
    (UTC+2): at 12:00 UTC, midnight in Kamchatka and 22:00 in Vladivostok, a LOW SMS to a number
    that may be there went out at once. Not knowing which of its country's zones the recipient is
    in, the message waits until none of them is inside its quiet hours."""
    providers = providers_file(
        {"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"}},
        quiet_hours={"sms": {"start": "21:00", "end": "08:00"}},
    )
    noon_utc = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
    low = submit("sms", {"to": to, "body": "your parcel arrives today", "priority": "LOW", "timezone": timezone}, store=halo_store,
                 providers=providers, clock=lambda: noon_utc)[0]
    drain(providers, halo_store, clock=lambda: noon_utc)
    if due is None:
        assert message_view(low["id"], halo_store)["status"] == "sent"
        return
    assert list(fakes["twilio"].accepted) == []
    assert f"quiet hours until {due:%Y-%m-%dT%H:%M:%SZ}" in message_view(low["id"], halo_store)["events"][0]["detail"]
    drain(providers, halo_store, clock=lambda: due)
    assert message_view(low["id"], halo_store)["status"] == "sent"


def test_zones_whose_quiet_hours_leave_no_common_hour_hold_a_message_until_the_current_ones_end():
    """Quiet hours 18:00-09:00 (15 h) in zones 10 h apart leave no instant outside all of them: the
    search stops (no endless loop) at the end of the quiet hours holding at `now`."""
    kaliningrad, kamchatka = ZoneInfo("Europe/Kaliningrad"), ZoneInfo("Asia/Kamchatka")
    now = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)  # 14:00 in Kaliningrad, 00:00 in Kamchatka
    window = QuietHours(dt.time(18), dt.time(9))
    assert quiet_until(now, window, (kaliningrad, kamchatka)) == dt.datetime(2026, 12, 2, 21, 0, tzinfo=dt.UTC)  # 09:00 in Kamchatka
    assert quiet_until(now, window, ()) is None


@pytest.mark.parametrize(("timezone", "zone"), [(None, "Europe/Paris"), ("America/New_York", "America/New_York")])
def test_the_fallback_email_keeps_the_quiet_hours_of_the_sms_recipient(fakes, providers_file, halo_store, timezone, zone):
    """delivery.md: quiet hours per channel, in the recipient's local time (from the country, or
    the message's `timezone`). The fallback email of a French SMS was submitted without the SMS's
    country or timezone: nothing told its zone, so it had no quiet hours at all and went out in
    the middle of the recipient's night (and no per-country rule of email could route it). It
    carries the SMS's country and the zone its recipient is known to be in."""
    local = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(zone))
    window = {"start": f"{local - dt.timedelta(hours=1):%H:%M}", "end": f"{local + dt.timedelta(hours=1):%H:%M}"}
    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "sg": {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"], "sender": "noreply@example.com"},
    }, quiet_hours={"email": window})
    sms, _ = submit("sms", {"to": "+33612340000", "body": "Tomorrow 10:00, room 4", "priority": "LOW", "timezone": timezone,  # refused: 21211
                            "fallback": {"channel": "email", "to": "ada@example.com", "subject": "Your appointment"}},
                    store=halo_store, providers=providers)
    drain(providers, halo_store)
    assert message_view(sms["id"], halo_store)["status"] == "provider_error"
    (email_id,) = send_fallbacks(halo_store, providers)["made"]
    drain(providers, halo_store, "email")
    assert list(fakes["sendgrid"].accepted) == []
    email = message_view(email_id, halo_store)
    assert (email["status"], email["fallback_of"]) == ("queued", sms["id"])
    assert "quiet hours until" in email["events"][0]["detail"], email["events"]
    with halo_store.read() as conn:
        stored = conn.execute(sa.select(messages_t.c.country, messages_t.c.timezone).where(messages_t.c.id == email_id)).one()
    assert tuple(stored) == ("FR", zone)
