"""Control Center defects found in review 11 (each test failed before its fix): a quarantined
record's reason quoted a patient's phone number and address unmasked, on the Availability page
and in `halo emr quarantine`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.cli import cli
from halo_platform.core.store import StoreResource
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.http import create_app
from halo_platform.sinks import SinksResource

PASSWORD = "a long enough password"


def _client(store: StoreResource, providers: ProvidersResource) -> TestClient:
    """An admin's client (a session and its CSRF token); a 500 is an answer, not an exception."""
    users.create_user(store, "ada", "admin", PASSWORD)
    client = TestClient(create_app({"store": store, "providers": providers, "sinks": SinksResource()}),
                        raise_server_exceptions=False, follow_redirects=False)
    client.cookies.set("halo_session", users.login(store, "ada", PASSWORD, "test"))
    client.csrf = users.session(store, client.cookies["halo_session"]).csrf_token
    return client


@pytest.fixture
def sqlite_admin(halo_env) -> Iterator[TestClient]:  # noqa: ANN001
    store, providers = StoreResource(db_url=halo_env["HALO_DB_URL"]), ProvidersResource()
    yield _client(store, providers)
    providers.close()
    store.dispose()


# --- 1. a quarantined record's reason quotes what the record held ---------------------------------

# a clerk typed the patient's phone number into the start field, and their address into the status
RECORDS = "".join(json.dumps(r) + "\n" for r in (
    {"type": "appointment", "action": "upsert", "id": "A1", "provider": "J1", "start": "+33 6 12 34 56 78", "duration_min": 30,
     "tz": "Europe/Paris", "status": "booked", "updated_at": "2026-11-20T10:00:00Z"},
    {"type": "appointment", "action": "upsert", "id": "A2", "provider": "J1", "start": "+33612345678", "duration_min": 30,
     "tz": "Europe/Paris", "status": "booked", "updated_at": "2026-11-20T10:00:00Z"},
    {"type": "appointment", "action": "upsert", "id": "A3", "provider": "J1", "start": "2027-01-04T10:00:00", "duration_min": 30,
     "tz": "jane.doe@hospital.example.org", "status": "booked", "updated_at": "2026-11-20T10:00:00Z"},
))
UNMASKED = ("+33 6 12 34 56 78", "+33612345678", "jane.doe")


def test_a_quarantined_records_reason_is_masked_on_the_page_and_in_the_cli(halo_env, tmp_path, sqlite_admin: TestClient) -> None:  # noqa: ANN001
    """A record is quarantined with a reason that quotes the value refused (`invalid start
    '+33 6 12 34 56 78'`, `unknown timezone 'jane.doe@...'`): a field can hold a patient's phone
    number or address. The page masked the record's raw text but showed its reason as stored,
    and `halo emr quarantine` printed both as stored. Both now show them masked as log lines are."""
    (tmp_path / "typed.jsonl").write_text(RECORDS)
    runner = CliRunner()
    assert runner.invoke(cli, ["emr", "ingest", "--feed", "acme", str(tmp_path / "typed.jsonl")]).exit_code == 0
    assert runner.invoke(cli, ["emr", "process", "--as-of", "2027-01-04", "--horizon-days", "1"]).exit_code == 0

    page = sqlite_admin.get("/ui/availability", params={"feed": "acme"})
    assert page.status_code == 200 and page.text.count("<tr><td class=\"text\"><code>acme/typed.jsonl") == 3, page.text[-3000:]
    assert "invalid start" in page.text and "unknown timezone" in page.text
    assert not [s for s in UNMASKED if s in page.text], [s for s in UNMASKED if s in page.text]
    assert "+33 6 ** ** *6 78" in page.text and "+336*****678" in page.text and "j***@hospital.example.org" in page.text

    for fmt in ("table", "json"):
        listed = runner.invoke(cli, ["emr", "quarantine", "--format", fmt])
        assert listed.exit_code == 0 and "unknown timezone" in listed.output, listed.output
        assert not [s for s in UNMASKED if s in listed.output], listed.output
