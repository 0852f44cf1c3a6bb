"""GET /fhir/Slot: a searchset Bundle of free Slots built from the spans and the slot rules, valid
against fhir.resources' R4B models; schedules a feed received (several actors: free together) or
`<feed>.<provider>`; local days in the schedule's timezone; bad searches are 422s whose detail is
an OperationOutcome.

Asia/Kolkata is +05:30 all year: F1 works 09:00-12:00 and is booked 10:00-10:30, F2 works
10:00-13:00 (local), on a day a week ahead."""

import datetime as dt
import uuid

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.slot import Slot

from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.fixtures.access import authorized_client

TZ = '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"Asia/Kolkata"}]'
DAYS = '["mon","tue","wed","thu","fri","sat","sun"]'
META = '"meta":{"lastUpdated":"2026-11-20T12:00:00Z"}'


def role(rid: str, practitioner: str, start: str, end: str) -> str:
    return (f'{{"resourceType":"PractitionerRole","id":"{rid}",{META},{TZ},"practitioner":{{"reference":"Practitioner/{practitioner}"}},'
            f'"availableTime":[{{"daysOfWeek":{DAYS},"availableStartTime":"{start}:00","availableEndTime":"{end}:00"}}]}}')


@pytest.fixture
def feeds_file(halo_env, tmp_path, monkeypatch):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  fhir:\n    format: fhir\n    slot_rules: {default: {duration_minutes: 30, alignment_minutes: 30}}\n"
                     "  acme: {format: acme}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))


@pytest.fixture
def day(feeds_file, store) -> dt.date:
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    land("fhir", "resources.ndjson", "\n".join([
        role("R1", "F1", "09:00", "12:00"), role("R2", "F2", "10:00", "13:00"),
        f'{{"resourceType":"Appointment","id":"A1",{META},"status":"booked","start":"{day}T10:00:00+05:30","end":"{day}T10:30:00+05:30",'
        '"participant":[{"actor":{"reference":"Practitioner/F1"}}]}',
        f'{{"resourceType":"Schedule","id":"S1",{META},"actor":[{{"reference":"Practitioner/F1"}}]}}',
        f'{{"resourceType":"Schedule","id":"S2",{META},"actor":[{{"reference":"Practitioner/F1"}},{{"reference":"Practitioner/F2"}}]}}',
    ]) + "\n")
    process(store, day.isoformat(), 3)
    return day


def search(store, **params) -> tuple[int, dict]:
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/fhir/Slot", params={k.replace("_", "-"): v for k, v in params.items()})
    assert answer.headers["content-type"].startswith("application/fhir+json" if answer.status_code == 200 else "application/json")
    return answer.status_code, answer.json()


def starts(body: dict) -> list[str]:
    """The Slots' UTC start times, after validating the Bundle and each Slot against R4B."""
    bundle = Bundle.model_validate(body)
    assert bundle.type == "searchset" and bundle.total == len(body.get("entry", ()))
    assert body.get("entry") != []  # FHIR JSON has no empty arrays
    for entry in body.get("entry", ()):
        slot = Slot.model_validate(entry["resource"])
        assert slot.status == "free" and entry["fullUrl"] == f"urn:uuid:{slot.id}" and str(uuid.UUID(slot.id)) == slot.id
    return [e["resource"]["start"][11:16] for e in body.get("entry", ())]


def test_a_received_schedule_answers_its_free_slots_on_its_local_day(store, day):
    status, body = search(store, schedule="Schedule/S1", start=[f"ge{day}", f"lt{day + dt.timedelta(days=1)}"], status="free")
    assert status == 200
    assert starts(body) == ["03:30", "04:00", "05:00", "05:30", "06:00"]  # 09:00, 09:30, 10:30, 11:00, 11:30 IST
    assert {e["resource"]["schedule"]["reference"] for e in body["entry"]} == {"Schedule/S1"}
    assert body["entry"][0]["resource"]["end"][11:16] == "04:00"


def test_a_schedule_of_two_actors_has_the_slots_when_both_are_free(store, day):
    status, body = search(store, schedule="Schedule/S2", start=f"eq{day}")
    assert starts(body) == ["05:00", "05:30", "06:00"]  # 10:30-12:00 IST


def test_a_feeds_provider_is_a_schedule_and_instants_bound_the_starts(store, day):
    status, body = search(store, schedule="Schedule/fhir.F1", start=[f"ge{day}T04:00:00Z", f"lt{day}T05:30:00Z"])
    assert starts(body) == ["04:00", "05:00"]


def test_starts_after_and_ends_before_bound_the_starts_as_fhir_defines_them(store, day):
    """`sa` (starts after) and `eb` (ends before), FHIR's other range prefixes: a Slot's start is an
    instant, so `sa` takes the starts after the value's whole range and `eb` those before it
    began (they were refused as malformed). `ne` and `ap` are refused by name."""
    status, body = search(store, schedule="Schedule/S1", start=[f"sa{day}T04:00:00Z", f"eb{day}T06:00:00Z"])
    assert (status, starts(body)) == (200, ["05:00", "05:30"])
    status, body = search(store, schedule="Schedule/S1", start=[f"sa{day - dt.timedelta(days=1)}", f"eb{day + dt.timedelta(days=1)}"])
    assert starts(body) == ["03:30", "04:00", "05:00", "05:30", "06:00"]  # the local day between the two
    for prefix in ("ne", "ap"):
        status, body = search(store, schedule="Schedule/S1", start=f"{prefix}{day}")
        assert (status, body["error"]) == (422, f"start: the prefix {prefix} is not supported here; use eq, ge, gt, le, lt, sa or eb")


def test_every_entrys_full_url_is_one_a_client_can_use(store, day):
    """A Slot here is computed from the spans, not stored: its id is a digest of (schedule, type,
    start) and cannot be read back, and `GET /fhir/Slot/<id>` is no route. The entries' fullUrl was
    `{base}/fhir/Slot/<id>`, a URL that answered 404; it is now `urn:uuid:<id>` (the id a UUID),
    which FHIR allows for resources that are not to be resolved, and the same Slot keeps its id
    from one search to the next."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    params = {"schedule": "Schedule/S1", "start": [f"ge{day}", f"lt{day + dt.timedelta(days=1)}"]}
    body = client.get("/fhir/Slot", params=params).json()
    assert body["entry"]
    for entry in body["entry"]:
        url = entry["fullUrl"]
        if not url.startswith("urn:uuid:"):
            answer = client.get(url)
            assert answer.status_code == 200, (url, answer.status_code, answer.text)
        else:
            assert str(uuid.UUID(url.removeprefix("urn:uuid:"))) == url.removeprefix("urn:uuid:") == entry["resource"]["id"]
    again = client.get("/fhir/Slot", params=params).json()
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in body["entry"]]
    assert len({e["fullUrl"] for e in body["entry"]}) == len(body["entry"])


@pytest.mark.parametrize("params", [
    {"schedule": "Schedule/nope"},
    {"schedule": "Schedule/S1", "status": "busy"},
    {"schedule": "Schedule/S1", "start": ["ge2027-02-02", "lt2027-02-01"]},
])
def test_searches_matching_nothing_are_empty_bundles(store, day, params):
    status, body = search(store, **params)
    assert status == 200 and starts(body) == [] and body["total"] == 0


@pytest.mark.parametrize("params, reason", [
    ({}, "schedule: give exactly one"),
    ({"schedule": "Schedule/S 1"}, "schedule: expected Schedule/<id>"),
    ({"schedule": "Schedule/S1", "start": "yesterday"}, "start: expected"),
    ({"schedule": "Schedule/S1", "start": "ge2027-13-01"}, "start: expected"),
    # a trailing line break (`$` matches before one): an id and a date with one were taken
    ({"schedule": "Schedule/S1\n"}, "schedule: expected Schedule/<id>"),
    ({"schedule": "Schedule/S1", "start": "ge2027-01-01\n"}, "start: expected"),
    # FHIR's dateTime: minutes whenever an hour is given, and offsets within -14:00..+14:00
    ({"schedule": "Schedule/S1", "start": "ge2027-01-01T10"}, "start: expected"),
    ({"schedule": "Schedule/S1", "start": "ge2027-01-01T10Z"}, "start: expected"),
    ({"schedule": "Schedule/S1", "start": "ge2027-01-01T10:00+15:00"}, "start: expected"),
    ({"schedule": "Schedule/S1", "start": "ge2027-01-01T10:00-14:30"}, "start: expected"),
    ({"schedule": "Schedule/S1", "start": "ge2027-01-01T10:00:00.5.5"}, "start: expected"),
    ({"schedule": "Schedule/S1", "start": "ge2027-01-01T1000"}, "start: expected"),
    ({"schedule": "Schedule/S1", "start": "ge\u0662\u0660\u0662\u0667"}, "start: expected"),  # Arabic-Indic digits
    ({"schedule": "Schedule/S1", "start": "ge2027-\u0660\u0661"}, "start: expected"),
    ({"schedule": "Schedule/S1", "status": "open"}, "status: unknown 'open'"),
])
def test_bad_searches_are_422_with_an_operation_outcome(store, feeds_file, params, reason):
    status, body = search(store, **params)
    outcome = OperationOutcome.model_validate(body["detail"])
    assert status == 422 and reason in body["error"] and outcome.issue[0].diagnostics == body["error"]


def test_a_schedule_of_more_actors_than_a_group_takes_is_refused_before_any_span_is_read(store, feeds_file, day):
    """A received Schedule's actors come from feed data: 21 of them were searched together (each
    of them over up to a year), past the 20 providers a group search takes."""
    actors = ",".join(f'{{"reference":"Practitioner/P{i}"}}' for i in range(21))
    land("fhir", "big.ndjson", f'{{"resourceType":"Schedule","id":"S21",{META},"actor":[{actors}]}}\n')
    process(store, day.isoformat(), 1)
    status, body = search(store, schedule="Schedule/S21", start=f"eq{day}")
    assert status == 422 and body["error"] == "at most 20 providers are searched free together, this schedule has 21", body
    status, body = search(store, schedule="Schedule/S2", start=f"eq{day}")  # two actors: as before
    assert status == 200 and starts(body) == ["05:00", "05:30", "06:00"]


def test_the_fhir_api_needs_the_read_scope(store, halo_env):
    client = authorized_client(create_app({"store": store}), "tasks:read")
    assert client.get("/fhir/Slot", params={"schedule": "Schedule/S1"}).status_code == 403


@pytest.mark.parametrize("status, found", [
    (["free", "busy"], []),  # no Slot is both
    (["free", "free,busy"], ["03:30", "04:00", "05:00", "05:30", "06:00"]),
    (["busy,free"], ["03:30", "04:00", "05:00", "05:30", "06:00"]),
    (["busy,busy-tentative"], []),
])
def test_repeated_status_parameters_are_anded_and_a_comma_list_is_ored(store, day, status, found):
    """FHIR R4 search: each repetition of a parameter must match; status=free&status=busy answered every free Slot."""
    code, body = search(store, schedule="Schedule/S1", start=[f"ge{day}", f"lt{day + dt.timedelta(days=1)}"], status=status)
    assert code == 200 and starts(body) == found


@pytest.mark.parametrize("start", [
    ["ge2199-12-30"],  # the default week ends on the calendar's last day
    ["ge2199-12-31T23:00:00-05:00"],  # after the calendar's last instant: nothing to find
    ["gt2199-12-31"],
    ["lt1900-01-01T03:00:00+05:30", "ge1900-01-01T00:00:00+05:30"],  # before its first
])
def test_a_start_at_the_ends_of_the_calendar_searches_what_is_inside_it(store, feeds_file, start):
    """The default end (a week after `start`) was checked as a `to` the search does not have:
    `start=ge2199-12-30` was refused naming `to: 2200-01-05`."""
    code, body = search(store, schedule="Schedule/acme.P1", start=start)
    assert code == 200 and body["total"] == 0, body


@pytest.mark.parametrize("start", [["ge2027-01-01", "lt2029-01-01"], ["gt2027-01-01T00:00:00Z", "le2028-01-05"]])
def test_a_start_range_longer_than_the_limit_searches_the_days_slots_can_start_on(store, feeds_file, start):
    """Slots start up to max_days_ahead (60 days) after now: those days are searched, not the
    range's 366 and more (test_review_fhir19 has the range still too long, and refused)."""
    code, body = search(store, schedule="Schedule/fhir.F1", start=start)
    assert code == 200 and body["total"] == 0, body


@pytest.mark.parametrize("params, headers", [
    ({"_format": "xml"}, {}),
    ({"_format": "application/fhir+xml"}, {}),
    ({"_format": "ttl"}, {}),
    ({}, {"Accept": "application/fhir+xml"}),
    ({}, {"Accept": "application/xml, text/xml;q=0.9"}),
    ({"_format": "json"}, {"Accept": "application/fhir+xml"}),  # the parameter overrides the header, as FHIR says
])
def test_a_search_asking_for_a_format_other_than_json_is_406(store, day, params, headers):
    """Only JSON is served. `_format=xml` (or an Accept of XML only) was answered JSON with a 200,
    which an XML client fails to parse, blaming the data instead of the request."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/fhir/Slot", params={"schedule": "Schedule/S1", **params}, headers=headers)
    if params.get("_format") == "json":
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/fhir+json")
        return
    body = answer.json()
    assert answer.status_code == 406 and "only JSON" in body["error"], body
    assert OperationOutcome.model_validate(body["detail"]).issue[0].diagnostics == body["error"]


@pytest.mark.parametrize("params, headers, served", [
    ({"_format": "json"}, {}, "application/fhir+json"),
    ({"_format": "application/fhir+json"}, {}, "application/fhir+json"),
    ({"_format": "application/fhir+json; fhirVersion=4.0"}, {}, "application/fhir+json"),
    ({"_format": "application/json"}, {}, "application/json"),  # the type asked for (test_review_http24_fhir_type)
    ({}, {"Accept": "application/fhir+json"}, "application/fhir+json"),
    ({}, {"Accept": "application/json, text/plain, */*"}, "application/json"),
    ({}, {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, "application/fhir+json"),  # a browser
    ({}, {"Accept": "application/*"}, "application/fhir+json"),
])
def test_json_formats_and_accepts_are_answered(store, day, params, headers, served):
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/fhir/Slot", params={"schedule": "Schedule/S1", **params}, headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == f"{served}; charset=utf-8", answer.text
