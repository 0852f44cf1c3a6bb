"""EMR availability review 5: the query side of "Beyond the first version" (FHIR Slot search,
slots, group availability) with inputs the other tests do not use. F1 (fhir, Asia/Kolkata,
+05:30 all year) works 09:00-12:00 every day: six free 30-minute slots a day, a week ahead."""

import datetime as dt

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.availability.test_fhir_slots import role
from halo_platform_tests.fixtures.access import authorized_client

FEEDS = """feeds:
  fhir:
    format: fhir
    slot_rules:
      default: {duration_minutes: 30, alignment_minutes: 30}
      types: {long: {duration_minutes: 90}}
"""


@pytest.fixture
def day(halo_env, store, tmp_path, monkeypatch) -> dt.date:
    """A week from today, F1 free 09:00-12:00 IST; processed for it and the day after."""
    (tmp_path / "feeds.yaml").write_text(FEEDS)
    monkeypatch.setenv("HALO_FEEDS_FILE", str(tmp_path / "feeds.yaml"))
    week_ahead = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    land("fhir", "f1.ndjson", role("R1", "F1", "09:00", "12:00") + "\n")
    process(store, week_ahead.isoformat(), 2)
    return week_ahead


@pytest.fixture
def client(store):  # noqa: ANN001, ANN201
    return authorized_client(create_app({"store": store}), "availability:read")


@pytest.mark.parametrize(("name", "value"), [
    ("status:not", "free"),              # asks for the slots that are not free: there are none here
    ("service-type:text", "long"),       # asks for the 90-minute type by its text
    ("start:missing", "true"),           # asks for slots without a start: there are none
    ("schedule:Practitioner", "F1"),     # a type the schedule parameter does not refer to
])
def test_a_fhir_slot_search_parameter_with_a_modifier_the_server_does_not_support_is_refused(client, day, name, value):
    """The search read `status`, `service-type`, `start` and `schedule` by their exact names, so a
    modifier made the parameter unknown and it was ignored: `status:not=free` answered the six free
    slots it excludes, `service-type:text=long` the 30-minute slots of the default type. FHIR R4
    search: a server rejects a search parameter with a modifier it does not support. It is now a
    422 naming the parameter and its modifier, with the OperationOutcome as detail."""
    params = {"schedule": "Schedule/fhir.F1", "start": f"eq{day}", name: value}
    answer = client.get("/fhir/Slot", params=params)
    assert answer.status_code == 422, answer.text
    base, modifier = name.split(":")
    assert answer.json()["error"] == (f"{name}: the modifier :{modifier} is not supported; "
                                      f"search by {base} without a modifier"), answer.text
    OperationOutcome.model_validate(answer.json()["detail"])


@pytest.mark.parametrize("value", ["fhir.F1", "Schedule/fhir.F1"])
def test_a_fhir_slot_search_by_schedule_with_its_type_modifier_answers_as_the_plain_reference(client, day, value):
    """FHIR R4 reference search: `schedule:Schedule=fhir.F1` is `schedule=Schedule/fhir.F1`, the type
    given as the modifier. It was refused as an unsupported modifier (a 422) where clients that
    write references this way got nothing; it is now the same search, and its links name it plainly."""
    plain = client.get("/fhir/Slot", params={"schedule": "Schedule/fhir.F1", "start": f"eq{day}", "_count": "4"}).json()
    answer = client.get("/fhir/Slot", params={"schedule:Schedule": value, "start": f"eq{day}", "_count": "4"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    Bundle.model_validate(body)
    assert body["total"] == 6 and [e["resource"] for e in body["entry"]] == [e["resource"] for e in plain["entry"]], body
    assert [link["url"].split("&_at=")[0] for link in body["link"]] == [link["url"].split("&_at=")[0] for link in plain["link"]]


@pytest.mark.parametrize("prefer", [[("Prefer", "handling=strict")], [("Prefer", "return=minimal, handling=strict")],
                                    [("Prefer", "Handling=Strict")], [("Prefer", "return=minimal"), ("Prefer", "handling=strict")]])
@pytest.mark.parametrize(("name", "value"), [("practitioner", "Practitioner/F1"), ("_summary", "count"), ("_sort", "-start")])
def test_a_strict_fhir_slot_search_refuses_a_parameter_the_server_does_not_support(client, day, prefer, name, value):
    """FHIR R4 search: a server ignores unknown or unsupported parameters unless the client asks
    otherwise with `Prefer: handling=strict`, and then answers an error. The header was not
    read: `practitioner=...` (not a Slot parameter), `_summary=count` (a count only) and `_sort`
    were ignored under it too, and the client took the whole Bundle for what it asked. The
    preference may come in one `Prefer` header among others, or in a header of its own."""
    params = {"schedule": "Schedule/fhir.F1", "start": f"eq{day}", name: value}
    answer = client.get("/fhir/Slot", params=params, headers=prefer)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == (f"{name}: not a search parameter of this server (Prefer: handling=strict); "
                                      "known: schedule, start, status, service-type, _format, _count, _offset, _at"), answer.text
    OperationOutcome.model_validate(answer.json()["detail"])


@pytest.mark.parametrize("prefer", [None, "handling=lenient"])
def test_a_lenient_fhir_slot_search_still_ignores_an_unsupported_parameter(client, day, prefer):
    """Without `handling=strict` the unknown parameter is ignored, as before, and the self link
    shows what the search used."""
    headers = {"Prefer": prefer} if prefer else {}
    answer = client.get("/fhir/Slot", params={"schedule": "Schedule/fhir.F1", "start": f"eq{day}", "_sort": "-start"}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    Bundle.model_validate(body)
    assert body["total"] == 6 and "_sort" not in body["link"][0]["url"], body


@pytest.mark.parametrize("name", ["_count", "_offset"])
def test_a_fhir_slot_page_size_or_offset_of_thousands_of_digits_is_a_422_not_a_500(store, day, name):
    """`_count` or `_offset` of 5,000 digits passed the digits check and then Python's int() refused
    it (more than 4,300 digits): a ValueError out of the route, a 500. Numbers that long are now
    refused as the other malformed ones are; the largest whole numbers a client sends for "all"
    (2147483647, 18 digits) are still pages."""
    client = authorized_client(create_app({"store": store}), "availability:read", raise_server_exceptions=False)
    params = {"schedule": "Schedule/fhir.F1", "start": f"eq{day}"}
    answer = client.get("/fhir/Slot", params={**params, name: "9" * 5000})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == f"{name}: expected a whole number >= 0 of at most 18 digits, got 5000 digits", answer.text
    for big in ("2147483647", "9" * 18, "0" * 40 + "2"):
        answer = client.get("/fhir/Slot", params={**params, name: big})
        assert answer.status_code == 200 and answer.json()["total"] == 6, (big, answer.text)


GROUP = 'query Q($ids: [String!]!) { groupAvailability(feed: "fhir", providerIds: $ids) { startAt } }'


def test_graphql_refuses_21_group_members_naming_its_own_argument(client, day):
    """groupAvailability with 21 providers was refused as "provider_ids: at most 20 providers",
    REST's parameter, where GraphQL's argument is providerIds (its blank members are refused
    naming providerIds). Each route now names its own; ids the same once trimmed count once."""
    ids = [f"P{i}" for i in range(21)]
    body = client.post("/graphql", json={"query": GROUP, "variables": {"ids": ids}}).json()
    assert body["data"] is None and body["errors"][0]["message"] == "providerIds: at most 20 providers, got 21", body
    rest = client.get("/v1/availability/group", params={"feed": "fhir", "provider_ids": ",".join(ids)})
    assert rest.status_code == 422 and rest.json()["error"] == "provider_ids: at most 20 providers, got 21", rest.text
    body = client.post("/graphql", json={"query": GROUP, "variables": {"ids": [*ids[:20], " P0"]}}).json()
    assert "errors" not in body, body
