"""EMR availability review 7 (queries): how many slots one answer of /v1/slots, GraphQL or /fhir/Slot may list."""

import datetime as dt

import pytest

from halo_platform.availability import service
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.fixtures.access import authorized_client

FEEDS = """feeds:
  acme:
    format: acme
    slot_rules:
      default: {max_days_ahead: 366}
      types: {minute: {duration_minutes: 1, alignment_minutes: 1}}
"""
UPDATED = '"updated_at":"2026-11-20T10:00:00Z"'
WEEK = ",".join(f'"{d}":[["00:00","00:00"]]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))


@pytest.fixture
def today(halo_env, store, tmp_path, monkeypatch) -> dt.date:
    """R1 (UTC) is free around the clock every day, processed for 45 days from today."""
    (tmp_path / "feeds.yaml").write_text(FEEDS)
    monkeypatch.setenv("HALO_FEEDS_FILE", str(tmp_path / "feeds.yaml"))
    land("acme", "hours.jsonl", f'{{"type":"hours","provider":"R1","tz":"UTC","week":{{{WEEK}}},{UPDATED}}}\n')
    process(store, dt.datetime.now(dt.UTC).date().isoformat(), 45)
    return dt.datetime.now(dt.UTC).date()


@pytest.fixture
def client(store):  # noqa: ANN001, ANN201
    return authorized_client(create_app({"store": store}), "availability:read")


def test_slots_listed_in_one_answer_are_bounded(client, today):
    """The GraphQL budget weighs a day of slots by its alignment, not by the hours free in it, and
    REST /v1/slots had no bound but the 366 days: a year of R1's 1-minute slots (527,040) took 35 s
    and 35 MB over REST and 60 s over GraphQL, 20 aliases of a year of its default 15-minute slots
    (700,000) 34 s, all inside the budget. An answer now lists at most MAX_LISTED_SLOTS (40,000: a
    provider-year of 15-minute starts around the clock), refused past it naming the bound; over
    GraphQL the fields of one request share it. Here 40 days of 1-minute slots: 57,600."""
    first, last = today + dt.timedelta(days=1), today + dt.timedelta(days=40)
    answer = client.get("/v1/slots", params={"feed": "acme", "provider_id": "R1", "type": "minute", "from": str(first), "to": str(last)})
    assert answer.status_code == 422, answer.status_code
    assert answer.json()["error"] == (f"more than 40000 slots from {first} to {last} (40000 at most in one answer): ask for fewer days")
    half = today + dt.timedelta(days=20)  # 28,800 each: the second field is past what the first left
    query = ("{ " + " ".join(f'a{i}: slots(feed: "acme", providerId: "R1", type: "minute", from: "{first}", to: "{half}") {{ startAt }}'
                            for i in range(2)) + " }")
    body = client.post("/graphql", json={"query": query}).json()
    assert body["data"] is None, "listed"  # a field is non-null: its error is the answer's
    assert [e["message"] for e in body["errors"]] == [
        f"more than {40000 - 20 * 1440} slots from {first} to {half} (40000 at most in one answer): ask for fewer days"]
    alone = f'{{ slots(feed: "acme", providerId: "R1", type: "minute", from: "{first}", to: "{half}") {{ startAt }} }}'
    assert len(client.post("/graphql", json={"query": alone}).json()["data"]["slots"]) == 20 * 1440
    fits = client.get("/v1/slots", params={"feed": "acme", "provider_id": "R1", "from": str(first), "to": str(last)})
    assert len(fits.json()["slots"]) == 40 * 96, fits.text[:300]  # the default type: 15-minute starts
    assert service.MAX_LISTED_SLOTS == 40_000


def test_a_fhir_slot_search_is_bounded_as_the_other_routes_are(client, today):
    """/fhir/Slot had no bound but the 366 days, and each page of a search worked out every slot
    of it again: a year of 1-minute slots (526,000) took 5-6 s of CPU and 120 MB a page, 527 pages.
    A search matching more than MAX_LISTED_SLOTS is refused as /v1/slots refuses it (a 422 whose
    detail is the OperationOutcome), once the slot past the bound is found."""
    first, last = today + dt.timedelta(days=1), today + dt.timedelta(days=40)
    params = {"schedule": "Schedule/acme.R1", "service-type": "minute", "start": [f"ge{first}", f"le{last}"]}
    answer = client.get("/fhir/Slot", params=params)
    assert answer.status_code == 422, answer.status_code
    assert answer.json()["error"] == f"more than 40000 slots from {first} to {last} (40000 at most in one answer): ask for fewer days"
    assert answer.json()["detail"]["resourceType"] == "OperationOutcome"
    fits = client.get("/fhir/Slot", params={**params, "start": [f"ge{first}", f"le{today + dt.timedelta(days=20)}"], "_count": "5"})
    assert fits.status_code == 200 and fits.json()["total"] == 20 * 1440, fits.text[:300]
