"""Review of the EMR query surfaces (session emr8): REST, GraphQL and FHIR answering one range
limit, GraphQL requests naming no single operation, and instants written alike on every route."""

import datetime as dt

import pytest
from graphql import parse

from halo_platform.availability.api import MAX_QUERY_COST, query_cost
from halo_platform.availability.service import MAX_QUERY_DAYS
from halo_platform.http import create_app
from halo_platform_tests.availability.test_slots import night_shift
from halo_platform_tests.fixtures.access import authorized_client


def _answers(client, day: dt.date, last: dt.date) -> dict[str, bool]:
    """Whether each query route answered the local dates [day, last] (a 200 without errors)."""
    rest = {"feed": "acme", "provider_id": "N1", "from": day, "to": last}
    group = {"feed": "acme", "provider_ids": "N1,N2", "from": day, "to": last}
    dates = f'from: "{day}", to: "{last}"'
    graphql = {
        "availableSpans": f'availableSpans(feed: "acme", providerId: "N1", {dates}) {{ startAt }}',
        "slots": f'slots(feed: "acme", providerId: "N1", {dates}) {{ startAt }}',
        "groupAvailability": f'groupAvailability(feed: "acme", providerIds: ["N1", "N2"], {dates}) {{ startAt }}',
    }
    answered = {path: client.get(path, params=params) for path, params in
                (("/v1/availability", rest), ("/v1/availability/group", group), ("/v1/slots", rest))}
    answered["/fhir/Slot"] = client.get("/fhir/Slot", params={"schedule": "Schedule/acme.N1", "start": [f"ge{day}", f"le{last}"]})
    found = {}
    for path, answer in answered.items():
        assert answer.status_code in (200, 422), (path, answer.text)
        found[path] = answer.status_code == 200
    for name, field in graphql.items():
        answer = client.post("/graphql", json={"query": "{ " + field + " }"})
        assert answer.status_code == 200, answer.text
        found[name] = "errors" not in answer.json()
    return found


def test_every_query_route_takes_366_local_dates_and_refuses_367_naming_the_limit(store, halo_env, tmp_path, monkeypatch):
    """"At most 366 days per query" let 367 local dates through (from 2027-01-01 to 2028-01-02):
    the check compared `to - from`, 366 days apart, and the GraphQL budget added the day back.
    REST (spans, group, slots), GraphQL and FHIR now take 366 local dates, first and last
    included, and spans and groups refuse one more with the same message (slots search the days
    of the range on which a slot can start)."""
    assert MAX_QUERY_DAYS == 366
    day, client = night_shift(store, tmp_path, monkeypatch, None)
    widest = day + dt.timedelta(days=MAX_QUERY_DAYS - 1)
    assert set(_answers(client, day, widest).values()) == {True}
    refused = _answers(client, day, widest + dt.timedelta(days=1))
    # slots search the days of the range where slots can start, up to max_days_ahead (60) after now
    assert all(refused.pop(route) for route in ("/fhir/Slot", "/v1/slots", "slots")) and not any(refused.values()), refused
    message = f"at most 366 days per query (first and last included), got 367: {day} to {widest + dt.timedelta(days=1)}"
    answer = client.get("/v1/availability", params={"feed": "acme", "provider_id": "N1", "from": day, "to": widest + dt.timedelta(days=1)})
    assert answer.json()["error"] == message, answer.json()
    body = client.post("/graphql", json={"query": f'{{ availableSpans(feed: "acme", providerId: "N1", from: "{day}", '
                                                  f'to: "{widest + dt.timedelta(days=1)}") {{ startAt }} }}'}).json()
    assert [e["message"] for e in body["errors"]] == [message], body


def test_the_graphql_cost_of_the_widest_range_is_its_366_dates(halo_env):
    """The budget counted an open range, and the widest, as 367 provider-days: the limit plus one."""
    field = 'availableSpans(feed: "acme", providerId: "N1", from: "2027-01-01", to: "2027-12-31") { startAt }'
    assert query_cost(parse("{ " + field + " }"), None, None) == 365
    assert query_cost(parse('{ availableSpans(feed: "acme", providerId: "N1") { startAt } }'), None, None) == MAX_QUERY_DAYS
    assert MAX_QUERY_COST == 20 * MAX_QUERY_DAYS


@pytest.fixture
def client(store, halo_env):
    return authorized_client(create_app({"store": store}), "availability:read")


@pytest.mark.parametrize("request_body, message", [
    ({"query": "query A { __typename } query B { __typename }"},
     "the document has 2 operations (A, B): name the one to run in operationName"),
    ({"query": "query A { __typename } query B { __typename }", "operationName": None},
     "the document has 2 operations (A, B): name the one to run in operationName"),
    ({"query": "query A { __typename } query B { __typename }", "operationName": "C"},
     "operationName 'C' names no operation of the document, whose operations are: A, B"),
    ({"query": "{ __typename }", "operationName": "C"},
     "operationName 'C' names no operation of the document, whose operations are: an unnamed one"),
    ({"query": "fragment F on Query { __typename }"}, "the document has no operation to run, only fragments"),
])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_graphql_request_naming_no_one_operation_of_its_document_is_a_400(client, method, request_body, message):
    """GraphQL's GetOperation: without an operationName the document must hold one operation. A
    document of two and no operationName answered 200 with the first one's data, a silent choice;
    an operationName naming none answered strawberry's 'Unknown operation named "C".'. Both are
    request errors, a 400 in the service's error body, nothing run."""
    params = {k: v for k, v in request_body.items() if v is not None}
    answer = client.post("/graphql", json=request_body) if method == "POST" else client.get("/graphql", params=params)
    assert answer.status_code == 400 and answer.json() == {"error": message, "detail": None}, answer.text


@pytest.mark.parametrize("request_body", [
    {"query": "query A { a: __typename } query B { b: __typename }", "operationName": "B"},
    {"query": "query B { b: __typename }"},
    {"query": "{ b: __typename }", "operationName": None},
    {"query": "query B { ...F } fragment F on Query { b: __typename }"},
])
def test_a_graphql_request_naming_its_operation_or_holding_one_runs_it(client, request_body):
    answer = client.post("/graphql", json=request_body)
    assert answer.status_code == 200 and answer.json() == {"data": {"b": "Query"}}, answer.text


def test_graphql_writes_instants_as_rest_does(store, halo_env, tmp_path, monkeypatch):
    """GraphQL wrote instants with Python's isoformat (`2027-01-04T18:00:00+00:00`, and a
    freshness's processing time with its microseconds) where REST, the CSV export and the spec
    write `YYYY-MM-DDTHH:MM:SSZ`: the same span, slot or freshness read as two texts. Both
    routes now answer the same text for each instant."""
    day, client = night_shift(store, tmp_path, monkeypatch, None)
    rest_params = {"feed": "acme", "provider_id": "N1", "from": day, "to": day}
    spans = client.get("/v1/availability", params=rest_params).json()
    slots = client.get("/v1/slots", params=rest_params).json()["slots"]
    group = client.get("/v1/availability/group", params={"feed": "acme", "provider_ids": "N1", "from": day, "to": day}).json()["spans"]
    dates = f'from: "{day}", to: "{day}"'
    query = (f'{{ availableSpans(feed: "acme", providerId: "N1", {dates}) {{ startAt endAt }} '
             f'slots(feed: "acme", providerId: "N1", {dates}) {{ startAt endAt }} '
             f'groupAvailability(feed: "acme", providerIds: ["N1"], {dates}) {{ startAt endAt }} '
             f'nextAvailable(feed: "acme", providerId: "N1", durationMinutes: 30, after: "{day}T00:00:00Z") {{ startAt endAt }} '
             'freshness(feed: "acme") { appliedAt receivedAt } }')
    data = client.post("/graphql", json={"query": query}).json()["data"]

    def pairs(items: list[dict]) -> list[tuple[str, str]]:
        return [(i.get("start_at", i.get("startAt")), i.get("end_at", i.get("endAt"))) for i in items]

    assert pairs(spans["spans"]) and pairs(data["availableSpans"]) == pairs(spans["spans"]), data
    assert pairs(slots) and pairs(data["slots"]) == pairs(slots)
    assert pairs(group) and pairs(data["groupAvailability"]) == pairs(group)
    assert pairs([data["nextAvailable"]]) == [pairs(slots)[0]]
    assert data["freshness"] == {"appliedAt": spans["freshness"]["applied_at"], "receivedAt": spans["freshness"]["received_at"]}
    assert pairs(slots)[0][0].endswith("Z") and spans["freshness"]["applied_at"].endswith("Z")
