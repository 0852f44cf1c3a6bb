"""GET /fhir/Slot with a `start` bound on the day just outside the calendar (1900-01-01 to
2199-12-31): `lt2200-01-01`, `lt2200`, `gt1899-12-31` and `gt1899` bound ranges inside it, searched clipped to it;
they were refused as out of range. A bound further out still is.

E1 works 09:00-12:00 UTC on the calendar's first two days, or its last two (processing one
window drops the other's spans)."""

import datetime as dt

import pytest
from fhir.resources.R4B.bundle import Bundle

from halo_platform.availability import fhir_api
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.fixtures.access import authorized_client

WEEK = ",".join(f'"{d}":[["09:00","12:00"]]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
HALF_HOURS = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]


@pytest.fixture
def client(store, halo_env, tmp_path, monkeypatch):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  acme:\n    format: acme\n    slot_rules: {default: {duration_minutes: 30, alignment_minutes: 30}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    land("acme", "hours.jsonl", f'{{"type":"hours","provider":"E1","tz":"UTC","week":{{{WEEK}}},"updated_at":"2026-11-01T00:00:00Z"}}\n')
    return authorized_client(create_app({"store": store}), "availability:read")


@pytest.mark.parametrize("as_of, start, now, found", [
    ("2199-12-30", ["ge2199-12-31", "lt2200-01-01"], "2199-12-20", {"2199-12-31": HALF_HOURS}),
    ("2199-12-30", ["le2200-01-01"], "2199-12-30T12:00:00", {"2199-12-31": HALF_HOURS}),
    ("1900-01-01", ["gt1899-12-31", "lt1900-01-02"], "1899-12-20", {"1900-01-01": HALF_HOURS}),
    ("1900-01-01", ["gt1899", "lt1900-01-02"], "1899-12-20", {"1900-01-01": HALF_HOURS}),  # after the year 1899
    ("2199-12-30", ["ge2199-12-31", "lt2200"], "2199-12-20", {"2199-12-31": HALF_HOURS}),  # before the year 2200
    ("1900-01-01", ["ge1899-12-31", "le1900-01-02"], "1899-12-20", {"1900-01-01": HALF_HOURS, "1900-01-02": HALF_HOURS}),
])
def test_a_bound_on_the_day_outside_the_calendar_searches_inside_it(store, client, monkeypatch, as_of, start, now, found):
    process(store, as_of, 2)
    monkeypatch.setattr(fhir_api, "utcnow", lambda: dt.datetime.fromisoformat(now).replace(tzinfo=dt.UTC))
    answer = client.get("/fhir/Slot", params={"schedule": "Schedule/acme.E1", "start": start})
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    Bundle.model_validate(body)
    starts = [e["resource"]["start"] for e in body.get("entry", ())]
    assert starts == [f"{day}T{time}:00Z" for day, times in found.items() for time in times]


@pytest.mark.parametrize("start, day", [("lt2200-01-02", "2200-01-02"), ("gt1899-12-30", "1899-12-30"),
                                        ("le2200-01-02T00:00:00Z", "2200-01-02"), ("ge1898", "1898-01-01"),
                                        ("ge2201", "2201-01-01"), ("lt9999-12", "9999-12-01")])
def test_a_bound_further_out_is_refused(client, start, day):
    answer = client.get("/fhir/Slot", params={"schedule": "Schedule/acme.E1", "start": start})
    assert answer.status_code == 422
    assert answer.json()["error"] == f"start: {day} is out of range (1900-01-01 to 2199-12-31)"


@pytest.mark.parametrize("provider", ["DR_001", "dr_" + "x" * 100])
def test_a_provider_whose_id_holds_an_underscore_or_is_long_has_a_schedule(store, client, monkeypatch, provider):
    """`Schedule/acme.DR_001` was refused as no Schedule id (FHIR ids take no `_` and at most 64
    characters), so a provider with such an id, common in EMRs, had no Slot search."""
    land("acme", "more.jsonl", f'{{"type":"hours","provider":"{provider}","tz":"UTC","week":{{{WEEK}}},"updated_at":"2026-11-01T00:00:00Z"}}\n')
    process(store, "2027-01-04", 2)
    monkeypatch.setattr(fhir_api, "utcnow", lambda: dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    answer = client.get("/fhir/Slot", params={"schedule": f"Schedule/acme.{provider}", "start": ["ge2027-01-04", "lt2027-01-05"]})
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    Bundle.model_validate(body)
    assert [e["resource"]["start"] for e in body["entry"]] == [f"2027-01-04T{time}:00Z" for time in HALF_HOURS]
    assert {e["resource"]["schedule"]["reference"] for e in body["entry"]} == {f"Schedule/acme.{provider}"}


def test_a_schedule_given_as_an_absolute_url_is_that_schedule(store, client, monkeypatch):
    """FHIR search takes a reference parameter as `Type/id` or as the absolute URL of the resource
    on this server: `schedule=https://.../fhir/Schedule/acme.E1` was a 422."""
    process(store, "2027-01-04", 2)
    monkeypatch.setattr(fhir_api, "utcnow", lambda: dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    start = ["ge2027-01-04", "lt2027-01-05"]
    relative = client.get("/fhir/Slot", params={"schedule": "Schedule/acme.E1", "start": start}).json()
    for url in ("https://halo.example/fhir/Schedule/acme.E1", "http://127.0.0.1:8080/fhir/Schedule/acme.E1"):
        answer = client.get("/fhir/Slot", params={"schedule": url, "start": start})
        assert answer.status_code == 200, answer.json()
        assert answer.json()["entry"] == relative["entry"] and len(relative["entry"]) == len(HALF_HOURS)
    refused = client.get("/fhir/Slot", params={"schedule": "https://halo.example/fhir/Practitioner/acme.E1", "start": start})
    assert refused.status_code == 422
