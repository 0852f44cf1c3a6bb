"""Freshness: a feed's newest event received (its file's landing time) and applied (processed),
in the REST and GraphQL answers, and the check holding each feed to its `max_lag_minutes`. A file's
landing is when it came into the zone, which a test cannot set back: lags are read later instead."""

import datetime as dt

import dagster as dg
import pytest

from halo_platform.availability.freshness import freshness
from halo_platform.core.models import iso_z
from halo_platform.definitions import defs
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process, read_later
from halo_platform_tests.fixtures.access import authorized_client

HOURS = ('{"type":"hours","provider":"P1","tz":"UTC","week":{"mon":[["09:00","17:00"]]},'
         '"updated_at":"2026-11-01T00:00:00Z"}\n')


@pytest.fixture
def feeds_file(halo_env, tmp_path, monkeypatch):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  acme: {format: acme, max_lag_minutes: 30}\n  fhir: {format: fhir}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(path))
    return path


def land_hours(name: str) -> dt.datetime:
    """Land working hours as `name`; when they came into the landing zone."""
    return dt.datetime.fromtimestamp(land("acme", name, HOURS).stat().st_ctime, dt.UTC)


def test_a_feed_records_when_its_newest_file_landed_and_was_applied(any_store, feeds_file):
    """On SQLite and PostgreSQL."""
    store = any_store
    assert freshness(store, "acme") == freshness(store, "acme").__class__("acme", None, None, None)
    land_hours("hours-1.jsonl")
    landed_at = land_hours("hours-2.jsonl")
    before = dt.datetime.now(dt.UTC)
    process(store, "2027-01-04", 2)
    found = freshness(store, "acme", now=landed_at + dt.timedelta(minutes=7))
    assert found.received_at == landed_at
    assert before - dt.timedelta(seconds=1) <= found.applied_at <= dt.datetime.now(dt.UTC)
    assert found.lag_seconds == 7 * 60


def test_rest_and_graphql_answer_the_feeds_freshness(store, feeds_file, monkeypatch):
    landed_at = land_hours("hours.jsonl")
    process(store, "2027-01-04", 2)
    read_later(monkeypatch, dt.timedelta(hours=2))
    client = authorized_client(create_app({"store": store}), "availability:read")
    body = client.get("/v1/availability", params={"feed": "acme", "provider_id": "P1"}).json()
    assert body["freshness"]["feed"] == "acme" and body["freshness"]["received_at"] == iso_z(landed_at)
    assert 2 * 3600 <= body["freshness"]["lag_seconds"] <= 2 * 3600 + 30
    data = client.post("/graphql", json={"query": '{ freshness(feed: "acme") { feed appliedAt receivedAt lagSeconds } }'}).json()
    assert data["data"]["freshness"]["receivedAt"] == iso_z(landed_at)
    assert data["data"]["freshness"]["lagSeconds"] == pytest.approx(body["freshness"]["lag_seconds"], abs=5)
    refused = client.post("/graphql", json={"query": '{ freshness(feed: "nope") { feed } }'}).json()
    assert "unknown feed" in refused["errors"][0]["message"]


def run_freshness_check(store) -> dg.AssetCheckEvaluation:
    """Run the job the schedule runs every 5 minutes (a feed goes stale when nothing lands)."""
    assert defs.resolve_schedule_def("emr_freshness_schedule").job_name == "emr_freshness_job"
    result = defs.resolve_job_def("emr_freshness_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), resources={"store": store})
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_the_freshness_check_fails_when_a_feed_passes_its_max_lag(store, feeds_file, monkeypatch):
    """acme (30 minutes) fails before anything is applied and when its newest file landed an hour
    ago; fhir sets no limit and is never stale."""
    assert not run_freshness_check(store).passed
    land_hours("hours-1.jsonl")
    process(store, "2027-01-04", 2)
    read_later(monkeypatch, dt.timedelta(hours=1))
    stale = run_freshness_check(store)
    assert not stale.passed and stale.metadata["stale"].value == ["acme"]
    assert stale.metadata["lag_seconds"].value["acme"] >= 3600 and stale.metadata["max_lag_minutes"].value == {"acme": 30, "fhir": None}
    land_hours("hours-2.jsonl")
    process(store, "2027-01-04", 2)
    read_later(monkeypatch, dt.timedelta(minutes=5))
    assert run_freshness_check(store).passed


def test_a_bad_max_lag_is_refused_by_name(store, feeds_file):
    feeds_file.write_text("feeds:\n  acme: {format: acme, max_lag_minutes: soon}\n")
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/v1/availability", params={"feed": "acme", "provider_id": "P1"})
    assert answer.status_code == 200  # the spans answer does not depend on the limit
    with pytest.raises(dg.Failure, match="feed acme: max_lag_minutes must be a positive number, got 'soon'"):
        run_freshness_check(store)


@pytest.mark.parametrize("written", [".nan", ".inf", "-.inf", ".NaN", "1" + "0" * 400])
def test_a_max_lag_that_is_not_a_finite_number_is_refused_by_name(store, feeds_file, written):
    """`nan` passed the `value <= 0` check and no lag is ever over it (nor over inf): a check that
    never fails. An integer past a float's range was an OverflowError."""
    feeds_file.write_text(f"feeds:\n  acme: {{format: acme, max_lag_minutes: {written}}}\n")
    with pytest.raises(dg.Failure, match="feed acme: max_lag_minutes must be a positive number, got "):
        run_freshness_check(store)


def test_the_availability_page_shows_the_lag_and_whether_it_is_stale(store, feeds_file, monkeypatch):
    from fastapi.testclient import TestClient

    from halo_platform.access import users

    land_hours("hours.jsonl")
    process(store, "2027-01-04", 2)
    read_later(monkeypatch, dt.timedelta(hours=2))
    users.create_user(store, "vera", "viewer", "a long enough password")
    client = TestClient(create_app({"store": store}))
    client.cookies.set("halo_session", users.login(store, "vera", "a long enough password", "test"))
    page = client.get("/ui/availability", params={"feed": "acme"}).text
    assert "Newest event received" in page and "120 min ago" in page and "limit 30 min: <strong>stale</strong>" in page
