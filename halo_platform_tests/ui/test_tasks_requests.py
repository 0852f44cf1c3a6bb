"""The Tasks and Requests pages as an operator meets them in chromium: a task's form generated from
its payload schema, a request submitted through it and run for real (the Dagster daemon dequeues
it, as under `make run`'s `dagster dev`), its page following the status live to SUCCEEDED and its
report downloaded; form errors beside their fields; a viewer who cannot request; the audit log's
filters; downloads that never leave the folder sinks. Every page opened is timed (< 300 ms)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.reports.audit import list_requests, record_deliveries, record_status
from halo_platform.reports.task import load_tasks
from halo_platform.sinks import Delivery, deliver_with_retries
from halo_platform.sinks.slack import SlackSink
from halo_platform.ui.requests import output_file
from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.fixtures.dagster_webserver import dagster_daemon as run_daemon
from halo_platform_tests.ui.conftest import ControlCenter, open_fast, sign_in

ISSUES = ["AMOUNT_MISMATCH", "CURRENCY_MISMATCH", "MISSING_PAYMENT", "MISSING_SETTLEMENT", "UNEXPECTED_PAYMENT"]


def _demo_week(center: ControlCenter) -> tuple[dt.date, dt.date]:
    """The week `halo demo` seeded payments for (the ISO week before the demo's day, in Jakarta),
    as it printed it: not the week before today once Monday 00:00 in Jakarta came since."""
    monday = dt.date.fromisoformat(center.demo_monday)
    return monday, monday + dt.timedelta(days=7)


@pytest.fixture(scope="module")
def center_store(control_center: ControlCenter) -> Iterator[StoreResource]:
    """The Control Center's own operational store, for seeding audit rows and counting them."""
    store = StoreResource(db_url=get_settings(control_center.env).db_url)
    yield store
    store.dispose()


@pytest.fixture(scope="module")
def dagster_daemon(control_center: ControlCenter) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` on the instance the Control Center submits to, in its environment (as
    `make run` starts `dagster dev`): the daemon dequeues the runs the service submits and runs them."""
    with run_daemon(control_center.env, control_center.home / "daemon.log") as daemon:
        yield daemon



def _clean(page: Page) -> None:
    assert page.external_requests == [] and page.script_errors == []


def _request_count(store: StoreResource, period_start: str) -> int:
    """Task request rows whose payload starts at `period_start` (the rows one test made: the control
    center and its daemon are shared, and another test's run retried meanwhile, or a schedule's tick,
    adds rows of its own)."""
    with store.read() as conn:
        payloads = conn.execute(sa.text("SELECT payload FROM task_requests")).scalars()
        return sum((json.loads(p) if isinstance(p, str) else p).get("period_start") == period_start for p in payloads)


def test_the_tasks_page_lists_every_task_with_its_description_and_owner(page, control_center):
    sign_in(page, control_center, "operator")
    open_fast(page, f"{control_center.url}/ui/tasks")
    for task in load_tasks().values():
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=task.name, exact=True))
        expect(row).to_contain_text(task.description)
        expect(row).to_contain_text(task.owner)
    screenshot(page, "tasks")
    _clean(page)


def test_an_operator_requests_payment_reconciliation_through_the_form_sees_it_succeed_live_and_downloads_it(
        page, control_center, dagster_daemon, center_store):
    """Two clicks from the Tasks page (the task, then Request) with the demo week typed in; the
    request's page follows QUEUED -> SUCCEEDED without a reload, and its report downloads."""
    start, end = _demo_week(control_center)
    sign_in(page, control_center, "operator")
    open_fast(page, f"{control_center.url}/ui/tasks")
    page.get_by_role("link", name="payment_reconciliation", exact=True).click()
    expect(page).to_have_url(f"{control_center.url}/ui/tasks/payment_reconciliation")
    open_fast(page, page.url)

    # the form the schema describes: date pickers, a select, a decimal input, defaults, help, sinks
    for name in ("period start", "period end"):
        expect(page.get_by_label(name)).to_have_attribute("type", "date")
    expect(page.get_by_text("First day of the period (default: the previous ISO week's Monday).")).to_be_visible()
    tolerance = page.get_by_label("tolerance")
    expect(tolerance).to_have_attribute("inputmode", "decimal")
    expect(tolerance).to_have_attribute("step", "0.01")
    expect(tolerance).to_have_value("0.00")
    assert page.get_by_label("format").evaluate("e => e.tagName") == "SELECT"
    expect(page.get_by_label("format")).to_have_value("csv")
    expect(page.locator("#f-format option")).to_have_text(["csv", "xlsx", "parquet"])
    expect(page.get_by_role("checkbox", name="outbox")).to_be_checked()
    expect(page.get_by_role("checkbox", name="alerts")).not_to_be_checked()
    screenshot(page, "task-form")

    page.get_by_label("period start").fill(start.isoformat())
    page.get_by_label("period end").fill(end.isoformat())
    page.get_by_label("tolerance").fill("0.01")
    # the submission runs `dagster job launch` (a process loading the definitions): seconds, more on a busy machine
    page.get_by_role("button", name="Request payment_reconciliation").click(timeout=120_000)
    expect(page).to_have_url(re.compile(re.escape(f"{control_center.url}/ui/requests/") + "[0-9a-f-]{36}$"),
                             timeout=120_000)
    request_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#payload")).to_contain_text('"tolerance": "0.01"')
    expect(page.locator("#status")).to_have_text("SUCCEEDED", timeout=300_000)  # htmx polling, no reload (a loaded machine launches slowly)
    expect(page.locator("#row-count")).to_have_text(str(len(ISSUES)))
    expect(page.locator("#live")).not_to_have_attribute("hx-trigger", "every 2s")  # polling stopped
    expect(page.locator("#deliveries")).to_contain_text("outbox")
    expect(page.locator("#deliveries")).to_contain_text("DELIVERED")
    expect(page.locator("#dagster-run")).to_have_attribute(
        "href", f"{get_settings(control_center.env).dagster_ui_url}/runs/{request_id}")

    request = list_requests(center_store, requested_by="operator")[0]
    assert (request["request_id"], request["trigger"], request["status"]) == (request_id, "manual", "SUCCEEDED")  # the spec's triggers: a person asking is manual

    name = f"payment_reconciliation_{start}_{end}.csv"
    with page.expect_download() as caught:
        page.get_by_role("link", name=name).click()
    downloaded = Path(caught.value.path()).read_text()
    assert downloaded == (Path(control_center.env["HALO_HOME"]) / "outbox" / name).read_text()
    rows = list(csv.DictReader(io.StringIO(downloaded)))
    assert sorted(r["issue"] for r in rows) == ISSUES

    open_fast(page, f"{control_center.url}/ui/requests/{request_id}")
    expect(page.locator("#status")).to_have_text("SUCCEEDED")
    screenshot(page, "request-succeeded")
    _clean(page)


def test_form_errors_are_shown_beside_their_fields_with_the_values_kept_and_nothing_is_requested(
        page, control_center, center_store):
    # the rows of this form's period only: the shared daemon's schedules (campaign alerts daily at 07:00
    # Asia/Jakarta, 00:00 UTC) add a request of their own when this runs after their tick (CI at 01:50 UTC: 4 == 3)
    before = _request_count(center_store, "2026-11-30")
    sign_in(page, control_center, "operator")
    open_fast(page, f"{control_center.url}/ui/tasks/payment_reconciliation")
    page.get_by_label("period start").fill("2026-11-30")
    page.get_by_label("period end").fill("2026-11-23")
    page.get_by_label("tolerance").fill("12abc")
    page.get_by_label("format").select_option("xlsx")
    page.get_by_role("checkbox", name="alerts").check()
    page.get_by_role("checkbox", name="outbox").uncheck()
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.get_by_role("button", name="Request payment_reconciliation").click()
    assert answered.value.status == 422

    end = page.get_by_label("period end")
    expect(end).to_have_attribute("aria-invalid", "true")
    expect(end).to_have_attribute("aria-describedby", "period_end-error")
    expect(page.locator("#f-period_end + #period_end-error")).to_have_text("must be after period_start (2026-11-30)")
    expect(page.locator("#f-tolerance + #tolerance-error")).to_contain_text("decimal")
    expect(page.get_by_label("period start")).to_have_value("2026-11-30")
    expect(end).to_have_value("2026-11-23")
    expect(page.get_by_label("tolerance")).to_have_value("12abc")
    expect(page.get_by_label("format")).to_have_value("xlsx")
    expect(page.get_by_role("checkbox", name="alerts")).to_be_checked()
    expect(page.get_by_role("checkbox", name="outbox")).not_to_be_checked()
    screenshot(page, "task-form-error")
    assert _request_count(center_store, "2026-11-30") == before
    _clean(page)


PERIOD = "2020-01-06"  # this test's requests, told from the others' by their period


def test_the_same_form_sent_twice_makes_one_request_and_both_answers_lead_to_it(page, control_center, center_store):
    """A form sent again as it was (back and resubmit, a proxy's retry, a double POST the page's
    script never saw) carries the one-time key the form was rendered with: the second POST
    answers with the first request, with no second row nor run. The same key with other values
    is refused beside nothing (a form error); the form rendered again makes a new request."""
    before = _request_count(center_store, PERIOD)
    url = f"{control_center.url}/ui/tasks/payment_reconciliation"
    sign_in(page, control_center, "operator")
    open_fast(page, url)
    page.get_by_label("period start").fill(PERIOD)
    page.get_by_label("period end").fill("2020-01-13")
    body = page.evaluate("() => new URLSearchParams(new FormData(document.querySelector('form.task-form'))).toString()")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answers = [page.request.post(url, data=body, headers=form, max_redirects=0) for _ in range(2)]
    assert [a.status for a in answers] == [303, 303]
    first = answers[0].headers["location"]
    assert first.startswith("/ui/requests/") and answers[1].headers["location"] == first
    assert _request_count(center_store, PERIOD) == before + 1

    changed = page.request.post(url, data=body.replace("2020-01-13", "2020-01-20"), headers=form, max_redirects=0)
    assert changed.status == 409 and "already sent" in changed.text()
    assert _request_count(center_store, PERIOD) == before + 1

    open_fast(page, url)  # rendered again: a new form, a new key
    page.get_by_label("period start").fill(PERIOD)
    page.get_by_label("period end").fill("2020-01-13")
    page.get_by_role("button", name="Request payment_reconciliation").click()
    expect(page).to_have_url(re.compile(r"/ui/requests/[0-9a-f-]{36}$"))
    assert not page.url.endswith(first) and _request_count(center_store, PERIOD) == before + 2
    _clean(page)


def test_a_viewer_sees_the_form_disabled_and_a_forged_post_gets_the_403_page(page, control_center, center_store):
    before = len(list_requests(center_store, requested_by="viewer"))  # the shared daemon's schedules add requests of their own
    sign_in(page, control_center, "viewer")
    open_fast(page, f"{control_center.url}/ui/tasks/payment_reconciliation")
    expect(page.get_by_text("requesting a task needs the operator role")).to_be_visible()
    expect(page.get_by_role("button", name="Request payment_reconciliation")).to_be_disabled()
    expect(page.get_by_label("tolerance")).to_be_disabled()

    token = page.locator("input[name=csrf_token]").first.input_value()
    forged = page.request.post(f"{control_center.url}/ui/tasks/payment_reconciliation",
                               form={"csrf_token": token, "tolerance": "0.01", "sinks": "outbox"}, max_redirects=0)
    assert forged.status == 403
    assert "Not allowed" in forged.text() and "operator" in forged.text()
    assert len(list_requests(center_store, requested_by="viewer")) == before
    _clean(page)


def test_the_requests_page_filters_by_task_status_who_and_date_and_refuses_a_bad_filter(page, control_center,
                                                                                         center_store):
    seeded = {
        "old-campaign": ("campaign_alerts", "FAILED", "carol", dt.datetime(2024, 1, 10, 8, tzinfo=dt.UTC)),
        "mid-payments": ("payment_reconciliation", "SUCCEEDED", "dave", dt.datetime(2024, 2, 10, 8, tzinfo=dt.UTC)),
        "new-payments": ("payment_reconciliation", "QUEUED", "carol", dt.datetime(2024, 3, 10, 8, tzinfo=dt.UTC)),
        "blocked-payments": ("payment_reconciliation", "BLOCKED", "erin", dt.datetime(2024, 1, 20, 8, tzinfo=dt.UTC)),
    }
    ids = {}
    for label, (task, status, who, at) in seeded.items():
        ids[label] = f"{label}-{uuid.uuid4()}"
        record_status(center_store, ids[label], status, task=task, payload={}, trigger="api", requested_by=who, at=at)

    def shown() -> set[str]:
        links = page.locator("tbody a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        return {label for label, rid in ids.items() if f"/ui/requests/{rid}" in links}

    sign_in(page, control_center, "viewer")
    open_fast(page, f"{control_center.url}/ui/requests")
    assert shown() == set(seeded)
    screenshot(page, "requests")

    page.get_by_label("Task").select_option("payment_reconciliation")
    page.get_by_label("Requested by").fill("carol")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"[?&]who=carol"))  # the filtered page loaded (read mid-navigation, its table was empty)
    assert shown() == {"new-payments"}
    expect(page.get_by_label("Requested by")).to_have_value("carol")

    open_fast(page, f"{control_center.url}/ui/requests?status=failed")
    assert shown() == {"old-campaign"}
    open_fast(page, f"{control_center.url}/ui/requests?status=blocked")
    assert shown() == {"blocked-payments"}
    open_fast(page, f"{control_center.url}/ui/requests/{ids['blocked-payments']}")  # a terminal state says what it means
    expect(page.locator("#status")).to_have_text("BLOCKED")
    expect(page.locator("#status-meaning")).to_have_text("a blocking check failed: nothing was delivered and an alert went out")
    open_fast(page, f"{control_center.url}/ui/requests?since=2024-02-01&before=2024-03-01")
    assert shown() == {"mid-payments"}
    open_fast(page, f"{control_center.url}/ui/requests?who=nobody")
    expect(page.locator("#no-requests")).to_be_visible()

    answer = page.goto(f"{control_center.url}/ui/requests?since=yesterday&status=LOST")
    assert answer.status == 422
    expect(page.locator("#filter-since + #since-error")).to_contain_text("not a date")
    expect(page.locator("#filter-status + #status-error")).to_contain_text("unknown status")
    _clean(page)


def test_an_unknown_request_or_task_is_a_404_page_and_no_download_leaves_the_folder_sinks(page, control_center, center_store):
    home = Path(control_center.env["HALO_HOME"])
    request_id = f"crafted-{uuid.uuid4()}"
    (home / "outputs" / request_id).mkdir(parents=True)
    (home / "outputs" / request_id / "fine.csv").write_text("a,b\n1,2\n")
    outputs = [(home / "outbox" / "fine.csv").as_uri(), (home / "halo.db").as_uri(), f"file://{home}/outbox/../halo.db",
               Path("/etc/passwd").as_uri(), "s3://bucket/report.csv", (home / "outbox" / "gone.csv").as_uri()]
    record_status(center_store, request_id, "QUEUED", task="payment_reconciliation", payload={}, requested_by="someone")
    record_status(center_store, request_id, "SUCCEEDED", task="payment_reconciliation", outputs=outputs)

    sign_in(page, control_center, "viewer")
    answer = page.goto(f"{control_center.url}/ui/requests/no-such-request")
    assert answer.status == 404 and "text/html" in answer.headers["content-type"]
    expect(page.get_by_role("alert")).to_contain_text("There is no task request")
    answer = page.goto(f"{control_center.url}/ui/tasks/no_such_task")
    assert answer.status == 404 and "text/html" in answer.headers["content-type"]
    expect(page.get_by_role("alert")).to_contain_text("unknown task 'no_such_task'")

    open_fast(page, f"{control_center.url}/ui/requests/{request_id}")  # only the output with a file is a link
    expect(page.locator("#outputs li")).to_have_count(len(outputs))
    expect(page.locator("#outputs").get_by_role("link")).to_have_text(["fine.csv"])
    base = f"{control_center.url}/ui/requests/{request_id}/outputs"
    assert page.request.get(f"{base}/0").text() == "a,b\n1,2\n"
    for index in ("1", "2", "3", "4", "5", "6", "-1", "1.0", "0x0", "%C2%B2"):
        refused = page.request.get(f"{base}/{index}")
        assert refused.status == 404, index
        assert "text/html" in refused.headers["content-type"] and "no downloadable output" in refused.text(), index
    for path in ("%2E%2E%2F%2E%2E%2Fhalo.db", "../../../halo.db", "0/../../../../etc/passwd"):  # no route of ours takes a path
        refused = page.request.get(f"{base}/{path}")
        assert refused.status == 404 and "SQLite" not in refused.text() and "root:" not in refused.text(), path
    assert page.request.get(f"{control_center.url}/ui/requests/no-such-request/outputs/0").status == 404
    _clean(page)


def test_a_requests_page_shows_each_attempt_of_each_sinks_delivery_with_its_time_and_error(page, control_center,
                                                                                           center_store, http_fake):
    """access.md: a request's page shows "each sink's delivery with attempts". A Slack webhook
    that answered 503 once and then took the message: its delivery lists both attempts, the first
    FAILED with its error line, the second DELIVERED; a sink that refused for good shows its one
    attempt and why. The page showed the attempt count alone."""
    answers = iter([(503, "busy"), (200, "ok")])
    http_fake.add_route("POST", "/hook", lambda request: next(answers))
    message = Delivery(subject="campaign_alerts: 2 alert(s)", text="EXPIRING: Campaign C1 (C1)")
    retried = deliver_with_retries("ops_slack", SlackSink(webhook_url=f"{http_fake.url}/hook"), message,
                                   backoff_seconds=(0.05,))
    refused = deliver_with_retries("partner_slack", SlackSink(webhook_url="ftp://127.0.0.1/hook"), message)
    request_id = f"attempts-{uuid.uuid4()}"
    record_status(center_store, request_id, "QUEUED", task="campaign_alerts", payload={}, requested_by="someone")
    record_status(center_store, request_id, "RUNNING", task="campaign_alerts")
    record_deliveries(center_store, request_id, [retried, refused])
    record_status(center_store, request_id, "FAILED", task="campaign_alerts", row_count=1,
                  error="delivery failed: partner_slack: permanent: Slack webhook: the URL is not a valid http(s) URL")

    sign_in(page, control_center, "viewer")
    open_fast(page, f"{control_center.url}/ui/requests/{request_id}")
    slack = page.get_by_role("list", name="attempts of ops_slack").get_by_role("listitem")
    expect(slack).to_have_count(2)
    expect(slack.nth(0)).to_contain_text("FAILED")
    expect(slack.nth(0)).to_contain_text("TransientSinkError: Slack webhook answered 503")
    expect(slack.nth(0)).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))
    expect(slack.nth(1)).to_contain_text("DELIVERED")
    partner = page.get_by_role("list", name="attempts of partner_slack").get_by_role("listitem")
    expect(partner).to_have_text([re.compile(r"FAILED .* permanent: Slack webhook: the URL is not a valid http\(s\) URL")])
    expect(page.locator("#error-line")).to_contain_text("delivery failed: partner_slack")
    expect(page.locator("#row-count")).to_have_text("1")
    screenshot(page, "request-delivery-attempts")
    _clean(page)


def test_an_output_is_served_only_from_the_requests_own_outputs_folder(tmp_path):
    """The download rule alone: the output picked by its position names a file by its bare name,
    looked up in the request's own folder of built outputs (no `..`, no symlink, no other
    request's folder), whatever folder or server the recorded URI points at."""
    root, elsewhere = tmp_path / "outputs", tmp_path / "private"
    (root / "R1").mkdir(parents=True)
    (root / "R2").mkdir()
    elsewhere.mkdir()
    (root / "R1" / "r.csv").write_text("mine")
    (root / "R2" / "other.csv").write_text("another request's")
    (elsewhere / "secret").write_text("s")
    (root / "R1" / "link").symlink_to(elsewhere / "secret")
    request = {"request_id": "R1", "outputs": [
        (tmp_path / "outbox" / "r.csv").as_uri(), "s3://bucket/halo/r.csv", f"file://{root}/R1/../R2/other.csv",
        (root / "R1" / "link").as_uri(), (root / "R1").as_uri() + "/..", "slack://127.0.0.1", (root / "R1" / "gone.csv").as_uri()]}
    assert output_file(request, "0", root) == (root / "R1" / "r.csv").resolve()
    assert output_file(request, "1", root) == (root / "R1" / "r.csv").resolve()
    assert [output_file(request, str(i), root) for i in range(2, 8)] == [None] * 6
    assert output_file({"request_id": "..", "outputs": [(root / "R1" / "r.csv").as_uri()]}, "0", root / "R2") is None
    assert output_file({"request_id": "R1", "outputs": []}, "0", root) is None


def test_each_of_two_requests_of_the_same_period_downloads_its_own_report(page, control_center, center_store):
    """Two requests of one week write the same file name to the outbox, where the later one
    overwrites the earlier's: each request's download is still the file its own run built, and
    once that file is gone, the download is a 404 page saying so, never the other request's."""
    start, end = _demo_week(control_center)
    name = f"payment_reconciliation_{start}_{end}.csv"
    built = {}
    for tolerance in ("0.00", "10.00"):  # 10.00 hides the demo's 5.00 AMOUNT_MISMATCH
        ran = control_center.halo("tasks", "run", "payment_reconciliation", "--wait", "--payload",
                                  f'{{"period_start": "{start}", "period_end": "{end}", "tolerance": "{tolerance}"}}')
        assert ran.returncode == 0, ran.stdout + ran.stderr
        built[tolerance] = ran.stdout.splitlines()[0]
    first, second = built["0.00"], built["10.00"]
    home = Path(control_center.env["HALO_HOME"])
    assert "AMOUNT_MISMATCH" not in (home / "outbox" / name).read_text()  # the second request's copy

    sign_in(page, control_center, "viewer")
    downloads = {}
    for request_id in (first, second):
        answer = page.request.get(f"{control_center.url}/ui/requests/{request_id}/outputs/0")
        assert answer.status == 200 and name in answer.headers["content-disposition"]
        downloads[request_id] = answer.text()
        assert downloads[request_id] == (home / "outputs" / request_id / name).read_text()
    assert "AMOUNT_MISMATCH" in downloads[first] and "AMOUNT_MISMATCH" not in downloads[second]

    (home / "outputs" / first / name).unlink()
    gone = page.request.get(f"{control_center.url}/ui/requests/{first}/outputs/0")
    assert gone.status == 404 and "text/html" in gone.headers["content-type"]
    assert "no longer kept" in gone.text() and "AMOUNT_MISMATCH" not in gone.text()
    open_fast(page, f"{control_center.url}/ui/requests/{first}")  # its output listed, no longer a link
    expect(page.locator("#outputs li")).to_have_text([name])
    expect(page.locator("#outputs").get_by_role("link")).to_have_count(0)
    open_fast(page, f"{control_center.url}/ui/requests/{second}")
    expect(page.locator("#outputs").get_by_role("link", name=name)).to_have_attribute(
        "href", f"/ui/requests/{second}/outputs/0")
    _clean(page)


def test_list_requests_filters_by_requester_and_creation_dates(halo_env):  # noqa: ARG001 - an isolated store
    store = StoreResource()
    at = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    for i, who in enumerate(("ann", "bob", "ann")):
        record_status(store, f"r{i}", "QUEUED", task="campaign_alerts", requested_by=who, at=at + dt.timedelta(days=i))
    assert [r["request_id"] for r in list_requests(store, requested_by="ann")] == ["r2", "r0"]
    day = dt.datetime(2024, 5, 2, tzinfo=dt.UTC)
    assert [r["request_id"] for r in list_requests(store, created_from=day)] == ["r2", "r1"]
    assert [r["request_id"] for r in list_requests(store, created_before=day)] == ["r0"]
    assert [r["request_id"] for r in list_requests(store, created_from=day, created_before=day + dt.timedelta(days=1))] == [
        "r1"]
