"""EMR availability review 9: time zones and DST. NZ (Pacific/Auckland, +12:00/+13:00) and LA
(America/Los_Angeles, -08:00/-07:00) both work 09:00-17:00 every day: NZ's morning is LA's
afternoon of the day before, the only time both work. Schedule S lists NZ then LA, Schedule T
LA then NZ."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from halo_platform.availability.tables import NextAvailableSlot
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.availability.test_review_emr_6 import role, schedule
from halo_platform_tests.fixtures.access import authorized_client

NINE_TO_FIVE = '"availableStartTime":"09:00:00","availableEndTime":"17:00:00"'
FEEDS = "feeds:\n  fhir:\n    format: fhir\n    slot_rules: {default: {duration_minutes: 60, alignment_minutes: 60}}\n"
NZ, LA = ZoneInfo("Pacific/Auckland"), ZoneInfo("America/Los_Angeles")


def at(day: dt.date, hour: int, zone: ZoneInfo) -> str:
    """`hour`:00 of local `day` in `zone`, as the API writes instants."""
    return dt.datetime.combine(day, dt.time(hour), tzinfo=zone).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def day(halo_env, store, tmp_path, monkeypatch) -> dt.date:  # noqa: ANN001
    """Ten days from today, processed from a week before it for 16 days."""
    (tmp_path / "feeds.yaml").write_text(FEEDS)
    monkeypatch.setenv("HALO_FEEDS_FILE", str(tmp_path / "feeds.yaml"))
    land("fhir", "resources.ndjson", "\n".join([role("NZ", "Pacific/Auckland", NINE_TO_FIVE), role("LA", "America/Los_Angeles", NINE_TO_FIVE),
                                                 schedule("S", "NZ", "LA"), schedule("T", "LA", "NZ")]) + "\n")
    ten_days = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=10)
    process(store, (ten_days - dt.timedelta(days=7)).isoformat(), 16)
    return ten_days


@pytest.fixture
def client(store):  # noqa: ANN001, ANN201
    return authorized_client(create_app({"store": store}), "availability:read")


def _group(client, mode: str, ids: str, first: dt.date, last: dt.date) -> list[tuple]:  # noqa: ANN001
    body = client.get("/v1/availability/group", params={"feed": "fhir", "provider_ids": ids, "mode": mode,
                                                        "from": first.isoformat(), "to": last.isoformat()}).json()
    return [(s["start_at"], s["end_at"], s["provider_ids"]) for s in body["spans"]]


def _fhir_starts(client, sid: str, day: dt.date) -> list[str]:  # noqa: ANN001
    body = client.get("/fhir/Slot", params={"schedule": f"Schedule/{sid}", "start": f"eq{day}"}).json()
    return [e["resource"]["start"] for e in body["entry"]]


@pytest.mark.parametrize("ids", ["NZ,LA", "LA,NZ"])
def test_group_all_of_providers_across_the_date_line_has_the_time_both_are_free(client, day, ids):
    """Each provider's free time was clipped to its own local dates before the intersection: NZ's
    day D and LA's day D share three hours (in January 08:00Z-11:00Z), when one of them is asleep,
    so `all` for D answered nothing, while the FHIR Schedules of the same two answered five hours
    of slots on D (S on NZ's date, T on LA's), and a week lost the time at one end. `all` now
    answers when every one is free at an instant on a date of the range for at least one of them."""
    before, after = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
    nz_day = [(at(day, 9, NZ), at(before, 17, LA), ["LA", "NZ"])]  # NZ's D morning, LA's D-1 afternoon
    la_day = [(at(after, 9, NZ), at(day, 17, LA), ["LA", "NZ"])]  # LA's D afternoon, NZ's D+1 morning
    assert _group(client, "all", ids, day, day) == nz_day + la_day
    assert _fhir_starts(client, "S", day)[0] == nz_day[0][0]
    assert _fhir_starts(client, "T", day)[0] == la_day[0][0]
    data = client.post("/graphql", json={"query": '{ groupAvailability(feed: "fhir", providerIds: ["NZ", "LA"], mode: ALL, '
                                                  f'from: "{day}", to: "{day}") {{ startAt endAt providerIds }} }}'}).json()
    assert [(g["startAt"], g["endAt"], g["providerIds"]) for g in data["data"]["groupAvailability"]] == nz_day + la_day
    # a week loses neither end: NZ's seven mornings and LA's last afternoon
    week = _group(client, "all", ids, day, day + dt.timedelta(days=6))
    assert [s for s, _, _ in week] == [at(day + dt.timedelta(days=n), 9, NZ) for n in range(8)]


def test_group_any_over_the_date_line_holds_all_and_lists_who_is_free_in_each_ones_day(client, day):
    """`any` covers the instants of NZ's day D and LA's day D, listing who is free then (a span of
    any date): LA in its D-1 afternoon during NZ's D morning, NZ in its D+1 morning during LA's D
    afternoon; so it holds `all`'s time. Each was listed on its own day only, which `all` then exceeded."""
    before, after = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
    assert _group(client, "any", "NZ,LA", day, day) == [
        (at(day, 9, NZ), at(before, 17, LA), ["LA", "NZ"]), (at(before, 17, LA), at(day, 17, NZ), ["NZ"]),
        (at(day, 9, LA), at(after, 9, NZ), ["LA"]), (at(after, 9, NZ), at(day, 17, LA), ["LA", "NZ"])]


def test_the_next_slot_table_of_a_window_ahead_holds_the_first_slot_of_its_first_day_east_of_utc(store, client, day):
    """Processed with --as-of a few days ahead, the next slots were searched from as_of's midnight
    in UTC, 13 hours into NZ's as_of (in January): NZ's next slot was held at 13:00 NZ, while
    09:00-13:00 that day was free and /v1/slots listed 09:00 first. They are now searched from the
    first instant of as_of anywhere (its midnight at UTC+14): each provider's first slot of as_of."""
    as_of = day - dt.timedelta(days=7)
    with store.read() as conn:
        held = dict(conn.execute(sa.select(NextAvailableSlot.provider_id, NextAvailableSlot.start_at)).all())
    for provider, zone in (("NZ", NZ), ("LA", LA)):
        listed = client.get("/v1/slots", params={"feed": "fhir", "provider_id": provider, "from": as_of.isoformat()}).json()["slots"]
        assert listed[0]["start_at"] == at(as_of, 9, zone)
        assert held[provider].strftime("%Y-%m-%dT%H:%M:%SZ") == at(as_of, 9, zone), provider
