"""Slots whose duration and buffers reach days past the asked range: `bookable_slots` (REST
/v1/slots, GraphQL `slots`, FHIR) read the spans of one day either side of it only, and missed
slots that `nextAvailable` finds. The answer equals a brute-force search over every stored span.

Europe/Paris springs forward on Sunday 2027-03-28 (a 23-hour day). M is free around the clock
(00:00-24:00 every day, spans dated by their local day); N from noon to noon (each day's span
runs into the next day)."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from halo_platform.availability import pipeline
from halo_platform.availability.service import bookable_slots, refresh_next_slots, slot_rules, spans
from halo_platform.availability.tables import NextAvailableSlot
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.fixtures.access import authorized_client

PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2027, 3, 15, tzinfo=dt.UTC)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def hours(provider: str, start: str, end: str) -> str:
    week = ",".join(f'"{d}":[["{start}","{end}"]]' for d in DAYS)
    return f'{{"type":"hours","provider":"{provider}","tz":"Europe/Paris","week":{{{week}}},"updated_at":"2026-11-01T00:00:00Z"}}\n'


def booking(ident: str, provider: str, start: str) -> str:
    return (f'{{"type":"appointment","action":"upsert","id":"{ident}","provider":"{provider}","start":"{start}",'
            '"duration_min":60,"tz":"Europe/Paris","status":"booked","updated_at":"2026-11-20T10:00:00Z"}\n')


@pytest.fixture
def calendars(store, halo_env, tmp_path, monkeypatch):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  acme:\n    format: acme\n    slot_rules:\n"
                     "      default: {alignment_minutes: 30, max_days_ahead: 366}\n"
                     "      types:\n"
                     "        long_after: {duration_minutes: 1440, buffer_after: 600, alignment_minutes: 60}\n"
                     "        long_before: {duration_minutes: 30, buffer_before: 1440}\n"
                     "        longest: {duration_minutes: 1440, buffer_after: 1440}\n"
                     "        horizon: {duration_minutes: 1440, min_notice_minutes: 20130, alignment_minutes: 60}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    land("acme", "hours.jsonl", hours("M", "00:00", "24:00") + hours("N", "12:00", "12:00"))
    land("acme", "bookings.jsonl", booking("B1", "M", "2027-03-26T06:00:00") + booking("B2", "N", "2027-03-23T03:00:00")
         + booking("B3", "M", "2027-03-30T00:30:00"))
    process(store, "2027-03-16", 24)


def brute_force(store, provider: str, slot_type: str, first: dt.date, last: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """Every minute of the local days [first, last] tried as a start against the provider's
    whole span list, touching spans joined."""
    rules = slot_rules("acme", provider, slot_type)
    free: list[list[dt.datetime]] = []
    for span in spans(store, "acme", provider):
        if free and span.start_at <= free[-1][1]:
            free[-1][1] = max(free[-1][1], span.end_at)
        else:
            free.append([span.start_at, span.end_at])
    found = []
    start = dt.datetime.combine(first, dt.time(), tzinfo=PARIS).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=PARIS).astimezone(dt.UTC)
    while start < end:
        local = start.astimezone(PARIS)
        lo, hi = (start - dt.timedelta(minutes=rules.buffer_before),
                  start + dt.timedelta(minutes=rules.duration_minutes + rules.buffer_after))
        if (local.hour * 60 + local.minute) % rules.alignment_minutes == 0 and any(s <= lo and hi <= e for s, e in free):
            found.append((start, start + dt.timedelta(minutes=rules.duration_minutes)))
        start += dt.timedelta(minutes=1)
    return found


# (provider, type, first, last, a local start that needs a span more than a day past the range)
CASES = [
    # 20:00 + 24 h + 10 h after: free until 2027-03-26 06:00, a span of `last` + 2 (booked from 06:00)
    pytest.param("M", "long_after", "2027-03-24", "2027-03-24", "2027-03-24T20:00", id="duration-and-buffer-after-past-last"),
    # 11:30 - 24 h: 2027-03-23 11:30, inside the noon-to-noon span of `first` - 2
    pytest.param("N", "long_before", "2027-03-24", "2027-03-24", "2027-03-24T11:30", id="buffer-before-before-first"),
    # 00:30 CEST - 24 h across the 23-hour day: 2027-03-27 23:30 CET, a span of `first` - 2
    pytest.param("M", "long_before", "2027-03-29", "2027-03-29", "2027-03-29T00:30", id="buffer-before-across-dst"),
    # 23:30 CET + 48 h across the 23-hour day: 2027-03-30 00:30 CEST, a span of `last` + 3
    pytest.param("M", "longest", "2027-03-26", "2027-03-27", "2027-03-27T23:30", id="duration-and-buffer-after-across-dst"),
]


@pytest.mark.parametrize("provider, slot_type, first, last, reaching", CASES)
def test_slots_are_found_whatever_their_buffers_reach(store, calendars, provider, slot_type, first, last, reaching):
    first, last = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    expected = brute_force(store, provider, slot_type, first, last)
    assert dt.datetime.fromisoformat(reaching).replace(tzinfo=PARIS) in [s for s, _ in expected]
    assert bookable_slots(store, "acme", provider, slot_type, first, last, NOW).slots == expected


def test_rest_slots_reach_past_the_range(store, calendars, monkeypatch):
    monkeypatch.setattr(pipeline, "utcnow", lambda: NOW)
    client = authorized_client(create_app({"store": store}), "availability:read")
    body = client.get("/v1/slots", params={"feed": "acme", "provider_id": "M", "type": "long_after",
                                           "from": "2027-03-24", "to": "2027-03-24"}).json()
    expected = brute_force(store, "M", "long_after", dt.date(2027, 3, 24), dt.date(2027, 3, 24))
    assert [(s["start_at"], s["end_at"]) for s in body["slots"]] == [
        (s.strftime("%Y-%m-%dT%H:%M:%SZ"), e.strftime("%Y-%m-%dT%H:%M:%SZ")) for s, e in expected]


def test_the_next_slot_table_holds_a_slot_starting_inside_its_two_weeks_and_ending_past_them(store, calendars):
    """`refresh_next_slots` read the spans starting within two weeks of now only: N's first
    `horizon` slot (14 days' notice less 30 minutes, 24 hours long) starts inside them and needs
    N's span starting after them, and N had no next slot. M's first starts past the two weeks
    (B3 books 00:30-01:30 that night): none, as before."""
    now = dt.datetime(2027, 3, 15, 23, 30, tzinfo=dt.UTC)
    refresh_next_slots(store, "acme", now)
    with store.read() as conn:
        rows = conn.execute(sa.select(NextAvailableSlot.provider_id, NextAvailableSlot.start_at, NextAvailableSlot.end_at)
                            .where(NextAvailableSlot.slot_type == "horizon").order_by(NextAvailableSlot.provider_id)).all()
    assert rows == [("N", dt.datetime(2027, 3, 29, 23, tzinfo=dt.UTC), dt.datetime(2027, 3, 30, 23, tzinfo=dt.UTC))]
