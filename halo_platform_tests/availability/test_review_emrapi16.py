"""Review of the availability query side (emrapi16): what the next-slot table, nextAvailable,
/v1/slots and the FHIR read API answer for the same spans, rules and instant."""

import datetime as dt

import pytest
import sqlalchemy as sa

from halo_platform.availability.service import bookable_slots, refresh_next_slots
from halo_platform.availability.tables import NextAvailableSlot
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.fixtures.access import authorized_client

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _every_day(tmp_path, monkeypatch, slot_rules: str, provider: str, hours: tuple[str, str]) -> None:  # noqa: ANN001
    """acme's slot rules (YAML under `slot_rules:`), and `provider` working `hours` UTC every day, landed."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  acme:\n    format: acme\n    slot_rules:\n      {slot_rules}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    week = ",".join(f'"{d}":[["{hours[0]}","{hours[1]}"]]' for d in DAYS)
    land("acme", "hours.jsonl", f'{{"type":"hours","provider":"{provider}","tz":"UTC","week":{{{week}}},"updated_at":"2026-11-01T00:00:00Z"}}\n')


@pytest.fixture
def around_the_clock(store, halo_env, tmp_path, monkeypatch):
    """M works 00:00-24:00 UTC every day: its spans, one a local date, touch at each midnight.
    A slot is 30 minutes on a 15-minute grid and needs the 30 minutes before it free."""
    _every_day(tmp_path, monkeypatch, "default: {duration_minutes: 30, alignment_minutes: 15, buffer_before: 30, max_days_ahead: 366}",
               "M", ("00:00", "00:00"))
    process(store, "2027-03-14", 5)


def test_the_next_slot_table_reads_the_span_its_first_slots_buffer_reaches_back_into(store, around_the_clock):
    """At 00:05, M's first bookable slot is 00:15 (its buffer, 23:45-00:15, is free: the night's
    two spans joined), as /v1/slots lists it; `refresh_next_slots` read only the spans ending
    after now, so not the day before's, and stored 00:30."""
    now = dt.datetime(2027, 3, 15, 0, 5, tzinfo=dt.UTC)
    listed = bookable_slots(store, "acme", "M", first=dt.date(2027, 3, 15), last=dt.date(2027, 3, 15), now=now).slots
    assert listed[0] == (dt.datetime(2027, 3, 15, 0, 15, tzinfo=dt.UTC), dt.datetime(2027, 3, 15, 0, 45, tzinfo=dt.UTC))
    refresh_next_slots(store, "acme", now)
    with store.read() as conn:
        rows = conn.execute(sa.select(NextAvailableSlot.provider_id, NextAvailableSlot.slot_type, NextAvailableSlot.start_at,
                                      NextAvailableSlot.end_at)).all()
    assert rows == [("M", "default", dt.datetime(2027, 3, 15, 0, 15, tzinfo=dt.UTC), dt.datetime(2027, 3, 15, 0, 45, tzinfo=dt.UTC))]


@pytest.mark.parametrize("variables", ["null", ""])
def test_a_graphql_get_with_variables_null_runs_as_a_post_with_variables_null_does(store, halo_env, variables):
    """GET /graphql?...&variables=null (what a client serializing absent variables sends) was a 400
    'the body must be a JSON object: {query, variables?, operationName?}', naming a body a GET has not,
    where a POST whose variables are null runs."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    query = '{ availableSpans(feed: "acme", providerId: "P") { startAt } }'
    assert client.post("/graphql", json={"query": query, "variables": None}).json() == {"data": {"availableSpans": []}}
    answer = client.get("/graphql", params={"query": query, "variables": variables})
    assert answer.status_code == 200 and answer.json() == {"data": {"availableSpans": []}}, answer.text


@pytest.mark.parametrize("name, value, message", [
    ("variables", '"x"', "The GraphQL operation's `variables` must be an object or null, if provided."),
    ("extensions", "5", "The GraphQL operation's `extensions` must be an object or null, if provided."),
    ("variables", "{bad", "the query parameter variables is not JSON"),
])
def test_a_graphql_get_whose_json_parameter_is_wrong_is_refused_naming_the_parameter_not_a_body(store, halo_env, name, value, message):
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/graphql", params={"query": "{ __typename }", name: value})
    assert answer.status_code == 400 and answer.json() == {"error": message, "detail": None}, answer.text


def test_next_available_after_a_fraction_of_a_second_starts_at_or_after_it(store, halo_env):
    """Instants are answered to the whole second: a slot starting at `after` 09:10:00.5 (inside a
    free span, a feed without slot rules) was answered 09:10:00Z-09:40:00Z, starting before the
    `after` asked, and again when asked after that answer. It now starts at the next whole second."""
    land("acme", "hours.jsonl", '{"type":"hours","provider":"P","tz":"UTC","week":{"mon":[["09:00","12:00"]]},"updated_at":"2026-11-01T00:00:00Z"}\n')
    process(store, "2027-03-15", 2)  # a Monday
    client = authorized_client(create_app({"store": store}), "availability:read")
    query = '{ nextAvailable(feed: "acme", providerId: "P", durationMinutes: 30, after: "2027-03-15T09:10:00.5Z") { startAt endAt } }'
    assert client.post("/graphql", json={"query": query}).json() == {
        "data": {"nextAvailable": {"startAt": "2027-03-15T09:10:01Z", "endAt": "2027-03-15T09:40:01Z"}}}


@pytest.fixture
def two_types(store, halo_env, tmp_path, monkeypatch) -> dt.date:
    """P works 09:00-11:00 UTC every day; `short` slots are 30 minutes, `long` ones 60, both on a
    30-minute grid."""
    _every_day(tmp_path, monkeypatch, "default: {alignment_minutes: 30}\n      types: {short: {duration_minutes: 30}, long: {duration_minutes: 60}}",
               "P", ("09:00", "11:00"))
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    process(store, day.isoformat(), 2)
    return day


def test_a_fhir_slot_search_for_a_comma_list_of_service_types_answers_the_slots_of_each(store, two_types):
    """A comma list is an OR in FHIR search, as the search reads `status=free,busy`: `service-type=short,long`
    was a 422 "unknown appointment type 'short,long'". It is the slots of either type, by start,
    each naming its own; an unknown type in the list matches nothing, as a FHIR token does (test_review_fhir_dec7b)."""
    from fhir.resources.R4B.bundle import Bundle

    client = authorized_client(create_app({"store": store}), "availability:read")
    day = two_types.isoformat()
    params = {"schedule": "Schedule/acme.P", "start": [f"ge{day}", f"lt{two_types + dt.timedelta(days=1)}"]}
    answer = client.get("/fhir/Slot", params={**params, "service-type": "short,long"})
    assert answer.status_code == 200, answer.text
    Bundle.model_validate(answer.json())
    found = [(e["resource"]["start"][11:16], e["resource"]["end"][11:16], e["resource"]["serviceType"][0]["text"])
             for e in answer.json()["entry"]]
    assert found == [("09:00", "09:30", "short"), ("09:00", "10:00", "long"), ("09:30", "10:00", "short"), ("09:30", "10:30", "long"),
                     ("10:00", "10:30", "short"), ("10:00", "11:00", "long"), ("10:30", "11:00", "short")]
    assert answer.json()["total"] == 7
    one = client.get("/fhir/Slot", params={**params, "service-type": "long"}).json()
    assert [(e["resource"]["start"][11:16], e["resource"]["serviceType"][0]["text"]) for e in one["entry"]] == [
        ("09:00", "long"), ("09:30", "long"), ("10:00", "long")]
    short = client.get("/fhir/Slot", params={**params, "service-type": "short,surgery"})
    assert short.status_code == 200 and {e["resource"]["serviceType"][0]["text"] for e in short.json()["entry"]} == {"short"}, short.text
