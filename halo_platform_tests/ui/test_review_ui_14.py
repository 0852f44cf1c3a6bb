"""Control Center defects found in review 14 (each test failed before its fix): the Availability
calendar showed its spans' times with no zone nor UTC offset; a schedule's edits past its 20
newest could be read nowhere; nor could the autopilot's decisions past the newest 50, nor the
routing weight changes past the newest 200."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient

from halo_platform.cli import cli
from halo_platform.core.store import StoreResource
from halo_platform.delivery.autopilot import changes_t
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.state import audit_t
from halo_platform.reports.schedules import set_schedule
from halo_platform_tests.ui.test_review_ui11 import _client


def _admin(db_url: str) -> Iterator[TestClient]:
    """An admin's client (a session and its CSRF token) of an app on the store at `db_url`; a 500 is an answer."""
    store, providers = StoreResource(db_url=db_url), ProvidersResource()
    yield _client(store, providers)
    providers.close()
    store.dispose()


@pytest.fixture
def admin(halo_env) -> Iterator[TestClient]:  # noqa: ANN001
    """On the halo_env store, the one the CLI writes."""
    yield from _admin(halo_env["HALO_DB_URL"])


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_store_admin(request: pytest.FixtureRequest, halo_env) -> Iterator[TestClient]:  # noqa: ANN001
    """On each kind of operational store: a page of a list is read by a query of its own (the next page's rows)."""
    urls = {"sqlite": lambda: halo_env["HALO_DB_URL"], "postgresql": lambda: request.getfixturevalue("migrated_pg_url"),
            "mariadb": lambda: request.getfixturevalue("migrated_mysql_url")}
    yield from _admin(urls[request.param]())


# --- 1. the Availability calendar's times ------------------------------------------------------------

# New York's clocks go forward at 02:00 on Sunday 2027-03-14: Monday to Saturday of that week are
# EST (UTC-05:00), the Sunday EDT (UTC-04:00); its 00:00-06:00 span starts in one and ends in the other
HOURS = {"type": "hours", "provider": "NY1", "tz": "America/New_York", "updated_at": "2027-03-01T00:00:00Z",
         "week": {"mon": [["09:00", "17:00"]], "sun": [["00:00", "06:00"], ["09:00", "17:00"]]}}


def test_the_availability_calendars_times_say_their_zone_and_utc_offset(halo_env, tmp_path, admin: TestClient) -> None:  # noqa: ANN001, ARG001 - halo_env: the CLI's store
    """The calendar listed a span as "09:00–17:00" under a heading naming the provider's timezone:
    an operator could not tell local time from UTC (a provider without a timezone is shown in
    UTC, under the same words), nor which offset a day of a week whose clocks change was in.
    Every span now says its zone with its UTC offset as every other page shows a time (`when`):
    Monday "09:00–17:00 EST (UTC-05:00)", the Sunday after the change "09:00–17:00 EDT (UTC-04:00)",
    and a span across the change each end's own; each time carries its instant (`<time datetime>`)."""
    (tmp_path / "hours.jsonl").write_text(json.dumps(HOURS) + "\n")
    runner = CliRunner()
    assert runner.invoke(cli, ["emr", "ingest", "--feed", "acme", str(tmp_path / "hours.jsonl")]).exit_code == 0
    assert runner.invoke(cli, ["emr", "process", "--as-of", "2027-03-08", "--horizon-days", "7"]).exit_code == 0

    page = admin.get("/ui/availability", params={"feed": "acme", "provider": "NY1", "week": "2027-03-08"})
    assert page.status_code == 200, page.text[-2000:]
    shown = {day: [re.sub(r"<[^>]+>", "", li) for li in re.findall(r'<li class="span">(.*?)</li>', section, re.S)]
             for day, section in re.findall(r'data-date="([\d-]+)">(.*?)</section>', page.text, re.S)}
    assert shown["2027-03-08"] == ["09:00–17:00 EST (UTC-05:00)"], shown
    assert shown["2027-03-14"] == ["00:00 EST (UTC-05:00)–06:00 EDT (UTC-04:00)", "09:00–17:00 EDT (UTC-04:00)"], shown
    assert '<time datetime="2027-03-14T09:00:00-04:00">09:00</time>' in page.text


def _older_pages(client: TestClient, page: str, link: str) -> Iterator[str]:
    """The text of each page a list's `link` ("Older edits") leads to from `page`, then from that one, to the last."""
    while older := re.search(rf'<a href="([^"]+)"[^>]*>{link}', page):
        answer = client.get(older.group(1).replace("&amp;", "&"))
        assert answer.status_code == 200, answer.text[-2000:]
        page = answer.text
        yield page


# --- 2. a schedule's history of edits --------------------------------------------------------------

def _edits_shown(page: str) -> list[str]:
    """The cron of each edit in a page's history table (its 'after'), as listed."""
    table = re.search(r'<table class="history">.*?</table>', page, re.S).group(0)
    return re.findall(r"<strong>cron</strong>: <code>[^<]*</code> → <code>([^<]*)</code>", table)


def test_every_edit_of_a_schedule_can_be_read_page_after_page(any_store_admin: TestClient) -> None:
    """A schedule's page showed the 20 newest of its edits and nothing else: from the 21st edit on,
    who created it and what the older edits changed could be read nowhere (no CLI lists them), and
    nothing said older ones existed. Past its 20 newest, the page now links to the schedule's
    history, 50 edits a page, newest first, each page linking to the older ones."""
    crons = [f"{minute} 6 * * 1" for minute in range(60)]  # the schedule's 60 edits, oldest first
    for cron in crons:
        set_schedule(any_store_admin.store, "weekly", task="payment_reconciliation", cron=cron, timezone="UTC", sinks=["outbox"], updated_by="seed")
    page = any_store_admin.get("/ui/schedules/weekly")
    assert page.status_code == 200
    assert _edits_shown(page.text) == crons[::-1][:20]
    seen = _edits_shown(page.text)
    for older in _older_pages(any_store_admin, page.text, "Older edits"):
        seen += _edits_shown(older)
    assert seen == crons[::-1]  # every edit, down to the one that created it
    assert "created" in older


# --- 3. the autopilot's decisions ---------------------------------------------------------------------

def test_every_state_change_of_the_providers_can_be_read_page_after_page(any_store_admin: TestClient) -> None:
    """The Providers page listed the 50 newest state changes and nothing else: the autopilot
    decides every few minutes while a provider fails and ramps back, so the decisions (and their
    reasons) of last night's incident were gone from the only place that shows them, without a
    word. Past its 50 newest, the table now links to the older ones, 50 a page, newest first."""
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with any_store_admin.store.write() as conn:  # the autopilot's 120 decisions, one a minute
        conn.execute(sa.insert(changes_t), [{"provider": "sandbox_sms_a", "active": i % 2 == 0, "factor": 1.0, "reason": f"decision {i}",
                                             "error_rate": 0.5, "attempts": 10, "at": start + dt.timedelta(minutes=i)} for i in range(120)])
    page = any_store_admin.get("/ui/providers")
    assert page.status_code == 200
    shown = re.findall(r"decision (\d+)", page.text)
    assert len(shown) == 50
    for older in _older_pages(any_store_admin, page.text, "Older changes"):
        shown += re.findall(r"decision (\d+)", older)
    assert [int(i) for i in shown] == list(range(119, -1, -1))  # every decision, newest first, each once


# --- 4. the history of routing changes --------------------------------------------------------------

def test_every_routing_weight_change_can_be_read_page_after_page(any_store_admin: TestClient) -> None:
    """The History of routing changes page says "Every weight change, whoever made it" and listed
    the 200 newest, without a word of the others: weights set each night by a job fill it in
    four months, and who changed a rule before that could be read nowhere. Past its 200 newest,
    the page now links to the older ones, 200 a page, newest first; an edit of several providers
    stays whole on one page, and an edit of another rule at the same instant is kept."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(260):  # 260 edits of sms/*/*, each of both its providers; the 130th with one of email/*/* at the same instant
        at = start + dt.timedelta(hours=i)
        rows += [{"rule": "sms/*/*", "provider": p, "old_weight": i, "new_weight": i + 1, "changed_by": "night-job",
                  "reason": f"edit {i}", "at": at} for p in ("sandbox_sms_a", "sandbox_sms_b")]
        if i == 130:
            rows.append({"rule": "email/*/*", "provider": "sandbox_email_a", "old_weight": 1, "new_weight": 2, "changed_by": "ada",
                         "reason": "edit of email", "at": at})
    with any_store_admin.store.write() as conn:
        conn.execute(sa.insert(audit_t), rows)
    page = any_store_admin.get("/ui/routing/history")
    assert page.status_code == 200
    shown = re.findall(r"edit (\d+|of email)", page.text)
    assert len(shown) == 200
    for older in _older_pages(any_store_admin, page.text, "Older changes"):
        shown += re.findall(r"edit (\d+|of email)", older)
    expected = [str(i) for i in range(259, -1, -1)]
    expected.insert(expected.index("130"), "of email")  # inserted after it: listed before it
    assert shown == expected
    assert older.count("sandbox_sms_a: ") == older.count("sandbox_sms_b: ")  # no edit cut in two
