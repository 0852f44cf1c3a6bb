"""Review of the EMR read APIs (fhir19): FHIR Slot paging and search ranges, group availability
of providers whose ids hold a comma, and GraphQL request bodies naming keys GraphQL has not.

The FHIR fixtures are test_fhir_slots': Asia/Kolkata (+05:30), F1 works 09:00-12:00 local and
is booked 10:00-10:30 on `day`, a week ahead (spans for `day` and the 2 days after); 30-minute
slots aligned to 30 minutes, and here a `short` type of 15-minute ones and a `far` type bookable
366 days ahead."""

import datetime as dt
from urllib.parse import parse_qsl, urlsplit

import pytest

from halo_platform.availability import service
from halo_platform.availability.fhir_api import search_slots
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import hours_a_week_ahead
from halo_platform_tests.availability.test_fhir_slots import day  # noqa: F401 (fixture)
from halo_platform_tests.fixtures.access import authorized_client

BASE = "http://testserver/fhir/Slot"


@pytest.fixture
def feeds_file(halo_env, tmp_path, monkeypatch):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  fhir:\n    format: fhir\n    slot_rules:\n      default: {duration_minutes: 30, alignment_minutes: 30}\n"
                     "      types: {short: {duration_minutes: 15, alignment_minutes: 15}, far: {max_days_ahead: 366}}\n"
                     "  acme: {format: acme}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))


def starts(body: dict) -> list[str]:
    return [e["resource"]["start"] for e in body.get("entry", ())]


def test_following_previous_links_from_any_page_never_lists_a_slot_twice_nor_skips_one(store, day):  # noqa: F811
    """F1's local day has 5 slots. The previous page of `_offset=3&_count=5` was `_count=5` from 0,
    slots 0-4, listing again 3 and 4 of the page itself. A previous page is now the matches just
    before the page, at most `_count` of them (`_count=3` from 0 there): from any page, the pages
    that following `previous` reads and the page itself list the first slots once each, in order."""
    params = [("schedule", "Schedule/fhir.F1"), ("start", f"eq{day}")]
    every = starts(search_slots(store, params, BASE))
    assert len(every) == 5
    for count in range(1, 6):
        for offset in range(8):
            page = search_slots(store, [*params, ("_count", str(count)), ("_offset", str(offset))], BASE)
            read = starts(page)
            while previous := [link["url"] for link in page["link"] if link["relation"] == "previous"]:
                page = search_slots(store, parse_qsl(urlsplit(previous[0]).query), BASE)
                read = starts(page) + read
            assert read == every[:offset + count], (count, offset, read)


def test_a_previous_page_shorter_than_the_count_asks_for_no_more_than_the_slots_before_the_page(store, day):  # noqa: F811
    body = search_slots(store, [("schedule", "Schedule/fhir.F1"), ("start", f"eq{day}"), ("_count", "5"), ("_offset", "3")], BASE)
    (previous,) = [link["url"] for link in body["link"] if link["relation"] == "previous"]
    query = dict(parse_qsl(urlsplit(previous).query))
    assert query["_count"] == "3" and "_offset" not in query, previous


def search(store, params: dict) -> tuple[int, dict]:  # noqa: ANN001
    answer = authorized_client(create_app({"store": store}), "availability:read").get("/fhir/Slot", params=params)
    return answer.status_code, answer.json()


def test_a_start_range_reaching_past_the_slots_bookable_days_searches_those_days(store, day):  # noqa: F811
    """Slots are bookable up to `max_days_ahead` (60 here) after now: a `start` ending 400 days
    ahead was refused 'start: at most 366 days per query ..., got 401: <today> to <then>' (today,
    which the client never sent, and days no slot can start on). The range searched is the part
    of `start` where slots can start, from now to `max_days_ahead` after it: every slot is listed."""
    today = dt.datetime.now(dt.UTC).date()
    far = today + dt.timedelta(days=400)
    every = starts(search(store, {"schedule": "Schedule/fhir.F1", "start": [f"ge{day}", f"lt{day + dt.timedelta(days=3)}"]})[1])
    assert len(every) == 17  # 5 slots on day (booked 10:00-10:30), 6 on each of the 2 days after
    for start in ([f"le{far}"],  # no lower bound: from now
                  [f"le{today.year + 2}"],  # the end of next year but one
                  [f"ge{today}", f"le{far}"],
                  [f"ge{day}", f"lt{far}"],
                  ["ge2020-01-01", f"lt{far}"]):  # slots start from now: none before it is searched
        code, body = search(store, {"schedule": "Schedule/fhir.F1", "start": start})
        assert code == 200 and starts(body) == every and body["total"] == 17, (start, body)


def test_a_start_range_longer_than_the_limit_where_slots_can_start_is_refused_saying_so(store, day):  # noqa: F811
    """The `far` type is bookable 366 days ahead: from 10:00 today, its slots can start on 367
    local dates, one more than a query takes. Still a 422, naming the dates searched and why."""
    now = dt.datetime.combine(day - dt.timedelta(days=7), dt.time(10), tzinfo=dt.UTC)
    first, last = now.date(), now.date() + dt.timedelta(days=366)
    with pytest.raises(service.HaloError) as refused:
        search_slots(store, [("schedule", "Schedule/fhir.F1"), ("service-type", "far"), ("start", "le2199")], BASE, now=now)
    assert str(refused.value) == (f"start: at most 366 days per query (first and last included), got 367: {first} to {last}, "
                                  "the days from now on which slots of service-type far can start: give start=lt<date> to end the search sooner")
    found = search_slots(store, [("schedule", "Schedule/fhir.F1"), ("service-type", "far"), ("start", f"lt{last}")], BASE, now=now)
    assert found["total"] == 17


def test_service_types_listing_more_slots_together_than_an_answer_holds_are_refused_saying_what_to_do(store, day, monkeypatch):  # noqa: F811
    """Each type's slots count against one bound: with room for 12, the 5 default slots left 7 for
    the short type's 10, and the search was refused 'more than 7 slots from ... (12 at most in one
    answer): ask for fewer days', a bound no one asked for, and fewer days were not the only way."""
    monkeypatch.setattr(service, "MAX_LISTED_SLOTS", 12)
    params = {"schedule": "Schedule/fhir.F1", "start": f"eq{day}"}
    code, body = search(store, {**params, "service-type": "default,short"})
    assert code == 422, body
    assert body["error"] == (f"more than 12 slots from {day} to {day} of service-type default,short together (12 at most in one answer): "
                             "ask for fewer days or fewer service types")
    code, body = search(store, {**params, "service-type": "short"})
    assert code == 200 and body["total"] == 10, body  # one type alone is refused as before, when it does not fit


@pytest.fixture
def comma_ids(halo_env, store) -> dt.date:
    """'Smith, J' 09:00-12:00 and 'Room 1' 10:00-14:00 UTC on one day a week ahead (acme)."""
    return hours_a_week_ahead(store, [("Smith, J", "09:00", "12:00"), ("Room 1", "10:00", "14:00")])


def test_group_availability_takes_provider_ids_holding_a_comma_one_provider_id_each(store, comma_ids):
    """`provider_ids=Smith, J,Room 1` is split at every comma (Smith, J and Room 1, three ids):
    a provider whose id holds a comma could not be asked for. `provider_id`, repeated, takes one id
    each, as it is (as /v1/availability's `provider_id`); `provider_ids` reads as before."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    params = {"feed": "acme", "from": str(comma_ids), "to": str(comma_ids), "mode": "all"}
    answer = client.get("/v1/availability/group", params={**params, "provider_id": ["Smith, J", "Room 1"]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["provider_ids"] == ["Smith, J", "Room 1"]
    assert [(s["start_at"][11:16], s["end_at"][11:16]) for s in answer.json()["spans"]] == [("10:00", "12:00")]
    anyone = client.get("/v1/availability/group", params={**params, "mode": "any", "provider_id": "Smith, J"}).json()
    assert [(s["start_at"][11:16], s["end_at"][11:16], s["provider_ids"]) for s in anyone["spans"]] == [("09:00", "12:00", ["Smith, J"])]
    listed = client.get("/v1/availability/group", params={**params, "provider_ids": "Room 1, Room 1"}).json()
    assert listed["provider_ids"] == ["Room 1"]


@pytest.mark.parametrize("params, reason", [
    ({"provider_ids": "Room 1", "provider_id": "Smith, J"}, "give provider_ids (comma-separated) or provider_id (repeated, one id each), not both"),
    ({}, "give provider_ids (comma-separated) or provider_id (repeated, one id each)"),
    ({"provider_id": ["Room 1", " "]}, "provider_id: expected repeated parameters of provider ids, none of them blank"),
])
def test_a_group_query_naming_its_providers_both_ways_or_neither_is_a_422(store, halo_env, params, reason):
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/v1/availability/group", params={"feed": "acme", **params})
    assert answer.status_code == 422 and answer.json()["error"] == reason, answer.text


QUERY = "query Spans($provider: String! = \"nobody\") { availableSpans(feed: \"acme\", providerId: $provider) { startAt } }"


@pytest.mark.parametrize("key", ["varibles", "operation_name", "Query"])
def test_a_graphql_body_naming_a_key_graphql_has_not_is_a_400_naming_it(store, halo_env, key):
    """`{"query": ..., "varibles": {...}}` (a typo) ran the query with its variables' defaults, and
    answered as if the variables had been read. A body's keys are query, variables, operationName
    and extensions: another is refused, as the other malformed requests are."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.post("/graphql", json={"query": QUERY, key: {"provider": "P1"}})
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": f"the body's key {key!r} is not a GraphQL request's: "
                                      "expected query, variables, operationName or extensions", "detail": None}


def test_a_graphql_body_of_its_four_keys_runs(store, halo_env):
    client = authorized_client(create_app({"store": store}), "availability:read")
    body = {"query": QUERY, "variables": {"provider": "P1"}, "operationName": "Spans", "extensions": {}}
    answer = client.post("/graphql", json=body)
    assert answer.status_code == 200 and answer.json() == {"data": {"availableSpans": []}}, answer.text
