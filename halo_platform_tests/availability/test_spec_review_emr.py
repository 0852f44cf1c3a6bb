"""Spec review of emr.md: a FHIR Slot search's `_count` (FHIR R4: a server may return fewer
resources than `_count` asks, never more) and GraphQL group spans written in UTC, as every other
instant of the availability API is, also where a span is clipped at a provider's local midnight."""

import datetime as dt

import pytest

from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.fixtures.access import authorized_client

TZ = '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"Asia/Kolkata"}]'
DAYS = '["mon","tue","wed","thu","fri","sat","sun"]'
META = '"meta":{"lastUpdated":"2026-11-20T12:00:00Z"}'
ROLE = (f'{{"resourceType":"PractitionerRole","id":"R1",{META},{TZ},"practitioner":{{"reference":"Practitioner/F1"}},'
        f'"availableTime":[{{"daysOfWeek":{DAYS},"availableStartTime":"09:00:00","availableEndTime":"12:00:00"}}]}}')


@pytest.fixture
def day(halo_env, store, tmp_path, monkeypatch) -> dt.date:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  fhir:\n    format: fhir\n    slot_rules: {default: {duration_minutes: 30, alignment_minutes: 30}}\n"
                     "  hl7: {format: hl7}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    land("fhir", "roles.ndjson", ROLE + "\n")
    process(store, day.isoformat(), 2)
    return day


def _slots(store, **params):  # noqa: ANN001, ANN003, ANN202
    client = authorized_client(create_app({"store": store}), "availability:read")
    return client.get("/fhir/Slot", params={"schedule": "Schedule/fhir.F1", **params})


@pytest.mark.parametrize("count, entries", [("2", 2), ("0", 0), ("100", 6)])
def test_a_fhir_slot_search_returns_no_more_entries_than_count_asks(store, day, count, entries):
    """F1 has six free 30-minute slots that day (09:00-12:00 IST). `_count=2` answered all six:
    FHIR R4 search says a server is not bound to return the number `_count` asks, but cannot
    return more. The total stays the number of matches."""
    answer = _slots(store, start=f"eq{day}", _count=count)
    body = answer.json()
    assert answer.status_code == 200 and body["total"] == 6, body
    assert len(body.get("entry", [])) == entries, body


@pytest.mark.parametrize("count", ["abc", "-1", "1.5", ""])
def test_a_fhir_slot_search_with_a_count_that_is_no_count_is_a_422(store, day, count):
    answer = _slots(store, start=f"eq{day}", _count=count)
    assert answer.status_code == 422 and answer.json()["error"].startswith("_count: expected"), answer.text


def test_graphql_group_spans_are_utc_instants_also_where_clipped_at_a_local_midnight(store, halo_env):
    """A provider's free time is clipped to its own local dates; the clipped ends came out of
    GraphQL at the provider's offset ("2027-03-14T00:00:00-05:00") beside UTC ones, so that a span
    read as text ended before it started. REST writes them in UTC."""
    land("hl7", "t.csv", "provider_id,timezone,weekday,start,end,version\n" + "".join(
        f"DR2,America/New_York,{d},22:00,03:00,2027-01-01T00:00:00Z\nDR3,Asia/Kolkata,{d},09:00,17:00,2027-01-01T00:00:00Z\n"
        for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")))
    process(store, "2027-03-10", 10)
    client = authorized_client(create_app({"store": store}), "availability:read")
    body = client.post("/graphql", json={"query": '{ groupAvailability(feed: "hl7", providerIds: ["DR2", "DR3"], mode: ANY, '
                                                  'from: "2027-03-14", to: "2027-03-14") { startAt endAt providerIds } }'}).json()
    assert body["data"]["groupAvailability"] == [
        {"startAt": "2027-03-14T03:30:00+00:00", "endAt": "2027-03-14T05:00:00+00:00", "providerIds": ["DR3"]},
        {"startAt": "2027-03-14T05:00:00+00:00", "endAt": "2027-03-14T07:00:00+00:00", "providerIds": ["DR2", "DR3"]},
        {"startAt": "2027-03-14T07:00:00+00:00", "endAt": "2027-03-14T11:30:00+00:00", "providerIds": ["DR3"]},
        {"startAt": "2027-03-15T02:00:00+00:00", "endAt": "2027-03-15T04:00:00+00:00", "providerIds": ["DR2"]},
    ], body
