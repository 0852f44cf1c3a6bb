"""Control Center defects found in review 11 (each test failed before its fix): a quarantined
record's reason quoted a patient's phone number and address unmasked, on the Availability page
and in `halo emr quarantine`; a provider switched off while another admin's switch of it was
under way was switched off twice on PostgreSQL, both saying done; a schedule's next runs were
shown with their zone's abbreviation alone, which names several zones (CST: Shanghai's and Chicago's);
a form sent once the session had ended lost what was typed in it, signing in again."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from halo_platform.access import users
from halo_platform.cli import cli
from halo_platform.core.store import StoreResource
from halo_platform.delivery.autopilot import changes_t, provider_table, state_t
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.http import create_app
from halo_platform.reports.schedules import set_schedule
from halo_platform.sinks import SinksResource
from halo_platform_tests.fixtures.access import signed_in_client
from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import ControlCenter, sign_in

PASSWORD = "a long enough password"


def _client(store: StoreResource, providers: ProvidersResource) -> TestClient:
    """An admin's client (a session and its CSRF token); a 500 is an answer, not an exception."""
    users.create_user(store, "ada", "admin", PASSWORD)
    client = signed_in_client(create_app({"store": store, "providers": providers, "sinks": SinksResource()}), "ada", PASSWORD)
    client.store = store
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


# --- 2. two provider switches at once ---------------------------------------------------------------

@pytest.fixture
def pg_admin(halo_env, migrated_pg_url) -> Iterator[tuple[TestClient, StoreResource, ProvidersResource]]:  # noqa: ANN001
    store, providers = StoreResource(db_url=migrated_pg_url), ProvidersResource()
    yield _client(store, providers), store, providers
    providers.close()
    store.dispose()


def test_a_provider_switched_off_while_another_switch_of_it_is_under_way_is_refused(pg_admin) -> None:  # noqa: ANN001
    """Two admins switch sandbox_sms_a off from pages showing it on. The first's transaction has
    written its switch, not committed yet, when the second's request comes: the second read the
    provider's state without a lock (not switched off, no change since its page), waited only for
    its own write, and then wrote over the first: two "switched off" changes, both answered done,
    the first admin's name and reason gone from the state. Now the second takes the provider's
    row first, waits for the first to commit, and is refused beside its reason."""
    client, store, providers = pg_admin
    name = "sandbox_sms_a"
    config = providers.config()
    with store.write() as conn:  # the autopilot has a state row of it, as once it ran
        conn.execute(state_t.insert().values(provider=name, active=True, factor=1.0))
    seen = next(r["seen"] for r in provider_table(config, store) if r["provider"] == name)
    answers: list = []

    def second_switch() -> None:
        answers.append(client.post("/ui/providers/switch", data={"csrf_token": client.csrf, "provider": name, "state": "off",
                                                                  "reason": "errors at night", "seen": str(seen)}))

    with store.write() as conn:  # the first admin's switch, written, not committed
        conn.execute(state_t.update().where(state_t.c.provider == name).values(
            active=False, factor=0.0, manual_by="bob", reason="switched off by bob: maintenance"))
        conn.execute(changes_t.insert().values(provider=name, active=False, factor=0.0, reason="switched off by bob: maintenance",
                                               at=sa.func.now(), changed_by="bob"))
        racer = threading.Thread(target=second_switch)
        racer.start()
        racer.join(1.5)  # it read the state, and waits for the row (before: for its write; now: for its read)
    racer.join(30)
    (answer,) = answers
    with store.read() as conn:
        changes = conn.execute(sa.select(changes_t.c.changed_by).where(changes_t.c.provider == name)).scalars().all()
        manual_by = conn.execute(sa.select(state_t.c.manual_by).where(state_t.c.provider == name)).scalar_one()
    assert (answer.status_code, changes, manual_by) == (422, ["bob"], "bob"), (answer.status_code, changes, manual_by)
    assert "already switched off by bob" in answer.text


# --- 3. a schedule's next runs, read by operators in other zones -----------------------------------

def test_a_schedules_next_runs_say_their_utc_offset(sqlite_admin: TestClient) -> None:
    """Two schedules run at 06:00 on Mondays, one in Asia/Shanghai, one in America/Chicago: the
    Schedules page listed both as "Mon ... 06:00 CST", 14 hours apart, and an operator in another
    zone could not tell which instant either is (IST is India's, Ireland's and Israel's too). Each
    run time now says its UTC offset beside its zone's abbreviation, in the list and the preview;
    a zone without an abbreviation (America/Sao_Paulo, "-03") says its offset alone."""
    for name, zone in (("shanghai", "Asia/Shanghai"), ("chicago", "America/Chicago")):
        set_schedule(sqlite_admin.store, name, task="payment_reconciliation", cron="0 6 * * 1", timezone=zone,
                     sinks=["outbox"], updated_by="seed")
    page = sqlite_admin.get("/ui/schedules")
    assert page.status_code == 200
    runs = {name: re.findall(r"<li>(Mon [^<]*)</li>", re.search(rf'id="schedule-{name}".*?</tr>', page.text, re.S).group(0))
            for name in ("shanghai", "chicago")}
    assert [len(r) for r in runs.values()] == [5, 5], runs
    assert all(re.fullmatch(r"Mon \d{4}-\d\d-\d\d 06:00 CST \(UTC\+08:00\)", r) for r in runs["shanghai"]), runs
    assert all(re.fullmatch(r"Mon \d{4}-\d\d-\d\d 06:00 C[SD]T \(UTC-0[56]:00\)", r) for r in runs["chicago"]), runs
    for zone, shown in (("Asia/Kolkata", "IST (UTC+05:30)"), ("America/Sao_Paulo", "06:00 UTC-03:00"), ("UTC", "06:00 UTC")):
        preview = sqlite_admin.get("/ui/schedules/shanghai/preview", params={"cron": "0 6 * * 1", "timezone": zone})
        first = re.search(r'<ol id="preview-runs"><li>([^<]*)</li>', preview.text).group(1)
        assert first.endswith(shown), (zone, first)


# --- 4. a form sent once the session had ended -------------------------------------------------------

def test_what_was_typed_in_a_form_sent_after_the_session_ended_is_filled_in_again_once_signed_in(
        page: Page, control_center: ControlCenter) -> None:
    """An admin fills in the new user form (name, role, password twice); meanwhile the session
    ends. Sending it answered the sign-in page (nothing saved, "send it again"), and signing in
    brought them back to the Access page with the form empty: everything to type again. Now the
    name and the role are filled in again, with a line saying nothing was saved yet; the
    passwords are not, and were never kept in the browser's storage."""
    sign_in(page, control_center, "admin")
    page.goto(f"{control_center.url}/ui/access")
    page.get_by_text("Create a user").click()
    page.get_by_label("User name").fill("olga")
    page.get_by_label("Role").select_option("operator")
    page.get_by_label("Password (at least 12 characters)").fill("olga's secret password")
    page.get_by_label("Password, again").fill("olga's secret password")
    kept = [c for c in page.context.cookies() if c["name"] != "halo_session"]
    page.context.clear_cookies()  # the session ended
    page.context.add_cookies(kept)
    page.locator("#user-form button[type=submit]").click()
    expect(page.locator("#notice")).to_contain_text("nothing was saved")
    stored = page.evaluate("() => JSON.stringify(sessionStorage)")  # what the browser kept meanwhile
    name, password = control_center.logins["admin"]
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{control_center.url}/ui/access")
    expect(page.get_by_label("User name")).to_have_value("olga")
    expect(page.get_by_label("Role")).to_have_value("operator")
    expect(page.get_by_label("Password (at least 12 characters)")).to_have_value("")
    expect(page.locator("#kept-notice")).to_contain_text("nothing was saved yet")
    assert "olga" in stored and "secret" not in stored, stored
    screenshot(page, "ui11-form-kept-through-sign-in")
    page.reload()  # once: a page opened again shows its form as the server fills it
    expect(page.get_by_label("User name")).to_have_value("")
    assert page.evaluate("() => sessionStorage.length") == 0
