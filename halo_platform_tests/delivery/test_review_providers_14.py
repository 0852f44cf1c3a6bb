"""Provider answers read as the providers mean them, against real servers (the HTTP fakes of
providers.md, aiosmtpd): each part of a long Vonage SMS, Vonage's throttle (status 1) as a
pause rather than an error, a Twilio 201 that names no message, and an SMTP connection whose
login fails."""

from __future__ import annotations

import datetime as dt
import gc
import warnings
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.delivery.autopilot import window_stats
from halo_platform.delivery.dispatch import Dispatcher
from halo_platform.delivery.providers.base import ACKNOWLEDGED, PERMANENT, RETRYABLE, THROTTLED, UNKNOWN
from halo_platform.delivery.service import enqueue_many
from halo_platform.delivery.tables import DeliveryAttempt, Message, ProviderState
from halo_platform.lab.provider_fakes import SECRETS
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


def sms_config(providers_file, fakes):  # noqa: ANN001, ANN201
    vonage = {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"], "timeout_seconds": 2}
    return providers_file({"vn": vonage}, [{"channel": "sms", "country": "*", "capability": "*", "weights": {"vn": 1}}])


def test_vonage_throttled_status_pauses_the_provider_and_is_no_error_for_the_autopilot(fakes, providers_file, halo_store):
    """Vonage answers its throttle (status 1, "Throttled") with a 200, where others answer 429.
    delivery.md: a provider's throttle pauses it without counting as a transmission error. It
    was an ordinary retryable failure: the provider was asked again at once by every
    dispatcher, and the autopilot counted each refusal as an error (a busy Vonage taken down)."""
    fakes["vonage"].set_switches(failure_rate=1.0, failure_response=(200, {}, {"message-count": "1", "messages": [
        {"to": "33612345678", "status": "1", "error-text": "Throttled"}]}))
    config = sms_config(providers_file, fakes)
    started = utcnow()
    enqueue_many("sms", [{"to": "+33612345678", "body": "see you at 9", "priority": "LOW"}], store=halo_store, providers=config)
    dispatcher = Dispatcher(config, halo_store, batch_size=10)
    try:
        dispatcher.drain(["sms"], timeout=5)
    finally:
        dispatcher.close()
    with halo_store.read() as conn:
        attempts = conn.execute(sa.select(DeliveryAttempt.outcome, DeliveryAttempt.at)).all()
        paused_until = conn.execute(sa.select(ProviderState.paused_until).where(ProviderState.provider == "vn")).scalar()
        message = conn.execute(sa.select(Message.status, Message.number_of_retries)).one()
        stats = window_stats(conn, started - dt.timedelta(seconds=1), utcnow())
    assert [outcome for outcome, _ in attempts] == [THROTTLED]
    assert paused_until is not None and 0.9 <= (paused_until - attempts[0].at).total_seconds() <= 1.5
    assert tuple(message) == ("retry_scheduled", 1)  # retried as a 429 is (a retry counted)
    assert "vn" not in stats  # neither an attempt nor an error in the autopilot's window


@pytest.mark.parametrize("sid", [None, ""])
def test_a_twilio_201_whose_sid_is_empty_is_an_unknown_outcome(sid, fakes, make_provider):
    """A 201 without a sid is unknown (the provider may send it; it is never sent elsewhere), but
    one with `"sid": null` or `""` was taken as acknowledged with no id: `sent`, and no status
    callback could ever find the message."""
    fakes["twilio"].set_switches(failure_rate=1.0, failure_response=(201, {}, {"sid": sid, "status": "queued"}))
    result = make_provider("twilio", fakes["twilio"]).send(outgoing("sms"))
    assert result.outcome == UNKNOWN, result.detail
    assert result.provider_message_id is None


def unclosed_sockets_to(port: int, call: Callable[[], object]) -> tuple[object, list[str]]:
    """What `call()` returned, and the `unclosed socket` warnings, for sockets to `port`, of what
    it left to the garbage collector."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        returned = call()
        gc.collect()
    return returned, [str(w.message) for w in caught if issubclass(w.category, ResourceWarning) and f"raddr=('127.0.0.1', {port})" in str(w.message)]


def test_an_smtp_connection_whose_login_fails_is_closed(smtp_server, make_provider):
    """A relay refusing our login (535) kept its connection open (a socket held by a reference
    cycle of smtplib's exception until the garbage collector ran): every send and every
    autopilot health ping of a misconfigured relay held one more connection on the relay."""
    provider = make_provider("smtp", smtp_server, host="127.0.0.1", port=smtp_server.port, username=smtp_server.username,
                             password="wrong", timeout_seconds=3.0)
    result, leaked = unclosed_sockets_to(smtp_server.port, lambda: provider.send(outgoing("email")))
    assert result.outcome == RETRYABLE and "login refused (535)" in result.detail
    assert leaked == []
    healthy, leaked = unclosed_sockets_to(smtp_server.port, provider.health)
    assert healthy is False
    assert leaked == []
    assert {ok for _, ok in smtp_server.auth_attempts.snapshot()} == {False}
