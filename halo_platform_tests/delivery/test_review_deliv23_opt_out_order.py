"""Opt-out webhooks arriving out of order, against the real Twilio and Vonage fakes: the newest
STOP or START by the provider's time of the message wins (Vonage's `message-timestamp`); where
the payload carries no time (Twilio's incoming-message webhook) the time we received it stands
for it, so the later arrival wins. A STOP Vonage delivers late, after the recipient's newer
START, lifts nothing back into place; a late START never lifts a newer STOP."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from halo_platform.delivery.suppressions import changes_t
from halo_platform.lab.provider_fakes import twilio_inbound, vonage_inbound
from halo_platform_tests.delivery.test_opt_out import BASE, GERMAN, setup, sms  # noqa: F401 (the fixture)


@pytest.fixture
def platform(setup):  # noqa: ANN001, ANN201, F811 (test_opt_out's: the API over the Twilio and Vonage fakes)
    return setup


def vonage(client, text: str, said: str):  # noqa: ANN001, ANN201
    """Vonage's signed inbound webhook from GERMAN, sent (and signed) now, of a message Vonage took at `said`."""
    answer = client.post("/v1/inbound/vo", data=vonage_inbound(GERMAN, text, "sigsecret", message_timestamp=said))
    assert answer.status_code == 200, answer.text
    return answer.json()["action"]


def twilio(client, text: str):  # noqa: ANN001, ANN201
    form, headers = twilio_inbound(f"{BASE}/v1/inbound/tw", GERMAN, text)
    answer = client.post("/v1/inbound/tw", content=urlencode(form), headers={**headers, "Authorization": ""})
    assert answer.status_code == 200, answer.text
    return answer.json()["action"]


def minutes_ago(minutes: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")


def test_an_older_stop_delivered_after_a_newer_start_does_not_suppress_again(platform):
    client, _providers, _store = platform
    assert vonage(client, "STOP", minutes_ago(30)) == "suppressed"
    assert vonage(client, "START", minutes_ago(5)) == "lifted"
    # Vonage retried an earlier STOP (another message of the recipient's, said 20 minutes ago) only now
    assert vonage(client, "STOP", minutes_ago(20)) == "outdated"
    assert sms(client, GERMAN)["status"] == "queued"


def test_an_older_start_delivered_after_a_newer_stop_lifts_nothing(platform):
    client, _providers, _store = platform
    assert vonage(client, "STOP", minutes_ago(5)) == "suppressed"
    assert vonage(client, "START", minutes_ago(20)) == "outdated"
    assert sms(client, GERMAN)["status"] == "suppressed"


def test_in_order_and_equal_times_the_later_arrival_wins(platform):
    client, _providers, _store = platform
    same = minutes_ago(3)
    assert vonage(client, "STOP", same) == "suppressed"
    assert vonage(client, "START", same) == "lifted"
    assert vonage(client, "STOP", minutes_ago(1)) == "suppressed"
    assert sms(client, GERMAN)["status"] == "suppressed"


def test_twilio_carries_no_time_so_its_arrival_is_newer_than_any_earlier_message(platform):
    client, _providers, _store = platform
    assert vonage(client, "STOP", minutes_ago(2)) == "suppressed"
    assert twilio(client, "START") == "lifted"
    assert twilio(client, "stop.") == "suppressed"
    assert sms(client, GERMAN)["status"] == "suppressed"


def test_a_provider_time_ahead_of_ours_counts_as_now_and_does_not_pin_the_state(platform):
    """A Vonage clock ahead of ours (or a signed typo) must not make its STOP newer than
    the recipient's next START for an hour."""
    client, _providers, _store = platform
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert vonage(client, "STOP", ahead) == "suppressed"
    assert twilio(client, "START") == "lifted"
    assert sms(client, GERMAN)["status"] == "queued"


def test_twilio_stop_and_start_racing_end_as_the_later_arrival_says(platform):
    """Twilio's incoming-message webhook carries nothing that orders two messages of one sender
    (MessageSid is random, no time is sent or signed; providers.md describes no inbound field):
    a START the recipient sent before their STOP but delivered after it (a webhook retried, two
    deliveries racing) lifts the STOP. Pinned as the rule that stands: the later arrival wins;
    Vonage's `message-timestamp` orders its own messages (the tests above)."""
    client, _providers, _store = platform
    assert twilio(client, "STOP") == "suppressed"
    assert twilio(client, "START") == "lifted"  # sent first, arrived second
    assert sms(client, GERMAN)["status"] == "queued"
    assert twilio(client, "START") == "ignored"  # and the other way round: the STOP arriving last stands
    assert twilio(client, "STOP") == "suppressed"
    assert sms(client, GERMAN)["status"] == "suppressed"


@pytest.mark.parametrize("said", ["", "yesterday", "2026-13-45 99:99:99", "9" * 40, "2026-12-01T10:00:00+05:00x"])
def test_an_unreadable_provider_time_is_taken_as_our_receipt_never_a_500(platform, said):
    client, _providers, _store = platform
    assert vonage(client, "STOP", minutes_ago(10)) == "suppressed"
    assert vonage(client, "START", said) == "lifted"  # received now: newer than the STOP said 10 minutes ago
    assert sms(client, GERMAN)["status"] == "queued"


def test_an_outdated_message_adds_no_change_to_the_history(platform):
    client, _providers, store = platform
    vonage(client, "STOP", minutes_ago(60))
    vonage(client, "START", minutes_ago(1))
    vonage(client, "STOP", minutes_ago(30))
    with store.read() as conn:
        rows = conn.execute(sa.select(changes_t.c.change, changes_t.c.changed_by).order_by(changes_t.c.id)).all()
    assert [tuple(r) for r in rows] == [("added", "inbound:vo"), ("lifted", "inbound:vo")]
