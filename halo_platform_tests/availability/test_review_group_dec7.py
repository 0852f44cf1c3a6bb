"""Group availability across timezones and midnights, and freshness before and after a feed's
first event, as an integrator reads them over REST and GraphQL. Expectations are worked out by
hand from each provider's working hours (emr.md, Semantics), not from the code's own sweep."""

import datetime as dt
import json
import re

import pytest

from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.fixtures.access import authorized_client

Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def hours(provider: str, tz: str, week: dict) -> str:
    return json.dumps({"type": "hours", "provider": provider, "tz": tz, "week": week, "updated_at": "2026-11-01T00:00:00Z"}) + "\n"


@pytest.fixture
def four_zones(any_store, halo_env):
    """Monday 2027-03-01 and the days around it (no DST change anywhere that week):
    N (UTC) Mon 22:00-02:00 (past midnight, Monday's) and Tue 00:00-03:00; P (Paris, +1) Mon
    09:00-17:00 and Tue 00:00-01:00; Y (New York, -5) Mon 09:00-17:00 and Sun 20:00-23:00;
    K (Kiritimati, +14) Tue 00:00-12:00."""
    land("acme", "hours.jsonl", hours("N", "UTC", {"mon": [["22:00", "02:00"]], "tue": [["00:00", "03:00"]]})
         + hours("P", "Europe/Paris", {"mon": [["09:00", "17:00"]], "tue": [["00:00", "01:00"]]})
         + hours("Y", "America/New_York", {"mon": [["09:00", "17:00"]], "sun": [["20:00", "23:00"]]})
         + hours("K", "Pacific/Kiritimati", {"tue": [["00:00", "12:00"]]}))
    process(any_store, "2027-02-27", 6)
    return authorized_client(create_app({"store": any_store}), "availability:read")


def rest(client, ids: str, mode: str, first: str, last: str) -> list[tuple[str, str, str]]:
    answer = client.get("/v1/availability/group", params={"feed": "acme", "provider_ids": ids, "mode": mode, "from": first, "to": last})
    assert answer.status_code == 200, answer.text
    return [(s["start_at"], s["end_at"], ",".join(s["provider_ids"])) for s in answer.json()["spans"]]


def graphql(client, ids: str, mode: str, first: str, last: str) -> list[tuple[str, str, str]]:
    listed = ", ".join(f'"{p}"' for p in ids.split(","))
    query = (f'{{ groupAvailability(feed: "acme", providerIds: [{listed}], mode: {mode.upper()}, from: "{first}", to: "{last}") '
             f'{{ startAt endAt providerIds }} }}')
    data = client.post("/graphql", json={"query": query}).json()
    assert "errors" not in data, data
    return [(g["startAt"], g["endAt"], ",".join(g["providerIds"])) for g in data["data"]["groupAvailability"]]


def test_any_over_four_timezones_lists_who_is_free_where_spans_overlap_touch_and_cross_midnight(four_zones):
    """Each provider counts over its own local dates Mon-Tue: N's Monday night runs on into its
    Tuesday hours (touching spans of one provider are one piece), Y's Sunday evening (before its
    Monday) is left out, K's Tuesday is Monday in UTC. A new piece starts wherever the set of who
    is free changes, REST and GraphQL alike."""
    expected = [
        ("2027-03-01T08:00:00Z", "2027-03-01T10:00:00Z", "P"),
        ("2027-03-01T10:00:00Z", "2027-03-01T14:00:00Z", "K,P"),
        ("2027-03-01T14:00:00Z", "2027-03-01T16:00:00Z", "K,P,Y"),
        ("2027-03-01T16:00:00Z", "2027-03-01T22:00:00Z", "K,Y"),
        ("2027-03-01T22:00:00Z", "2027-03-01T23:00:00Z", "N"),
        ("2027-03-01T23:00:00Z", "2027-03-02T00:00:00Z", "N,P"),
        ("2027-03-02T00:00:00Z", "2027-03-02T03:00:00Z", "N"),
    ]
    assert rest(four_zones, "N,P,Y,K", "any", "2027-03-01", "2027-03-02") == expected
    assert graphql(four_zones, "N,P,Y,K", "any", "2027-03-01", "2027-03-02") == expected
    # the same providers, named again, with spaces, in another order: the same answer
    assert rest(four_zones, " K,Y , P,N,K,P ", "any", "2027-03-01", "2027-03-02") == expected


@pytest.mark.parametrize("ids, first, last, expected", [
    ("Y,K", "2027-03-01", "2027-03-01", [("2027-03-01T14:00:00Z", "2027-03-01T22:00:00Z", "K,Y")]),
    ("P,Y,K", "2027-03-01", "2027-03-02", [("2027-03-01T14:00:00Z", "2027-03-01T16:00:00Z", "K,P,Y")]),
    ("N,P", "2027-03-01", "2027-03-02", [("2027-03-01T23:00:00Z", "2027-03-02T00:00:00Z", "N,P")]),
    ("N,P,Y", "2027-03-01", "2027-03-02", []),
    ("N,P,Y,K", "2027-03-01", "2027-03-02", []),
])
def test_all_is_the_intersection_of_every_listed_provider(four_zones, ids, first, last, expected):
    assert rest(four_zones, ids, "all", first, last) == expected
    assert graphql(four_zones, ids, "all", first, last) == expected


def test_one_provider_in_all_mode_is_that_provider_free_over_its_dates(four_zones):
    """N's two spans touch at 02:00 across its dates: one piece, in either mode."""
    assert rest(four_zones, "N", "all", "2027-03-01", "2027-03-02") == rest(four_zones, "N", "any", "2027-03-01", "2027-03-02") == [
        ("2027-03-01T22:00:00Z", "2027-03-02T03:00:00Z", "N")]


@pytest.mark.parametrize("ids, reason", [
    (",".join(f"P{i}" for i in range(21)), "at most 20 providers, got 21"),
    ("N,,P", "none of them blank"),
    ("N, ", "none of them blank"),
])
def test_bad_provider_lists_are_422_json_over_rest_and_errors_over_graphql(four_zones, ids, reason):
    answer = four_zones.get("/v1/availability/group", params={"feed": "acme", "provider_ids": ids})
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/json"
    assert reason in answer.json()["error"]
    listed = json.dumps(ids.split(","))
    data = four_zones.post("/graphql", json={"query": f'{{ groupAvailability(feed: "acme", providerIds: {listed}) {{ startAt }} }}'}).json()
    assert data["data"] is None and reason in data["errors"][0]["message"]


def test_twenty_providers_with_unknown_ones_are_answered(four_zones):
    ids = ",".join(["N", "P", "Y", "K"] + [f"X{i}" for i in range(16)])
    # N's Tuesday span is 02:00-03:00 (/v1/availability): 00:00-02:00 is in Monday's night, a span of Monday
    assert rest(four_zones, ids, "any", "2027-03-02", "2027-03-02")[-1] == ("2027-03-02T02:00:00Z", "2027-03-02T03:00:00Z", "N")
    assert rest(four_zones, ids, "all", "2027-03-02", "2027-03-02") == []


def test_freshness_is_null_before_a_feeds_first_event_and_utc_instants_after(four_zones):
    """fhir has received nothing: every field but its name is null, in REST and GraphQL; acme's
    applied_at is a UTC instant and its lag a whole number of seconds."""
    for path, params in (("/v1/availability", {"provider_id": "X"}), ("/v1/availability/group", {"provider_ids": "X,Y"})):
        body = four_zones.get(path, params={"feed": "fhir", **params}).json()
        assert body["freshness"] == {"feed": "fhir", "applied_at": None, "received_at": None, "lag_seconds": None}
        acme = four_zones.get(path, params={"feed": "acme", **params}).json()["freshness"]
        assert acme["feed"] == "acme" and Z.fullmatch(acme["applied_at"]) and type(acme["lag_seconds"]) is int
        assert acme["lag_seconds"] >= 0 and acme["received_at"] <= acme["applied_at"]
    query = '{ a: freshness(feed: "fhir") { feed appliedAt lagSeconds } b: freshness(feed: "acme") { feed appliedAt lagSeconds } }'
    data = four_zones.post("/graphql", json={"query": query}).json()["data"]
    assert data["a"] == {"feed": "fhir", "appliedAt": None, "lagSeconds": None}
    assert Z.fullmatch(data["b"]["appliedAt"]) and type(data["b"]["lagSeconds"]) is int
    applied = dt.datetime.fromisoformat(data["b"]["appliedAt"].replace("Z", "+00:00"))
    assert abs(dt.datetime.now(dt.UTC) - applied) < dt.timedelta(minutes=10)
