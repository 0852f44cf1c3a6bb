"""GraphQL's `Date` arguments take what REST's `from`/`to` take: the extended form YYYY-MM-DD.
Python 3.11's `date.fromisoformat`, which strawberry's own Date scalar calls, also takes the basic
form (20270101) and week dates (2027-W01-5); REST refused them with a 422, GraphQL answered them
as dates. Now both refuse them, GraphQL with a GraphQL error (never a 500)."""

import pytest

from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client

NOT_EXTENDED = ["20270101", "2027-W01-5", "2027W015", "2027-01-01T00:00", " 2027-01-01"]


@pytest.fixture
def client(store, halo_env):
    return authorized_client(create_app({"store": store}), "availability:read")


@pytest.mark.parametrize("value", NOT_EXTENDED)
def test_rest_refuses_a_date_that_is_not_yyyy_mm_dd(client, value):
    answer = client.get("/v1/availability", params={"feed": "acme", "provider_id": "P1", "from": value})
    assert answer.status_code == 422 and "YYYY-MM-DD" in answer.json()["error"], answer.json()


@pytest.mark.parametrize("value", NOT_EXTENDED)
@pytest.mark.parametrize("as_variable", [False, True], ids=["literal", "variable"])
def test_graphql_refuses_a_date_that_is_not_yyyy_mm_dd_with_a_graphql_error(client, value, as_variable):
    if as_variable:
        body = {"query": 'query Q($d: Date) { availableSpans(feed: "acme", providerId: "P1", from: $d, to: $d) { startAt } }',
                "variables": {"d": value}}
    else:
        body = {"query": f'{{ availableSpans(feed: "acme", providerId: "P1", from: "{value}", to: "{value}") {{ startAt }} }}'}
    answer = client.post("/graphql", json=body)
    assert answer.status_code < 500, answer.text
    result = answer.json()
    assert result.get("data") is None and result["errors"], result
    assert "YYYY-MM-DD" in result["errors"][0]["message"], result


def test_graphql_still_takes_a_yyyy_mm_dd_date_and_answers_it_in_that_form(client):
    body = client.post("/graphql", json={"query": 'query Q($d: Date) { a: availableSpans(feed: "acme", providerId: "P1", from: $d, '
                                                  'to: "2027-01-07") { spanDate } }', "variables": {"d": "2027-01-01"}}).json()
    assert body == {"data": {"a": []}}, body
    schema = client.post("/graphql", json={"query": '{ __type(name: "Date") { name kind } }'}).json()
    assert schema == {"data": {"__type": {"name": "Date", "kind": "SCALAR"}}}, schema


NOT_AN_INSTANT = ["2027-01-04", "2027", "2027-01", "20270104T0900Z", "2027-W01-1T09:00Z", "2027-01-04T09", "2027-01-04T09:00+15:00"]


@pytest.mark.parametrize("value", NOT_AN_INSTANT)
@pytest.mark.parametrize("as_variable", [False, True], ids=["literal", "variable"])
def test_graphql_next_available_after_takes_only_a_date_and_time(client, value, as_variable):
    """dateutil's isoparse, behind strawberry's DateTime, read a bare date (or a year) as UTC
    midnight, whatever the feed's time zone; `after` is an instant, written in full."""
    if as_variable:
        body = {"query": 'query Q($a: DateTime) { nextAvailable(feed: "acme", providerId: "P1", durationMinutes: 30, after: $a) '
                         '{ startAt } }', "variables": {"a": value}}
    else:
        body = {"query": f'{{ nextAvailable(feed: "acme", providerId: "P1", durationMinutes: 30, after: "{value}") {{ startAt }} }}'}
    answer = client.post("/graphql", json=body)
    assert answer.status_code < 500, answer.text
    result = answer.json()
    assert result.get("data") is None and "YYYY-MM-DDThh:mm" in result["errors"][0]["message"], result
