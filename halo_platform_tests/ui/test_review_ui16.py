# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Control Center defects found in review ui16 (each test failed before its fix): the key form
showed a rate out of range or a past expiry date only once the name was right, one error per
submit; the Availability page showed a feed's newest 50 quarantined records and no way to the
older ones;
the Requests filter's dates were UTC days without saying so; a task request naming a sink gone
from the file and a bad value showed one error per submit."""

from __future__ import annotations

import html
import json
import re

from click.testing import CliRunner
from playwright.sync_api import Page, expect

from halo_platform.access.keys import list_keys
from halo_platform.cli import cli
from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import ControlCenter, sign_in
from halo_platform_tests.ui.test_form_refusals import _error, _html, _requests
from halo_platform_tests.ui.test_page_edges import admin, app, store  # noqa: F401 - the same seeded store, app and clients


def test_the_key_form_shows_a_bad_name_a_rate_out_of_range_and_a_past_expiry_at_once(admin, store) -> None:  # noqa: ANN001
    """A name with a space, a rate of 0 and an expiry in 2020: only the name's error was shown (the
    rate and the date were checked when the key was made, after the name's); the next submit showed
    the rate's, the one after the date's. Now all three, beside their fields, in one answer."""
    form = {"csrf_token": admin.csrf, "name": "bad name", "scope": "tasks:read", "rate": "0", "expires": "2020-01-01"}
    page = _html(admin.post("/ui/access/keys", data=form), 422)
    assert "letters, digits" in _error(page, "key.name")
    assert _error(page, "key.rate").startswith("must be a number of requests per second in (0, ")
    assert _error(page, "key.expires") == "2020-01-01 is not in the future"
    assert 'value="bad name"' in page and 'value="0"' in page and 'value="2020-01-01"' in page
    assert list_keys(store) == []


def _quarantine_rows(page: str) -> list[str]:
    """The ids of the records in the page's quarantine table, in its order."""
    table = re.search(r'<table id="quarantine">(.*?)</table>', page, re.S)
    return re.findall(r"&#34;id&#34;: &#34;(q-\d+)&#34;|\"id\": \"(q-\d+)\"", table.group(1)) if table else []


def test_every_quarantined_record_is_a_link_away_on_the_availability_page(halo_env, tmp_path, admin) -> None:  # noqa: ANN001
    """A feed quarantined 120 records. The page showed the newest 50 and, for the others, named
    `halo emr quarantine --feed acme`, which lists the *first* 100 quarantined: records 51 to 20 from
    the newest were on no page and in no default listing. Now the page links to the older ones, 50 a
    page, newest first, each record once, until the oldest; and back to the newest."""
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps({
        "type": "appointment", "action": "upsert", "id": f"q-{n:03d}", "provider": "AC001", "start": "not a time",
        "duration_min": 30, "tz": "Europe/Paris", "status": "booked", "updated_at": "2026-11-01T00:00:00Z"}) + "\n"
        for n in range(120)))
    runner = CliRunner()
    assert runner.invoke(cli, ["emr", "ingest", "--feed", "acme", str(tmp_path / "bad.jsonl")]).exit_code == 0
    assert runner.invoke(cli, ["emr", "process", "--as-of", "2027-01-04", "--horizon-days", "1"]).exit_code == 0

    url, seen, pages = "/ui/availability?feed=acme", [], []
    while url:
        answer = admin.get(url)
        assert answer.status_code == 200, answer.text[-2000:]
        rows = ["".join(r) for r in _quarantine_rows(answer.text)]
        assert rows, url
        pages.append(len(rows))
        seen += rows
        older = re.search(r'<a href="([^"]+)" id="older-quarantine"', answer.text)
        url = html.unescape(older.group(1)) if older else None
        if url:
            assert "feed=acme" in url and url.endswith("#quarantine")
    assert pages == [50, 50, 20]
    assert seen == [f"q-{n:03d}" for n in reversed(range(120))]
    assert '<a href="/ui/availability?feed=acme#quarantine">back to the newest</a>' in answer.text


def test_the_request_filters_dates_say_they_are_utc_days(page: Page, control_center: ControlCenter) -> None:
    """The Requests filter took its dates as UTC days (midnight UTC to midnight UTC) under the
    labels "Created on or after" and "Created before": an operator in Jakarta filtering on
    their today missed the requests of its first seven hours, with nothing on the page saying why.
    The labels now say UTC, as the table's times do, and still fit one line at 1024 px (the inputs level)."""
    sign_in(page, control_center, "viewer")
    page.set_viewport_size({"width": 1024, "height": 800})
    page.goto(f"{control_center.url}/ui/requests?since=2026-12-07&before=2026-12-01")
    expect(page.get_by_label("Created from (UTC)")).to_have_value("2026-12-07")
    expect(page.get_by_label("Created before (UTC)")).to_have_value("2026-12-01")
    expect(page.locator("#before-error")).to_have_text("must be after the 'created from' date")
    tops = {f: page.locator(f"#filter-{f}").bounding_box()["y"] for f in ("task", "status", "who", "since", "before")}
    assert len(set(tops.values())) == 1, tops
    screenshot(page, "review-ui16-requests-utc-days")


def test_a_task_request_naming_a_gone_sink_and_a_bad_value_shows_both_errors_at_once(admin, store) -> None:  # noqa: ANN001
    """A sink gone from the sinks file since the form was drawn, and a tolerance of "abc": the
    answer said only the tolerance's error; fixed and sent again, it said the sink's. Now both,
    each beside its field, in one answer, the value typed kept, and nothing requested."""
    form = {"csrf_token": admin.csrf, "tolerance": "abc", "sinks": "gone_since"}
    page = _html(admin.post("/ui/tasks/payment_reconciliation", data=form), 422)
    assert _error(page, "sinks").startswith("unknown sink(s): gone_since; known: ")
    assert "decimal" in _error(page, "tolerance") and 'value="abc"' in page
    assert _requests(store) == 0
