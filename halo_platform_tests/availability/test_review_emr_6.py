"""EMR availability review 6: slot and group queries across time zones far apart, and the
errors of the slots, group and FHIR Slot searches. F1 (Pacific/Kiritimati, +14:00 all year)
works 00:00-04:00 every day; F2 (Etc/GMT+12, -12:00) works all day; Schedule S2 lists both,
Schedule S1 F1 alone."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.bundle import Bundle

from halo_platform.availability import pipeline
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.fixtures.access import authorized_client

FEEDS = """feeds:
  fhir:
    format: fhir
    slot_rules:
      default: {duration_minutes: 60, alignment_minutes: 60}
      types: {short: {duration_minutes: 5, alignment_minutes: 5}}
"""
META = '"meta":{"lastUpdated":"2026-11-20T12:00:00Z"}'
DAYS = '["mon","tue","wed","thu","fri","sat","sun"]'


def role(practitioner: str, zone: str, hours: str) -> str:
    return (f'{{"resourceType":"PractitionerRole","id":"R{practitioner}",{META},'
            f'"extension":[{{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"{zone}"}}],'
            f'"practitioner":{{"reference":"Practitioner/{practitioner}"}},"availableTime":[{{"daysOfWeek":{DAYS},{hours}}}]}}')


def schedule(sid: str, *practitioners: str) -> str:
    actors = ",".join(f'{{"reference":"Practitioner/{p}"}}' for p in practitioners)
    return f'{{"resourceType":"Schedule","id":"{sid}",{META},"actor":[{actors}]}}'


@pytest.fixture
def day(halo_env, store, tmp_path, monkeypatch) -> dt.date:
    """Ten days from today (F1's local date), processed from a week before it for two weeks."""
    (tmp_path / "feeds.yaml").write_text(FEEDS)
    monkeypatch.setenv("HALO_FEEDS_FILE", str(tmp_path / "feeds.yaml"))
    ten_days = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=10)
    land("fhir", "resources.ndjson", "\n".join([
        role("F1", "Pacific/Kiritimati", '"availableStartTime":"00:00:00","availableEndTime":"04:00:00"'),
        role("F2", "Etc/GMT+12", '"allDay":true'),
        schedule("S1", "F1"), schedule("S2", "F1", "F2"),
    ]) + "\n")
    process(store, (ten_days - dt.timedelta(days=7)).isoformat(), 14)
    return ten_days


@pytest.fixture
def client(store):  # noqa: ANN001, ANN201
    return authorized_client(create_app({"store": store}), "availability:read")


def starts(body: dict) -> list[str]:
    Bundle.model_validate(body)
    return [e["resource"]["start"] for e in body.get("entry", ())]


def test_a_schedule_whose_actors_are_a_day_apart_has_every_slot_when_all_are_free(client, day):
    """F1's local day D, 00:00-04:00 +14:00, is D-1 10:00Z-14:00Z; F2 (-12:00) is free all of it,
    10:00Z-12:00Z by its span of local date D-2 (D-1 12:00Z is its midnight). The spans of the other
    actors were read over F1's local dates only, from one day back: D-2 was not read, and the
    Schedule of both answered 12:00Z and 13:00Z, losing 10:00Z and 11:00Z."""
    alone = starts(client.get("/fhir/Slot", params={"schedule": "Schedule/S1", "start": f"eq{day}"}).json())
    before = day - dt.timedelta(days=1)
    assert alone == [f"{before}T{h}:00:00Z" for h in ("10", "11", "12", "13")]
    together = starts(client.get("/fhir/Slot", params={"schedule": "Schedule/S2", "start": f"eq{day}"}).json())
    assert together == alone


def test_a_to_before_the_default_from_says_from_was_not_given(client, day):
    """`/v1/slots?...&to=<earlier>` (no `from`) answered "to <to> is before from <today>": it named a
    `from` the caller never sent. The answer now says the date is from's default, and which. So
    does the group query with only `to`, and GraphQL `slots`."""
    f1_today = dt.datetime.now(dt.UTC).astimezone(ZoneInfo("Pacific/Kiritimati")).date()
    to = f1_today - dt.timedelta(days=3)
    answer = client.get("/v1/slots", params={"feed": "fhir", "provider_id": "F1", "to": str(to)})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == f"to {to} is before from's default, the provider's today ({f1_today}): give from, or a later to"
    query = f'{{ slots(feed: "fhir", providerId: "F1", to: "{to}") {{ startAt }} }}'
    body = client.post("/graphql", json={"query": query}).json()
    assert body["errors"][0]["message"] == answer.json()["error"], body
    earliest_today = pipeline.today()
    to = earliest_today - dt.timedelta(days=3)
    answer = client.get("/v1/availability/group", params={"feed": "fhir", "provider_ids": "F1,F2", "to": str(to)})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == (f"to {to} is before from's default, today at UTC-12 ({earliest_today}): "
                                      "give from, or a later to")
    answer = client.get("/v1/availability/group", params={"feed": "fhir", "provider_ids": "F1", "from": str(day), "to": str(to)})
    assert answer.json()["error"] == f"to {to} is before from {day}", answer.text  # a from given is named as given


@pytest.mark.parametrize("status", ["", "free,", ",free", "free,,busy"])
def test_an_empty_fhir_status_code_is_named_as_empty(client, day, status):
    """`status=free,` (or `status=`) was refused as "status: unknown ; known: ...", the empty code
    shown as nothing. It is still refused (a token is never empty), saying what it is."""
    answer = client.get("/fhir/Slot", params={"schedule": "Schedule/S1", "start": f"eq{day}", "status": status})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == ("status: expected comma-separated Slot status codes, none of them empty; known: "
                                      "busy, free, busy-unavailable, busy-tentative, entered-in-error"), answer.text


def test_a_fhir_slot_search_without_count_answers_a_page_and_links_the_next(client, day):
    """With no `_count` every match was one Bundle: a year at a 1-minute alignment is ~165,000
    entries in one answer (GraphQL has a cost budget, this had nothing). FHIR servers page by
    default: a page is now at most 1,000 entries with a `next` link, `total` still counts every
    match, and the links reach every slot once. F2 is free all day: 24 one-hour slots a day, 168 a
    week, all in one page; its 5-minute slots, 2,016 a week, in three."""
    params = {"schedule": "Schedule/fhir.F2", "start": [f"ge{day - dt.timedelta(days=3)}", f"lt{day + dt.timedelta(days=4)}"]}
    body = client.get("/fhir/Slot", params=params).json()
    assert body["total"] == 168 and len(body["entry"]) == 168 and "next" not in {link["relation"] for link in body["link"]}
    body = client.get("/fhir/Slot", params={**params, "service-type": "short"}).json()
    Bundle.model_validate(body)
    assert body["total"] == 2016 and len(body["entry"]) == 1000, (body["total"], len(body.get("entry", ())))
    seen = starts(body)
    while "next" in (links := {link["relation"]: link["url"] for link in body["link"]}):
        body = client.get(links["next"]).json()
        seen += starts(body)
    assert len(seen) == len(set(seen)) == 2016 and seen == sorted(seen)


def test_a_fhir_slot_page_is_at_most_a_thousand_entries_whatever_count_asks(client, day):
    """`_count=2147483647` (a client's "all") answered every match in one Bundle; FHIR R4 lets a
    server return fewer than `_count` asks: a page is at most 1,000 entries, and its `next` link
    asks for the same count from where it ended. F2's 5-minute slots over a week: 2,016."""
    params = {"schedule": "Schedule/fhir.F2", "service-type": "short", "_count": "2147483647",
              "start": [f"ge{day - dt.timedelta(days=3)}", f"lt{day + dt.timedelta(days=4)}"]}
    body = client.get("/fhir/Slot", params=params).json()
    assert body["total"] == 2016 and len(body["entry"]) == 1000, (body["total"], len(body.get("entry", ())))
    following = {link["relation"]: link["url"] for link in body["link"]}["next"]
    assert "_count=2147483647" in following and "_offset=1000" in following, following
    assert len(client.get(following).json()["entry"]) == 1000
