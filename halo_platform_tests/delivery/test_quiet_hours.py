"""Quiet hours with a test clock, against the real Twilio fake: a LOW message due inside the
recipient's local quiet hours waits (deferred, not dropped) and is sent when they end; HIGH is
sent at once; `expires_at` wins; the zone comes from the `timezone` field, else the number
(phonenumbers tells Los Angeles from New York), else the country; per-country overrides."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from halo_platform.core.errors import HaloError
from halo_platform.delivery.config import parse_config
from halo_platform.delivery.quiet_hours import QuietHours, quiet_until, recipient_zones
from halo_platform.delivery.service import due_at, message_view, submit
from halo_platform.delivery.validation import validate
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain

UTC = dt.UTC
NIGHT_IN_PARIS = dt.datetime(2026, 12, 1, 22, 0, tzinfo=UTC)  # 23:00 in Paris
QUIET_ENDS = dt.datetime(2026, 12, 2, 7, 0, tzinfo=UTC)  # 08:00 in Paris


@pytest.fixture
def setup(fakes, providers_file, halo_store):  # noqa: ANN001, ANN201
    providers = providers_file(
        {"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"}},
        quiet_hours={"sms": {"start": "21:00", "end": "08:00", "countries": {"DE": None}}},
    )
    return providers, halo_store


def at(moment: dt.datetime):  # noqa: ANN201
    return lambda: moment



def send(providers, store, moment: dt.datetime, **fields) -> dict:  # noqa: ANN001, ANN003
    payload = {"to": "+33612345678", "body": "your appointment is tomorrow", "priority": "LOW", **fields}
    return submit("sms", payload, store=store, providers=providers, clock=at(moment))[0]


def test_a_low_due_inside_quiet_hours_is_sent_when_they_end_and_not_before(setup, fakes):
    providers, store = setup
    low = send(providers, store, NIGHT_IN_PARIS)
    assert low["status"] == "queued"
    drain(providers, store, clock=at(QUIET_ENDS - dt.timedelta(seconds=1)))
    assert list(fakes["twilio"].accepted) == []
    drain(providers, store, clock=at(QUIET_ENDS))
    assert [a["to"] for a in fakes["twilio"].accepted] == ["+33612345678"]
    view = message_view(low["id"], store)
    assert view["status"] == "sent"
    assert view["events"][0]["detail"] == "LOW; quiet hours until 2026-12-02T07:00:00Z"


def test_a_high_is_not_deferred(setup, fakes):
    providers, store = setup
    assert send(providers, store, NIGHT_IN_PARIS, priority="HIGH")["status"] == "sent"
    assert len(fakes["twilio"].accepted) == 1


def test_expires_at_wins_over_the_wait(setup, fakes):
    providers, store = setup
    expires = QUIET_ENDS - dt.timedelta(hours=1)
    low = send(providers, store, NIGHT_IN_PARIS, expires_at=expires.isoformat())
    drain(providers, store, clock=at(expires + dt.timedelta(seconds=1)))
    assert message_view(low["id"], store)["status"] == "expired"
    assert list(fakes["twilio"].accepted) == []


def test_the_timezone_field_and_country_overrides_decide(setup):
    providers, store = setup
    config = providers.config()
    new_york = validate("sms", {"to": "+33612345678", "body": "b", "priority": "LOW", "timezone": "America/New_York"}, config)
    assert due_at(new_york, NIGHT_IN_PARIS, config) == NIGHT_IN_PARIS  # 17:00 there
    german = validate("sms", {"to": "+4915112345678", "body": "b", "priority": "LOW"}, config)
    assert due_at(german, NIGHT_IN_PARIS, config) == NIGHT_IN_PARIS  # DE: no quiet hours
    with pytest.raises(HaloError, match="timezone"):
        validate("sms", {"to": "+33612345678", "body": "b", "timezone": "Mars/Olympus"}, config)


def test_the_number_tells_the_zone_where_a_country_spans_several():
    evening_in_la = dt.datetime(2026, 12, 2, 4, 30, tzinfo=UTC)  # 20:30 in Los Angeles, 23:30 in New York
    window = QuietHours(dt.time(21), dt.time(8))
    la = recipient_zones("sms", "+12135551234", "US", None)
    ny = recipient_zones("sms", "+12125551234", "US", None)
    assert (la, ny) == ((ZoneInfo("America/Los_Angeles"),), (ZoneInfo("America/New_York"),))
    assert quiet_until(evening_in_la, window, la) is None
    assert quiet_until(evening_in_la, window, ny) == dt.datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    assert recipient_zones("email", "ada@example.com", "FR", None) == (ZoneInfo("Europe/Paris"),)
    assert recipient_zones("push", "device_token_1", None, None) == ()


@pytest.mark.parametrize(
    ("local", "start", "end", "until"),
    [
        ("2026-12-01T23:00", "21:00", "08:00", "2026-12-02T08:00"),
        ("2026-12-02T07:59", "21:00", "08:00", "2026-12-02T08:00"),
        ("2026-12-02T08:00", "21:00", "08:00", None),
        ("2026-12-01T20:59", "21:00", "08:00", None),
        ("2026-12-01T21:00", "21:00", "08:00", "2026-12-02T08:00"),
        ("2026-12-01T13:00", "12:00", "14:00", "2026-12-01T14:00"),
        ("2026-12-01T14:00", "12:00", "14:00", None),
        ("2026-03-29T01:30", "22:00", "02:30", "2026-03-29T03:30"),  # 02:30 does not exist that night: the clock jumps to 03:00 (+30 min)
    ],
)
def test_quiet_until_in_local_time(local, start, end, until):
    paris = ZoneInfo("Europe/Paris")
    now = dt.datetime.fromisoformat(local).replace(tzinfo=paris)
    window = QuietHours(dt.time.fromisoformat(start), dt.time.fromisoformat(end))
    got = quiet_until(now.astimezone(UTC), window, (paris,))
    assert (got.astimezone(paris).strftime("%Y-%m-%dT%H:%M") if got else None) == until


@pytest.mark.parametrize("bad", [{"sms": {"start": "21:00"}}, {"sms": {"start": "25:00", "end": "08:00"}}, {"fax": {"start": "21:00", "end": "08:00"}},
                                 {"sms": {"start": "21:00", "end": "21:00"}}, {"sms": {"countries": ["FR"]}}])
def test_bad_quiet_hours_are_a_configuration_error(bad):
    with pytest.raises(HaloError, match="quiet_hours"):
        parse_config({"providers": {}, "quiet_hours": bad})


def test_a_backlog_that_becomes_due_inside_quiet_hours_waits_for_their_end(setup, fakes):
    """Submitted in the day, still queued at night (a backlog, or a retry due then): the
    dispatcher holds it too, not only the submission."""
    providers, store = setup
    low = send(providers, store, NIGHT_IN_PARIS - dt.timedelta(hours=3))  # 20:00 in Paris: due at once
    assert low["status"] == "queued"
    drain(providers, store, clock=at(NIGHT_IN_PARIS))
    assert list(fakes["twilio"].accepted) == []
    assert message_view(low["id"], store)["status"] == "queued"
    drain(providers, store, clock=at(QUIET_ENDS - dt.timedelta(seconds=1)))  # held until their end, not only skipped once
    assert list(fakes["twilio"].accepted) == []
    drain(providers, store, clock=at(QUIET_ENDS))
    assert [a["to"] for a in fakes["twilio"].accepted] == ["+33612345678"]
    assert message_view(low["id"], store)["status"] == "sent"


def test_the_dispatcher_uses_the_time_zone_the_message_was_sent_with(setup, fakes):
    providers, store = setup
    evening = dt.datetime(2026, 12, 1, 21, 30, tzinfo=UTC)  # 22:30 in Paris (quiet), 16:30 in New York
    low = send(providers, store, evening - dt.timedelta(hours=4), timezone="America/New_York")
    drain(providers, store, clock=at(evening))
    assert [a["to"] for a in fakes["twilio"].accepted] == ["+33612345678"]
    assert message_view(low["id"], store)["status"] == "sent"
