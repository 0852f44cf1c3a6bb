"""Provider callbacks and inbound messages as a hostile or sloppy provider sends them (review 19).

Pinned here: a signed inbound STOP whose keyword had spaces or punctuation around it on another
line (`STOP` and a signature line of dashes), a tab, a long run of `!`, or an invisible format
character (a zero-width space) was answered `ignored` and the sender kept getting messages: the
suppression's reason was the raw text, which a reason (one line, 255 characters) refused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from halo_platform.delivery.tables import Suppression
from halo_platform.lab.provider_fakes import vonage_inbound
from halo_platform_tests.delivery.test_opt_out import GERMAN, NUMBER, setup, sms, stop_by_twilio  # noqa: F401


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
