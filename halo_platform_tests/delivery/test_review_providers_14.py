"""Provider answers read as the providers mean them, against real servers (the HTTP fakes of
providers.md, aiosmtpd): each part of a long Vonage SMS, Vonage's throttle (status 1) as a
pause rather than an error, a Twilio 201 that names no message, and an SMTP connection whose
login fails."""

from __future__ import annotations

import pytest

from halo_platform.delivery.providers.base import ACKNOWLEDGED, PERMANENT, RETRYABLE
from halo_platform_tests.delivery.conftest import outgoing

LONG_TEXT = "Your appointment on Monday at 9:00 is confirmed. " * 5  # 250 GSM-7 characters: two parts


def vonage_parts(*statuses: str) -> dict:
    """Vonage's answer to a text sent in one part per status (providers.md: one entry per part)."""
    return {"message-count": str(len(statuses)), "messages": [
        {"to": "33612345678", "status": status, **({"message-id": f"1A0000000000000{i}"} if status == "0" else {"error-text": f"refused ({status})"})}
        for i, status in enumerate(statuses)]}


@pytest.mark.parametrize(("statuses", "outcome"), [
    (("0", "5"), PERMANENT),  # the first part went out: a retry would send it again
    (("5", "0"), PERMANENT),
    (("0", "0", "6"), PERMANENT),
    (("5", "5"), RETRYABLE),  # no part went out: safe to try again
    (("6", "6"), PERMANENT),
    (("0", "0"), ACKNOWLEDGED),
])
def test_a_long_vonage_sms_is_acknowledged_only_when_every_part_is(statuses, outcome, fakes, make_provider):
    """A long text goes out in parts, each with its own status. Only the first was read: a
    later part refused left the message `sent` while the recipient got part of it, unnoticed.
    A text taken in part is a provider error, never re-sent (its taken parts would go out twice)."""
    fakes["vonage"].set_switches(failure_rate=1.0, failure_response=(200, {}, vonage_parts(*statuses)))
    result = make_provider("vonage", fakes["vonage"]).send(outgoing("sms", body=LONG_TEXT))
    assert result.outcome == outcome, result.detail
    if outcome == ACKNOWLEDGED:
        assert result.provider_message_id == "1A00000000000000"
    else:
        refused = [i for i, s in enumerate(statuses) if s != "0"]
        assert f"part {refused[0] + 1} of {len(statuses)}" in result.detail
        assert f"refused ({statuses[refused[0]]})" in result.detail
