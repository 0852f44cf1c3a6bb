"""Review of the EMR read APIs and the HTTP service's edges (api20): GraphQL over GET naming
parameters GraphQL has not; REST slots over a range longer than the days slots can start on.

The slot fixtures are test_review_fhir19's: Asia/Kolkata (+05:30), F1 works 09:00-12:00 local and
is booked 10:00-10:30 on `day`, a week ahead (spans for `day` and the 2 days after); 30-minute
slots bookable 60 days ahead, and a `far` type bookable 366 days ahead."""

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from halo_platform.availability import service
from halo_platform.http import create_app
from halo_platform_tests.availability.test_fhir_slots import day  # noqa: F401 (fixture)
from halo_platform_tests.availability.test_review_fhir19 import feeds_file  # noqa: F401 (fixture)
from halo_platform_tests.fixtures.access import authorized_client

QUERY = "query Spans($provider: String! = \"nobody\") { availableSpans(feed: \"acme\", providerId: $provider) { startAt } }"
KNOWN = "known: query, variables, operationName, extensions"


@pytest.mark.parametrize("params, unknown", [
    ({"query": QUERY, "varibles": json.dumps({"provider": "P1"})}, "'varibles'"),
    ({"query": QUERY, "operation_name": "Spans"}, "'operation_name'"),
    ({"qeury": QUERY}, "'qeury'"),
    ({"query": QUERY, "Variables": "{}", "api_key": "x"}, "'Variables', 'api_key'"),
])
@pytest.mark.parametrize("accept", ["application/json", "*/*", "text/html"])
def test_a_graphql_get_naming_a_parameter_graphql_has_not_is_a_400_naming_it(store, halo_env, params, unknown, accept):
    """`?query=...&varibles={...}` (a typo) ran the query with its variables' defaults, answered as
    if they had been read; `?qeury=...` answered the GraphiQL page to curl (which accepts */*), or
    'No GraphQL query found'. A POST body naming another key is a 400 naming it: so is a GET."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/graphql", params=params, headers={"Accept": accept})
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": f"unknown query parameter(s) {unknown}; {KNOWN}", "detail": None}


def test_a_graphql_get_of_its_four_parameters_runs_and_a_bare_one_is_the_graphiql_page(store, halo_env):
    client = authorized_client(create_app({"store": store}), "availability:read")
    params = {"query": QUERY, "variables": json.dumps({"provider": "P1"}), "operationName": "Spans", "extensions": "{}"}
    answer = client.get("/graphql", params=params)
    assert answer.status_code == 200 and answer.json() == {"data": {"availableSpans": []}}, answer.text
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


KOLKATA = ZoneInfo("Asia/Kolkata")


def bookable_dates(ahead: int) -> set[tuple[str, str]]:
    """The local dates slots bookable `ahead` days can start on, from now (and a moment later:
    a request may cross the provider's midnight)."""
    found = set()
    for now in (dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)):
        last = now + dt.timedelta(days=ahead) - dt.timedelta(microseconds=1)
        found.add((now.astimezone(KOLKATA).date().isoformat(), last.astimezone(KOLKATA).date().isoformat()))
    return found


def test_a_slots_range_reaching_past_the_bookable_days_searches_those_days_and_says_which(store, day):  # noqa: F811
    """Slots start up to `max_days_ahead` (60 here) after now: /v1/slots from today to 400 days
    ahead was refused 'at most 366 days per query ..., got 401', as FHIR's search was until it
    looked at the days slots can start on. REST searches those days of its range too, and says
    which it searched (`searched`); GraphQL `slots` answers the same slots."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    today = dt.datetime.now(dt.UTC).date()
    far = today + dt.timedelta(days=400)
    params = {"feed": "fhir", "provider_id": "F1"}
    every = client.get("/v1/slots", params={**params, "from": day, "to": day + dt.timedelta(days=2)}).json()["slots"]
    assert len(every) == 17  # 5 slots on day (booked 10:00-10:30), 6 on each of the 2 days after
    for bounds in ({"to": far}, {"from": today, "to": far}, {"from": "2020-01-01", "to": far}, {"from": day, "to": "2199-12-31"}):
        answer = client.get("/v1/slots", params={**params, **bounds})
        assert answer.status_code == 200, (bounds, answer.text)
        assert answer.json()["slots"] == every, bounds
        searched = answer.json()["searched"]  # from the later of `from` and now, to max_days_ahead after now
        assert (searched["from"], searched["to"]) in {(max(str(bounds.get("from", f)), f), t) for f, t in bookable_dates(60)}, (bounds, searched)
    graphql = client.post("/graphql", json={"query": f'{{ slots(feed: "fhir", providerId: "F1", from: "{today}", to: "{far}") {{ startAt }} }}'})
    assert [s["startAt"] for s in graphql.json()["data"]["slots"]] == [s["start_at"] for s in every], graphql.text


def test_a_slots_range_with_no_bookable_day_is_empty_and_says_so(store, day):  # noqa: F811
    client = authorized_client(create_app({"store": store}), "availability:read")
    today = dt.datetime.now(dt.UTC).date()
    for first, last in ((today + dt.timedelta(days=100), today + dt.timedelta(days=500)), ("2020-01-01", "2022-06-30")):
        answer = client.get("/v1/slots", params={"feed": "fhir", "provider_id": "F1", "from": first, "to": last})
        assert answer.status_code == 200 and answer.json()["slots"] == [] and answer.json()["searched"] is None, answer.text


@pytest.mark.parametrize("bounds, error", [
    ({"from": "2027-03-01", "to": "2027-02-01"}, "to 2027-02-01 is before from 2027-03-01"),
    ({"from": "2399-01-01", "to": "2400-01-01"}, "from: 2399-01-01 is out of range (1900-01-01 to 2199-12-31)"),
    ({"from": "2027-13-01"}, "from: expected a date YYYY-MM-DD, got '2027-13-01'"),
])
def test_an_invalid_slots_range_is_still_refused(store, day, bounds, error):  # noqa: F811
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/v1/slots", params={"feed": "fhir", "provider_id": "F1", **bounds})
    assert answer.status_code == 422 and answer.json()["error"] == error, answer.text


def test_slots_bookable_more_days_than_a_query_takes_are_refused_saying_so(store, day):  # noqa: F811
    """The `far` type is bookable 366 days ahead: from 10:00 today, its slots can start on 367
    local dates, one more than a query takes: a 422 naming the dates searched and why."""
    now = dt.datetime.combine(day - dt.timedelta(days=7), dt.time(10), tzinfo=dt.UTC)
    first, last = now.date(), now.date() + dt.timedelta(days=366)
    with pytest.raises(service.HaloError) as refused:
        service.bookable_slots(store, "fhir", "F1", "far", first, dt.date(2199, 12, 31), now)
    assert str(refused.value) == (f"at most 366 days per query (first and last included), got 367: {first} to {last}, "
                                  "the days from now on which slots of type far can start: give an earlier to")
    found = service.bookable_slots(store, "fhir", "F1", "far", None, last - dt.timedelta(days=1), now)
    assert len(found.slots) == 17 and found.searched == (first, last - dt.timedelta(days=1))
