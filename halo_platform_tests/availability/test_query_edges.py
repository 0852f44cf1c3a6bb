"""Availability queries at their edges: GraphQL variables left to their defaults in the cost
budget, a group query near the calendar's end, an empty FHIR searchset, a night shift running
into the day a group query asks for."""

import datetime as dt

import pytest

from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client

TWENTY_IDS = [f"G{i}" for i in range(20)]
YEAR = ("2027-01-01", (dt.date(2027, 1, 1) + dt.timedelta(days=365)).isoformat())  # the widest range: 366 dates


def _aliases(count: int, field: str) -> str:
    return " ".join(f"a{i}: {field}" for i in range(count))


@pytest.mark.parametrize("query", [
    # 20 aliases x 20 providers x 366 days = 146,400 provider-days, 20 times the budget
    'query Q($ids: [String!]! = ' + str(TWENTY_IDS).replace("'", '"') + f', $from: Date = "{YEAR[0]}", $to: Date = "{YEAR[1]}") {{ '
    + _aliases(20, "groupAvailability(feed: \"acme\", providerIds: $ids, from: $from, to: $to) { startAt }") + " }",
    # open-ended availableSpans read every span on that side: each costs the widest range
    'query Q($from: Date = "1900-01-01") { ' + _aliases(19, 'availableSpans(feed: "acme", providerId: "G1", from: $from) { startAt }')
    + ' b: groupAvailability(feed: "acme", providerIds: ["G1", "G2"], from: "2027-01-01", to: "2027-12-31") { startAt } }',
])
def test_variable_defaults_count_against_the_graphql_cost_budget(store, halo_env, query):
    """The cost check read a variable the request did not send as unknown (graphql-core's
    Undefined) and costed the field as one the resolver would refuse (its providers only), but
    graphql-core runs the resolver with the variable's default value: the budget was bypassed
    by moving the arguments into variable defaults."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    body = client.post("/graphql", json={"query": query}).json()
    assert body["data"] is None and body["errors"][0]["message"].startswith("query too costly"), body


@pytest.mark.parametrize("last_day", ["2199-12-31", "2199-12-28"])
def test_a_group_query_near_the_calendars_end_without_to_searches_inside_it(store, halo_env, last_day):
    """The default `to` (6 days after `from`) was checked as if the caller had sent it: a valid
    `from` was refused with `to: 2200-01-06 is out of range`, naming a parameter the request does
    not have. /v1/slots and FHIR clamp their default end to the calendar; group did not."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    assert client.get("/v1/slots", params={"feed": "acme", "provider_id": "G1", "from": last_day}).status_code == 200
    answer = client.get("/v1/availability/group", params={"feed": "acme", "provider_ids": "G1,G2", "from": last_day})
    assert answer.status_code == 200 and answer.json()["spans"] == [], answer.json()
    body = client.post("/graphql", json={"query": f'{{ groupAvailability(feed: "acme", providerIds: ["G1"], from: "{last_day}") '
                                                  "{ startAt } }"}).json()
    assert body == {"data": {"groupAvailability": []}}, body


def _empty_arrays(value: object, path: str = "$") -> list[str]:
    if isinstance(value, list):
        return [path] if not value else [p for i, v in enumerate(value) for p in _empty_arrays(v, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _empty_arrays(v, f"{path}.{k}")]
    return []


@pytest.mark.parametrize("params", [
    {"schedule": "Schedule/acme.P1"},  # a schedule without spans
    {"schedule": "Schedule/nope"},  # no such schedule
    {"schedule": "Schedule/acme.P1", "status": "busy"},  # only free slots are known
])
def test_an_empty_fhir_searchset_has_no_empty_entry_array(store, halo_env, params):
    """FHIR R4 JSON has no empty arrays: a repeating element without items is left out (the FHIR
    validator: "Array cannot be empty - the property should not be present if it has no values").
    A search matching nothing answered `"entry": []`, which FHIR clients' validators refuse."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/fhir/Slot", params=params)
    body = answer.json()
    assert answer.status_code == 200 and body["resourceType"] == "Bundle" and body["total"] == 0, body
    assert _empty_arrays(body) == [], body


@pytest.fixture
def night_and_morning(halo_env, store):
    """A works 22:00-02:00 UTC on the night before D (a span of local date D-1 running into D);
    B works 00:00-03:00 UTC on D. Both are free 00:00-02:00 on D."""
    from halo_platform_tests.availability.helpers import land, process

    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    eve, weekday = (day - dt.timedelta(days=1)).strftime("%a").lower(), day.strftime("%a").lower()
    land("acme", "hours.jsonl",
         f'{{"type":"hours","provider":"A","tz":"UTC","week":{{"{eve}":[["22:00","02:00"]]}},"updated_at":"2026-11-01T00:00:00Z"}}\n'
         f'{{"type":"hours","provider":"B","tz":"UTC","week":{{"{weekday}":[["00:00","03:00"]]}},"updated_at":"2026-11-01T00:00:00Z"}}\n')
    process(store, (day - dt.timedelta(days=1)).isoformat(), 3)
    return day


@pytest.mark.parametrize("mode, expected", [
    ("all", [("00:00", "02:00", ["A", "B"])]),
    ("any", [("00:00", "02:00", ["A", "B"]), ("02:00", "03:00", ["B"])]),
])
def test_group_counts_a_provider_free_on_the_day_by_the_previous_nights_span(store, night_and_morning, mode, expected):
    """Group read each provider's spans by span_date only: A's night span belongs to D-1, so on D
    at 01:00, when A and B are both free, `all` answered nothing and `any` listed only B as free.
    (/v1/slots and FHIR read the neighbouring days for this very reason.)"""
    day = night_and_morning
    client = authorized_client(create_app({"store": store}), "availability:read")
    assert [s["start_at"] for s in client.get("/v1/availability", params={"feed": "acme", "provider_id": "A",
                                                                          "from": day - dt.timedelta(days=1), "to": day}).json()["spans"]] \
        == [f"{day - dt.timedelta(days=1)}T22:00:00Z"]  # A is free 22:00 on D-1 to 02:00 on D
    body = client.get("/v1/availability/group", params={"feed": "acme", "provider_ids": "A,B", "mode": mode,
                                                        "from": day, "to": day}).json()
    assert [(s["start_at"][11:16], s["end_at"][11:16], s["provider_ids"]) for s in body["spans"]] == expected, body
    assert all(s["start_at"].startswith(day.isoformat()) for s in body["spans"])
