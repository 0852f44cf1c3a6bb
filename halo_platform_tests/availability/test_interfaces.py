"""The `halo emr` commands, GET /v1/availability and GraphQL, over one processed acme feed.

Asia/Jakarta (+07:00, no DST): Monday 2027-01-04 09:00-17:00 WIB = 02:00-10:00Z, one booking
10:00-11:00 WIB = 03:00-04:00Z."""

import csv
import json
import logging

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from halo_platform.cli import cli
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client

HOURS = ('{"type":"hours","provider":"J1","tz":"Asia/Jakarta","week":{"mon":[["09:00","17:00"]],"tue":[["09:00","17:00"]]},'
         '"updated_at":"2026-11-01T00:00:00Z"}\n')
BOOKING = ('{"type":"appointment","action":"upsert","id":"B1","provider":"J1","start":"2027-01-04T10:00:00","duration_min":60,'
           '"tz":"Asia/Jakarta","status":"booked","updated_at":"2026-11-20T10:00:00Z"}\nnot json\n')
MONDAY = [("2027-01-04", "2027-01-04T02:00:00Z", "2027-01-04T03:00:00Z"), ("2027-01-04", "2027-01-04T04:00:00Z", "2027-01-04T10:00:00Z")]
TUESDAY = [("2027-01-05", "2027-01-05T02:00:00Z", "2027-01-05T10:00:00Z")]


@pytest.fixture
def processed(halo_env, tmp_path):
    runner = CliRunner()
    (tmp_path / "hours.jsonl").write_text(HOURS)
    (tmp_path / "booking.jsonl").write_text(BOOKING)
    landed = runner.invoke(cli, ["emr", "ingest", "--feed", "acme", str(tmp_path / "hours.jsonl"), str(tmp_path / "booking.jsonl")])
    assert landed.exit_code == 0, landed.output
    result = runner.invoke(cli, ["emr", "process", "--as-of", "2027-01-04", "--horizon-days", "3"])
    assert result.exit_code == 0, result.output
    return result.output


def test_process_prints_the_summary_of_the_spec(processed):
    lines = [line for line in processed.splitlines() if ":" in line and not line.startswith("20")]
    assert lines[-5:] == ["files: 2", "events: 2", "quarantined: 1", "items changed: 2", "provider-dates recomputed: 3"]


def test_export_writes_every_span_sorted_with_z_instants(processed, tmp_path):
    out = tmp_path / "spans.csv"
    assert CliRunner().invoke(cli, ["emr", "export", "--out", str(out)]).exit_code == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["feed", "provider_id", "span_date", "start_at", "end_at"]
    assert rows[1:] == [["acme", "J1", *r] for r in MONDAY + TUESDAY]


def test_spans_and_quarantine_commands(processed):
    out = CliRunner().invoke(cli, ["emr", "spans", "--feed", "acme", "--provider", "J1", "--from", "2027-01-04", "--to", "2027-01-04",
                                   "--format", "json"])
    assert [tuple(s.values()) for s in json.loads(out.output)] == MONDAY
    listed = CliRunner().invoke(cli, ["emr", "quarantine", "--format", "json"])
    (bad,) = json.loads(listed.output)
    assert (bad["file"], bad["position"], bad["raw"]) == ("acme/booking.jsonl", 2, "not json")
    assert bad["reason"].startswith("unparsable JSON")


@pytest.mark.parametrize("args, message", [
    (["emr", "ingest", "--feed", "nope", "x.jsonl"], "unknown feed 'nope'"),
    (["emr", "spans", "--feed", "acme", "--provider", "J1", "--from", "04/01/2027"], "--from: expected a date"),
    (["emr", "process", "--horizon-days", "0"], "--horizon-days must be between 1 and 366"),
    # these were tracebacks: the day before or the weeks after left Python's calendar
    (["emr", "process", "--as-of", "9999-12-25", "--horizon-days", "30"], "--as-of: 9999-12-25 is out of range (1900-01-01 to 2199-12-31)"),
    (["emr", "process", "--as-of", "0001-01-01", "--horizon-days", "2"], "--as-of: 0001-01-01 is out of range"),
    (["emr", "slots", "--feed", "acme", "--provider", "J1", "--from", "9999-12-31"], "--from: 9999-12-31 is out of range"),
    # stored spans no query could read: they ended in 2200
    (["emr", "process", "--as-of", "2199-12-31", "--horizon-days", "366"], "the horizon's last day (--as-of + --horizon-days - 1): 2200-12-31 is out"),
    # Python's fromisoformat takes these, the help says YYYY-MM-DD
    (["emr", "spans", "--feed", "acme", "--provider", "J1", "--from", "20261203"], "--from: expected a date YYYY-MM-DD, got '20261203'"),
    (["emr", "spans", "--feed", "acme", "--provider", "J1", "--from", "2026-W49-4"], "--from: expected a date YYYY-MM-DD"),
])
def test_bad_input_is_one_line_and_exit_2(halo_env, args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("error: ") and message in result.output


def test_rest_returns_a_provider_range(processed, store):
    body = authorized_client(create_app({"store": store}), "availability:read").get("/v1/availability", params={"feed": "acme", "provider_id": "J1", "from": "2027-01-04",
                                                                    "to": "2027-01-05"}).json()
    assert [(s["span_date"], s["start_at"], s["end_at"]) for s in body["spans"]] == MONDAY + TUESDAY


@pytest.mark.parametrize("params, reason", [
    ({"feed": "acme", "provider_id": "J1", "from": "2027-13-01"}, "from: expected a date"),
    ({"feed": "acme", "provider_id": "J1", "from": "2027-01-05", "to": "2027-01-04"}, "before from"),
    ({"feed": "nope", "provider_id": "J1"}, "unknown feed"),
    ({"feed": "acme"}, "provider_id"),
])
def test_rest_bad_parameters_are_422_json_with_the_reason(halo_env, params, reason, store):
    response = authorized_client(create_app({"store": store}), "availability:read").get("/v1/availability", params=params)
    assert response.status_code == 422
    assert reason in response.json()["error"]


@pytest.mark.parametrize(("path", "params"), [
    ("/v1/slots", {"feed": "acme", "provider_id": "J1", "from": "9999-12-31"}),
    ("/v1/slots", {"feed": "acme", "provider_id": "J1", "from": "0001-01-01", "to": "0001-01-01"}),
    ("/v1/availability/group", {"feed": "acme", "provider_ids": "J1,J2", "from": "9999-12-31"}),
    ("/v1/availability", {"feed": "acme", "provider_id": "J1", "to": "9999-12-31"}),
    ("/fhir/Slot", {"schedule": "Schedule/acme.J1", "start": "ge9999-12-31"}),
    ("/fhir/Slot", {"schedule": "Schedule/acme.J1", "start": ["ge0001-01-01", "lt0001-01-02"]}),
])
def test_dates_at_the_ends_of_the_calendar_are_a_4xx_with_the_reason_not_a_500(halo_env, store, path, params):
    response = authorized_client(create_app({"store": store}), "availability:read").get(path, params=params)
    assert 400 <= response.status_code < 500 and "out of range (1900-01-01 to 2199-12-31)" in response.text, response.text


@pytest.mark.parametrize("query", [
    '{ slots(feed: "acme", providerId: "J1", from: "9999-12-31") { startAt } }',
    '{ groupAvailability(feed: "acme", providerIds: ["J1", "J2"], from: "9999-12-31") { startAt } }',
])
def test_graphql_dates_at_the_ends_of_the_calendar_are_an_error_with_the_reason(halo_env, store, query):
    errors = authorized_client(create_app({"store": store}), "availability:read").post("/graphql", json={"query": query}).json()
    assert "out of range (1900-01-01 to 2199-12-31)" in errors["errors"][0]["message"]


def test_a_refused_graphql_query_is_one_log_line_without_a_traceback(halo_env, store, caplog):
    caplog.set_level(logging.INFO)
    client = authorized_client(create_app({"store": store}), "availability:read")
    errors = client.post("/graphql", json={"query": '{ nextAvailable(feed: "acme", providerId: "J1", durationMinutes: -5) { startAt } }'}).json()
    assert "durationMinutes must be 1..1440" in errors["errors"][0]["message"]
    assert "Traceback" not in caplog.text and "graphql: refused: durationMinutes must be 1..1440" in caplog.text


def test_graphql_available_spans_and_next_available(processed, store):
    client = authorized_client(create_app({"store": store}), "availability:read")
    query = """{ availableSpans(feed: "acme", providerId: "J1", from: "2027-01-04", to: "2027-01-04") { spanDate startAt endAt }
                 nextAvailable(feed: "acme", providerId: "J1", durationMinutes: 90, after: "2027-01-04T02:30:00Z") { startAt endAt } }"""
    data = client.post("/graphql", json={"query": query}).json()["data"]
    assert [s["spanDate"] for s in data["availableSpans"]] == ["2027-01-04", "2027-01-04"]
    assert data["availableSpans"][0]["startAt"].startswith("2027-01-04T02:00:00")
    # 02:30-03:00 is too short for 90 minutes; the next span starts at 04:00Z
    assert data["nextAvailable"]["startAt"].startswith("2027-01-04T04:00:00")
    assert data["nextAvailable"]["endAt"].startswith("2027-01-04T05:30:00")
    errors = client.post("/graphql", json={"query": '{ nextAvailable(feed: "acme", providerId: "J1", durationMinutes: 0) { startAt } }'}).json()
    assert "durationMinutes must be 1..1440" in errors["errors"][0]["message"]


@pytest.mark.parametrize(("path", "query", "name"), [
    # FastAPI kept the last value: `all` over AC002 alone answered as if it were the group's
    ("/v1/availability/group", "feed=acme&provider_ids=J1&provider_ids=J2&mode=all", "provider_ids"),
    ("/v1/availability", "feed=acme&feed=hl7&provider_id=J1", "feed"),
    ("/v1/slots", "feed=acme&provider_id=J1&from=2027-01-04&from=2027-01-05", "from"),
])
def test_a_parameter_given_twice_where_the_route_takes_one_is_a_422_naming_it(halo_env, store, path, query, name):
    client = authorized_client(create_app({"store": store}), "availability:read")
    response = client.get(f"{path}?{query}")
    assert response.status_code == 422 and response.json()["error"] == f"{name}: given 2 times, the route takes one", response.text
    assert TestClient(create_app({"store": store})).get(f"{path}?{query}").status_code == 401  # no key: the identity comes first


def test_fhir_start_may_be_given_twice_for_its_two_bounds(processed, store):
    response = authorized_client(create_app({"store": store}), "availability:read").get(
        "/fhir/Slot?schedule=Schedule/acme.J1&start=ge2027-01-04&start=lt2027-01-05")
    assert response.status_code == 200 and response.json()["resourceType"] == "Bundle"


@pytest.mark.parametrize(("path", "params"), [
    ("/v1/slots", {"feed": "acme", "provider_id": "J1", "from": "1900-01-01", "to": "1900-01-01"}),
    ("/v1/slots", {"feed": "acme", "provider_id": "J1", "from": "2199-12-30", "to": "2199-12-31"}),
    ("/v1/slots", {"feed": "acme", "provider_id": "J1", "from": "2199-12-30"}),  # the default week would end in 2200
    ("/fhir/Slot", {"schedule": "Schedule/acme.J1", "start": ["ge1900-01-01", "lt1900-01-02"]}),
    ("/fhir/Slot", {"schedule": "Schedule/acme.J1", "start": "eq2199-12-31T12:00:00Z"}),
])
def test_slots_on_the_first_and_last_days_of_the_calendar_are_answered(processed, store, path, params):
    """The slots' window reaches a day past the range asked (a buffer of the day before): at the
    calendar's ends that day was refused with a date the caller never sent."""
    response = authorized_client(create_app({"store": store}), "availability:read").get(path, params=params)
    assert response.status_code == 200, response.text


def test_slots_command_on_the_last_days_of_the_calendar(processed):
    result = CliRunner().invoke(cli, ["emr", "slots", "--feed", "acme", "--provider", "J1", "--from", "2199-12-30", "--to", "2199-12-31"])
    assert result.exit_code == 0 and result.output.strip().endswith("0 slots"), result.output


@pytest.mark.parametrize("after", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-10:00", "2300-01-01T00:00:00Z"])
def test_graphql_next_available_after_an_instant_outside_the_calendar_is_an_error_naming_it(halo_env, store, caplog, after):
    """0001-01-01T00:00+14:00 is before year 1 in UTC: an OverflowError and a traceback in the log."""
    query = f'{{ nextAvailable(feed: "acme", providerId: "J1", durationMinutes: 30, after: "{after}") {{ startAt }} }}'
    errors = authorized_client(create_app({"store": store}), "availability:read").post("/graphql", json={"query": query}).json()
    assert "after: " in errors["errors"][0]["message"] and "out of range (1900-01-01 to 2199-12-31)" in errors["errors"][0]["message"]
    assert "Traceback" not in caplog.text
