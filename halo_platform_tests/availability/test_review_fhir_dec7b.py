"""Review fhir dec7b: a FHIR Slot search reads `service-type` as FHIR reads a token (a code no slot
rule defines matches nothing; `system|code` matches only codings of that system, and the Slots'
have none), answers `POST /fhir/Slot/_search` as it answers GET (FHIR R4 http.html), and slot
rules' `max_days_ahead` counts days on the provider's local calendar, not 24-hour steps.

The FHIR fixtures are test_review_fhir19's: Asia/Kolkata (+05:30), F1 works 09:00-12:00 local and
is booked 10:00-10:30 on `day`, a week ahead: 5 default (30-minute) slots, 10 `short` (15-minute)
ones. The DST fixture is an acme provider in Europe/Berlin or America/New_York working 08:00-12:00
local every day, 30-minute slots bookable 7 days ahead."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from halo_platform.access import users
from halo_platform.availability import pipeline
from halo_platform.availability.fhir_api import search_slots
from halo_platform.availability.slots import SlotRules, bookable
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.availability.test_fhir_slots import day  # noqa: F401 (fixture)
from halo_platform_tests.availability.test_review_fhir19 import feeds_file  # noqa: F401 (fixture)
from halo_platform_tests.fixtures.access import authorized_client, signed_in_client

BASE = "http://testserver/fhir/Slot"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def types_found(body: dict) -> list[str]:
    """The serviceType code of each entry, after validating the Bundle against R4B."""
    bundle = Bundle.model_validate(body)
    assert bundle.type == "searchset" and bundle.total >= len(body.get("entry", ()))
    return [e["resource"]["serviceType"][0]["coding"][0]["code"] for e in body.get("entry", ())]


def get(store, params: dict, scope: str = "availability:read"):  # noqa: ANN001, ANN201
    return authorized_client(create_app({"store": store}), scope).get("/fhir/Slot", params=params)


@pytest.mark.parametrize("asked, found", [
    ("surgery", []),
    ("short,surgery", ["short"] * 10),  # an OR: the unknown code adds nothing
])
def test_a_service_type_no_slot_rule_defines_matches_nothing_as_a_fhir_token_search_does(store, day, asked, found):  # noqa: F811
    """FHIR search: a token matching no resource answers an empty searchset, not an error. An
    appointment type the feed's rules do not name was a 422 'unknown appointment type', and in a
    comma list (an OR) it refused the types that were known."""
    answer = get(store, {"schedule": "Schedule/fhir.F1", "start": f"eq{day}", "service-type": asked})
    assert answer.status_code == 200, answer.text
    assert sorted(types_found(answer.json())) == found and answer.json()["total"] == len(found)


@pytest.mark.parametrize("params, reason", [
    ({"service-type": "short,"}, "service-type: expected"),  # an empty item is malformed, not unknown
    ({"service-type": "|"}, "service-type: expected"),  # neither a system nor a code
    ({"status": "open"}, "status: unknown 'open'"),  # Slot.status is a closed code set: refused, as before
])
def test_a_malformed_token_is_still_a_422_with_an_operation_outcome(store, day, params, reason):  # noqa: F811
    answer = get(store, {"schedule": "Schedule/fhir.F1", "start": f"eq{day}", **params})
    assert answer.status_code == 422 and reason in answer.json()["error"], answer.text
    assert OperationOutcome.model_validate(answer.json()["detail"]).issue[0].diagnostics == answer.json()["error"]


@pytest.mark.parametrize("asked, found", [
    ("short", ["short"] * 10),  # a code alone: any system
    ("|short", ["short"] * 10),  # codes without a system: the Slots' are
    ("http://example.org/slot-types|short", []),  # only codings of that system: the Slots' have none
    ("http://example.org/slot-types|", []),  # any code of that system
    ("http://example.org/slot-types|short,default", ["default"] * 5),
    ("|short,|default", ["default"] * 5 + ["short"] * 10),
])
def test_a_service_type_token_matches_the_system_as_fhir_defines_it(store, day, asked, found):  # noqa: F811
    """`system|code` matched the code whatever the system (the system was dropped), so a client
    asking for a type of its own terminology got ours. The Slots' codings have no system: `code`
    and `|code` match them, `system|code` and `system|` match none."""
    answer = get(store, {"schedule": "Schedule/fhir.F1", "start": f"eq{day}", "service-type": asked})
    assert answer.status_code == 200, answer.text
    assert sorted(types_found(answer.json())) == found and answer.json()["total"] == len(found)


def test_a_search_posted_as_a_form_answers_what_the_same_get_answers(store, day):  # noqa: F811
    """FHIR R4 http.html: `POST [base]/[type]/_search` with form-encoded parameters, in the body and
    the URL both, SHALL be treated as the GET search. It was a 404. Its links are GET searches."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    params = {"schedule": "Schedule/fhir.F1", "start": f"eq{day}", "service-type": "short", "_count": "4"}
    got = client.get("/fhir/Slot", params=params)
    posted = client.post("/fhir/Slot/_search", data=params)
    split = client.post("/fhir/Slot/_search", params={"schedule": "Schedule/fhir.F1"},
                        data={k: v for k, v in params.items() if k != "schedule"})
    for answer in (posted, split):
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/fhir+json; charset=utf-8"
        body = answer.json()
        assert types_found(body) == ["short"] * 4 and body["total"] == 10
        assert body["entry"] == got.json()["entry"]
        assert [link["relation"] for link in body["link"]] == ["self", "next"]
        assert all(link["url"].startswith(f"{BASE}?") for link in body["link"]), body["link"]
    assert client.post("/fhir/Slot/_search", data={**params, "_format": "json"}).headers["content-type"].startswith("application/fhir+json")
    assert client.post("/fhir/Slot/_search", data={**params, "_format": "application/json"}).headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("content, headers, status, reason", [
    (b'{"schedule": "Schedule/fhir.F1"}', {"Content-Type": "application/json"}, 415, "application/x-www-form-urlencoded"),
    (b"schedule=Schedule%2Ffhir.F%FF1", FORM, 422, "UTF-8"),
    (b"schedule=Schedule%2FS%201", FORM, 422, "schedule: expected Schedule/<id>"),
    (b"schedule=Schedule%2Ffhir.F1&service-type=short%2C", FORM, 422, "service-type: expected"),
])
def test_a_posted_search_the_server_cannot_read_is_a_4xx_with_an_operation_outcome(store, day, content, headers, status, reason):  # noqa: F811
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.post("/fhir/Slot/_search", content=content, headers=headers)
    assert answer.status_code == status and reason in answer.json()["error"], answer.text
    assert OperationOutcome.model_validate(answer.json()["detail"]).issue[0].diagnostics == answer.json()["error"]


def test_a_posted_search_needs_an_identity_and_the_read_scope(store, day):  # noqa: F811
    app = create_app({"store": store})
    data = {"schedule": "Schedule/fhir.F1"}
    assert TestClient(app).post("/fhir/Slot/_search", data=data).status_code == 401
    assert authorized_client(app, "tasks:read").post("/fhir/Slot/_search", data=data).status_code == 403
    assert authorized_client(app, "availability:read").post("/fhir/Slot/_search", data=data).status_code == 200


# (zone, now, the day the horizon falls on, the slots that day's 08:00-12:00 local has, UTC)
DST = [
    # Berlin springs forward on 2026-03-29: 7 days after 09:00 CET is 09:00 CEST (07:00Z), not 10:00
    ("Europe/Berlin", "2026-03-22T08:00:00+00:00", "2026-03-29", ["06:00", "06:30"]),
    # New York springs forward on 2026-03-08: 09:00 EDT (13:00Z), not 10:00
    ("America/New_York", "2026-03-01T14:00:00+00:00", "2026-03-08", ["12:00", "12:30"]),
    # and falls back on 2026-11-01: 09:00 EST (14:00Z), not 08:00, which left none that day
    ("America/New_York", "2026-10-25T13:00:00+00:00", "2026-11-01", ["13:00", "13:30"]),
]


@pytest.mark.parametrize("zone, now, horizon_day, found", DST)
def test_max_days_ahead_ends_at_the_same_local_clock_time_across_a_dst_change(zone, now, horizon_day, found):
    """`max_days_ahead: 7` from 09:00 local is up to 09:00 local 7 days later: it was 7 x 24 hours,
    an hour off the provider's clock when the clocks changed in between."""
    tz = ZoneInfo(zone)
    on = dt.date.fromisoformat(horizon_day)
    free = [(dt.datetime.combine(on, dt.time(8), tzinfo=tz).astimezone(dt.UTC), dt.datetime.combine(on, dt.time(12), tzinfo=tz).astimezone(dt.UTC))]
    rules = SlotRules(duration_minutes=30, alignment_minutes=30, max_days_ahead=7)
    slots = list(bookable(free, rules, tz, dt.datetime.fromisoformat(now)))
    assert [s.astimezone(dt.UTC).strftime("%H:%M") for s, _ in slots] == found


def works_8_to_12(store, tmp_path, monkeypatch, zone: str, now: str, max_days_ahead: int) -> None:  # noqa: ANN001
    """P1 (acme) works 08:00-12:00 local in `zone` every day, 30-minute slots bookable
    `max_days_ahead` days ahead, processed as of `now`'s date; `now` is then the pipeline's now."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  acme:\n    format: acme\n    slot_rules: {default: {duration_minutes: 30, alignment_minutes: 30, "
                     f"max_days_ahead: {max_days_ahead}}}}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    week = ",".join(f'"{d}":[["08:00","12:00"]]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    land("acme", "hours.jsonl", f'{{"type":"hours","provider":"P1","tz":"{zone}","week":{{{week}}},"updated_at":"2026-01-01T00:00:00Z"}}\n')
    process(store, now[:10], 10)
    monkeypatch.setattr(pipeline, "utcnow", lambda: dt.datetime.fromisoformat(now))


@pytest.fixture(params=DST[:2], ids=["Europe/Berlin", "America/New_York"])
def spring(request, halo_env, tmp_path, monkeypatch, store) -> tuple[str, str, list[str]]:
    """P1 works 08:00-12:00 local (`works_8_to_12`), bookable 7 days ahead; now is a week before the clocks change."""
    zone, now, horizon_day, found = request.param
    works_8_to_12(store, tmp_path, monkeypatch, zone, now, 7)
    return now, horizon_day, found


def test_rest_and_fhir_slots_end_max_days_ahead_at_the_local_clock_time_across_a_dst_change(store, spring):
    now, horizon_day, found = spring
    client = authorized_client(create_app({"store": store}), "availability:read")
    body = client.get("/v1/slots", params={"feed": "acme", "provider_id": "P1", "from": horizon_day, "to": horizon_day}).json()
    assert [s["start_at"][11:16] for s in body["slots"]] == found, body
    everything = client.get("/v1/slots", params={"feed": "acme", "provider_id": "P1", "from": now[:10], "to": horizon_day}).json()
    assert len(everything["slots"]) == 6 + 8 * 6 + len(found)  # from 09:00 on the first day, 8 a day the 6 after, the horizon's day
    fhir = search_slots(store, [("schedule", "Schedule/acme.P1"), ("start", f"eq{horizon_day}")], BASE, now=dt.datetime.fromisoformat(now))
    assert [e["resource"]["start"][11:16] for e in fhir.get("entry", ())] == found


def test_a_session_posts_a_search_with_its_csrf_token_as_every_form_post(store, day):  # noqa: F811
    """access.md: every form POST of a session carries its CSRF token, in the header or the form."""
    users.create_user(store, "vera", "viewer", "a long enough password")
    client = signed_in_client(create_app({"store": store}), "vera", "a long enough password")
    data = {"schedule": "Schedule/fhir.F1", "start": f"eq{day}"}
    assert client.post("/fhir/Slot/_search", data=data).status_code == 403
    for answer in (client.post("/fhir/Slot/_search", data=data, headers={"X-CSRF-Token": client.csrf}),
                   client.post("/fhir/Slot/_search", data={**data, "csrf_token": client.csrf})):
        assert answer.status_code == 200 and answer.json()["total"] == 5, answer.text
