"""Spec review of emr.md: a FHIR Slot search's `_count` (FHIR R4: a server may return fewer
resources than `_count` asks, never more) and GraphQL group spans written in UTC, as every other
instant of the availability API is, also where a span is clipped at a provider's local midnight."""

import datetime as dt

import pytest

from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.fixtures.access import authorized_client

TZ = '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"Asia/Kolkata"}]'
DAYS = '["mon","tue","wed","thu","fri","sat","sun"]'
META = '"meta":{"lastUpdated":"2026-11-20T12:00:00Z"}'
ROLE = (f'{{"resourceType":"PractitionerRole","id":"R1",{META},{TZ},"practitioner":{{"reference":"Practitioner/F1"}},'
        f'"availableTime":[{{"daysOfWeek":{DAYS},"availableStartTime":"09:00:00","availableEndTime":"12:00:00"}}]}}')


@pytest.fixture
def day(halo_env, store, tmp_path, monkeypatch) -> dt.date:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  fhir:\n    format: fhir\n    slot_rules: {default: {duration_minutes: 30, alignment_minutes: 30}}\n"
                     "  hl7: {format: hl7}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    land("fhir", "roles.ndjson", ROLE + "\n")
    process(store, day.isoformat(), 2)
    return day


def _slots(store, **params):  # noqa: ANN001, ANN003, ANN202
    client = authorized_client(create_app({"store": store}), "availability:read")
    return client.get("/fhir/Slot", params={"schedule": "Schedule/fhir.F1", **params})


@pytest.mark.parametrize("count, entries", [("2", 2), ("0", 0), ("100", 6)])
def test_a_fhir_slot_search_returns_no_more_entries_than_count_asks(store, day, count, entries):
    """F1 has six free 30-minute slots that day (09:00-12:00 IST). `_count=2` answered all six:
    FHIR R4 search says a server is not bound to return the number `_count` asks, but cannot
    return more. The total stays the number of matches."""
    answer = _slots(store, start=f"eq{day}", _count=count)
    body = answer.json()
    assert answer.status_code == 200 and body["total"] == 6, body
    assert len(body.get("entry", [])) == entries, body


@pytest.mark.parametrize("count", ["abc", "-1", "1.5", ""])
def test_a_fhir_slot_search_with_a_count_that_is_no_count_is_a_422(store, day, count):
    answer = _slots(store, start=f"eq{day}", _count=count)
    assert answer.status_code == 422 and answer.json()["error"].startswith("_count: expected"), answer.text


def test_graphql_group_spans_are_utc_instants_also_where_clipped_at_a_local_midnight(store, halo_env):
    """A provider's free time was clipped to its own local dates (now: to the instants of the dates'
    spans, test_review_group_dec7b); the clipped ends came out of
    GraphQL at the provider's offset ("2027-03-14T00:00:00-05:00") beside UTC ones, so that a span
    read as text ended before it started. REST writes them in UTC."""
    land("hl7", "t.csv", "provider_id,timezone,weekday,start,end,version\n" + "".join(
        f"DR2,America/New_York,{d},22:00,03:00,2027-01-01T00:00:00Z\nDR3,Asia/Kolkata,{d},09:00,17:00,2027-01-01T00:00:00Z\n"
        for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")))
    process(store, "2027-03-10", 10)
    client = authorized_client(create_app({"store": store}), "availability:read")
    body = client.post("/graphql", json={"query": '{ groupAvailability(feed: "hl7", providerIds: ["DR2", "DR3"], mode: ANY, '
                                                  'from: "2027-03-14", to: "2027-03-14") { startAt endAt providerIds } }'}).json()
    # the instants of the 14th's spans (DR3's day, DR2's night into the 15th, EDT since 02:00), with who
    # is free then: DR2 still in the 13th's night (to 03:00 EDT, 07:00Z), DR3 in the 15th's day
    assert body["data"]["groupAvailability"] == [
        {"startAt": "2027-03-14T03:30:00Z", "endAt": "2027-03-14T07:00:00Z", "providerIds": ["DR2", "DR3"]},
        {"startAt": "2027-03-14T07:00:00Z", "endAt": "2027-03-14T11:30:00Z", "providerIds": ["DR3"]},
        {"startAt": "2027-03-15T02:00:00Z", "endAt": "2027-03-15T03:30:00Z", "providerIds": ["DR2"]},
        {"startAt": "2027-03-15T03:30:00Z", "endAt": "2027-03-15T07:00:00Z", "providerIds": ["DR2", "DR3"]},
    ], body


# --- a provider id read the same way by every route: trimmed, as the group routes and the Availability page read it ---

def _graphql(client, query: str, **variables) -> dict:  # noqa: ANN001
    return client.post("/graphql", json={"query": query, "variables": variables}).json()


SPANS = "query Q($p: String!, $d: Date) { availableSpans(feed: \"fhir\", providerId: $p, from: $d, to: $d) { startAt endAt } }"
SLOTS = "query Q($p: String!, $d: Date) { slots(feed: \"fhir\", providerId: $p, from: $d, to: $d) { startAt endAt } }"
NEXT = "query Q($p: String!) { nextAvailable(feed: \"fhir\", providerId: $p, durationMinutes: 30) { startAt endAt } }"


@pytest.mark.parametrize("padded", [" F1", "F1 ", "\tF1\n"])
def test_every_route_reads_a_padded_provider_id_as_the_group_route_does(store, day, padded):
    """`/v1/availability/group?provider_ids= F1` (and GraphQL's groupAvailability) read " F1" as
    F1, while `/v1/availability?provider_id=%20F1`, `/v1/slots`, GraphQL's availableSpans, slots
    and nextAvailable and `halo emr spans/slots --provider " F1"` looked up " F1", found nobody
    and answered nothing: one provider id, two readings."""
    from click.testing import CliRunner

    from halo_platform.cli import cli

    client = authorized_client(create_app({"store": store}), "availability:read")
    params = {"feed": "fhir", "from": day.isoformat(), "to": day.isoformat()}
    group = client.get("/v1/availability/group", params={**params, "provider_ids": padded}).json()
    assert [(g["start_at"], g["end_at"]) for g in group["spans"]] == [(f"{day}T03:30:00Z", f"{day}T06:30:00Z")], group
    for path in ("/v1/availability", "/v1/slots"):
        # the feed's lag is read at each request: two requests a second apart differ in it
        exact, read = ({k: v for k, v in client.get(path, params={**params, "provider_id": p}).json().items() if k != "freshness"}
                       for p in ("F1", padded))
        assert read == exact and read["provider_id"] == "F1" and (read.get("spans") or read.get("slots")), (path, read)
    for query in (SPANS, SLOTS, NEXT):
        exact, read = (_graphql(client, query, p=p, d=day.isoformat()) for p in ("F1", padded))
        assert read == exact and "errors" not in read and next(iter(read["data"].values())), (query, read)
    for command in ("spans", "slots"):
        args = ["emr", command, "--feed", "fhir", "--from", day.isoformat(), "--to", day.isoformat(), "--format", "json"]
        exact, read = (CliRunner().invoke(cli, [*args, "--provider", p]) for p in ("F1", padded))
        assert read.exit_code == 0 and read.output == exact.output, (command, read.output)


def test_a_blank_provider_id_is_refused_by_every_route_naming_its_own_argument(store, day):
    """A blank id (" ") was looked up as it was and found nobody (REST, GraphQL, CLI), while
    nextAvailable with "" answered "no free 30-minute slot for fhir/ after ..."."""
    from click.testing import CliRunner

    from halo_platform.cli import cli

    client = authorized_client(create_app({"store": store}), "availability:read")
    for path in ("/v1/availability", "/v1/slots"):
        for blank in ("", " "):
            answer = client.get(path, params={"feed": "fhir", "provider_id": blank})
            assert answer.status_code == 422 and answer.json()["error"] == "provider_id is required", (path, answer.text)
    for query in (SPANS, SLOTS, NEXT):
        for blank in ("", " "):
            body = _graphql(client, query, p=blank)
            assert body["data"] is None and body["errors"][0]["message"] == "providerId is required", (query, body)
    for command in ("spans", "slots"):
        result = CliRunner().invoke(cli, ["emr", command, "--feed", "fhir", "--provider", " "])
        assert result.exit_code == 2 and result.output == "error: --provider is required\n", (command, result.output)


GROUP = "query Q($ids: [String!]!) { groupAvailability(feed: \"fhir\", providerIds: $ids) { startAt } }"


@pytest.mark.parametrize("ids", [[], [" "], ["F1", ""]])
def test_graphql_refuses_a_blank_group_member_naming_its_own_argument_and_form(store, day, ids):
    """GraphQL's groupAvailability takes a list: a blank member was refused as "provider_ids:
    expected a comma-separated list of provider ids", REST's argument and REST's form."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    body = _graphql(client, GROUP, ids=ids)
    assert body["data"] is None and body["errors"][0]["message"] == (
        "providerIds: expected a list of provider ids, none of them blank"), body
    rest = client.get("/v1/availability/group", params={"feed": "fhir", "provider_ids": "F1, "})
    assert rest.status_code == 422 and rest.json()["error"] == (
        "provider_ids: expected a comma-separated list of provider ids, none of them blank"), rest.text


def test_the_cost_budget_weighs_a_padded_provider_s_slots_by_that_provider_s_rules(halo_env, store, tmp_path, monkeypatch):
    """`slots(providerId: " G1")` is G1's slots, at G1's 1-minute alignment: the budget weighs its
    day as 15, as it weighs G1's."""
    from halo_platform.availability.api import MAX_QUERY_COST

    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  fine:\n    format: acme\n    slot_rules: {providers: {G1: {default: {alignment_minutes: 1}}}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    client = authorized_client(create_app({"store": store}), "availability:read")
    days = MAX_QUERY_COST // (20 * 15) + 1  # one day more than 20 aliases at G1's weight may ask
    last = dt.date(2027, 1, 1) + dt.timedelta(days=days - 1)
    for provider in ("G1", " G1"):
        query = "{ " + " ".join(f'a{i}: slots(feed: "fine", providerId: "{provider}", from: "2027-01-01", to: "{last}") {{ startAt }}'
                                for i in range(20)) + " }"
        body = _graphql(client, query)
        assert body["data"] is None and body["errors"][0]["message"].startswith(
            f"query too costly: it asks for {20 * days * 15} provider-days"), (provider, body)


def test_a_fhir_slot_search_by_pages_reaches_every_slot_through_its_next_links(store, day):
    """`_count=2` answered the first two of F1's six slots and no `next` link: a client could not
    get the other four (FHIR R4 search: the server gives the links to the other pages). Each page
    now links its `next` (and `previous`), and following them gives every slot once, in order."""
    from fhir.resources.R4B.bundle import Bundle

    client = authorized_client(create_app({"store": store}), "availability:read")
    whole = client.get("/fhir/Slot", params={"schedule": "Schedule/fhir.F1", "start": f"eq{day}"}).json()
    url, pages, seen = f"/fhir/Slot?schedule=Schedule/fhir.F1&start=eq{day}&_count=2&foo=bar", [], []
    while url:
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        Bundle.model_validate(body)
        links = {link["relation"]: link["url"] for link in body["link"]}
        assert body["total"] == 6 and "foo" not in links["self"], links  # the self link names what the search used
        assert ("previous" in links) == bool(pages)
        pages.append(len(body.get("entry", [])))
        seen += [e["resource"]["id"] for e in body.get("entry", [])]
        url = links.get("next")
    assert pages == [2, 2, 2] and seen == [e["resource"]["id"] for e in whole["entry"]]
    assert "next" not in {link["relation"] for link in whole["link"]}  # no _count: one page


@pytest.mark.parametrize("offset", ["abc", "-1", "1.5", ""])
def test_a_fhir_slot_page_offset_that_is_no_offset_is_a_422(store, day, offset):
    answer = _slots(store, start=f"eq{day}", _count="2", _offset=offset)
    assert answer.status_code == 422 and answer.json()["error"].startswith("_offset: expected"), answer.text
