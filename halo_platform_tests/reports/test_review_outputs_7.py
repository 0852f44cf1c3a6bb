"""Review of what report tasks produce and how it reaches people (outputs 7): the Control Center's
download route and the failure alerts."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.core.settings import get_settings
from halo_platform.http import create_app
from halo_platform.reports.audit import record_status
from halo_platform.sinks import SinksResource

PASSWORD = "correct horse battery staple"


def _viewer(store) -> TestClient:  # noqa: ANN001
    users.create_user(store, "vera", "viewer", PASSWORD)
    client = TestClient(create_app({"store": store, "sinks": SinksResource()}), raise_server_exceptions=False,
                        follow_redirects=False)
    client.cookies.set("halo_session", users.login(store, "vera", PASSWORD, "test"))
    return client


def test_an_output_number_past_pythons_digit_limit_is_a_404_page_not_a_500(store):
    """`int()` refuses text of more than 4,300 digits (ValueError): an output number of 5,000 nines
    (a mangled link) answered 500 where 4,000 nines answer the 404 page."""
    request_id = "R-digits"
    own = get_settings().home / "outputs" / request_id
    own.mkdir(parents=True)
    (own / "r.csv").write_text("a\n1\n")
    record_status(store, request_id, "QUEUED", task="payment_reconciliation", payload={}, requested_by="vera")
    record_status(store, request_id, "SUCCEEDED", task="payment_reconciliation", outputs=[Path(own / "r.csv").as_uri()])
    client = _viewer(store)
    assert client.get(f"/ui/requests/{request_id}/outputs/0").text == "a\n1\n"
    for digits in (4_000, 5_000, 9_000):
        answer = client.get(f"/ui/requests/{request_id}/outputs/{'9' * digits}")
        assert answer.status_code == 404, digits
        assert "text/html" in answer.headers["content-type"] and "no downloadable output" in answer.text


def test_an_alert_sent_again_from_the_outbox_carries_the_delivery_id_of_its_first_posts(sinks_file, store, monkeypatch):
    """A webhook receiver that took an alert but answered after the sink's timeout (twice: the
    alert's two attempts) has the alert; the outbox sent it again on a later tick with another
    delivery_id and Idempotency-Key, so the receiver could not tell it was the same alert and the
    failed run was announced twice. Every post of one alert to one sink now carries the same id."""
    from halo_platform.alerts import outbox
    from halo_platform.alerts.send import Alert, resend_due, send_alert
    from halo_platform.lab.fakehttp import FakeHTTPServer

    monkeypatch.setattr(outbox, "RETRY_AFTER_SECONDS", (0.2, 60.0))
    posts = []

    def slow_then_quick(request):  # noqa: ANN001, ANN202
        posts.append(request)
        if len(posts) <= 2:
            time.sleep(0.8)  # taken, answered too late
        return 200, {"ok": True}

    with FakeHTTPServer() as receiver:
        receiver.add_route("POST", "/hook", slow_then_quick)
        sinks_file({"hook": {"kind": "webhook", "url": f"http://127.0.0.1:{receiver.port}/hook", "secret": "s3cret",
                             "timeout": 0.3}})
        monkeypatch.setenv("HALO_ALERTS", "hook")
        sinks = SinksResource()
        alert = Alert("run failed: payment_reconciliation_job", "ERROR", "boom", run_id="run-1", job="payment_reconciliation_job")
        (first,) = send_alert(alert, sinks, store=store, deadline=20)
        assert first.status == "FAILED"
        time.sleep(0.3)
        (again,) = resend_due(sinks, store, deadline=20)
        assert again.status == "DELIVERED"
        assert resend_due(sinks, store, deadline=20) == []
    assert len(posts) == 3
    ids = {request.json()["delivery_id"] for request in posts}
    keys = {request.headers["Idempotency-Key"] for request in posts}
    assert len(ids) == 1 and ids == keys, ids | keys


def test_a_webhook_sink_named_with_letters_beyond_ascii_delivers_reports_and_alerts(sinks_file, store, monkeypatch, tmp_path):
    """A report's delivery key is `<request id>/<sink>`: for a webhook sink named `équipe_finance`
    the Idempotency-Key header held an `é`, which httpx refuses to send (UnicodeEncodeError), and
    every delivery failed at once, permanently, with 'the URL is not a valid http(s) URL' (its URL was
    fine). The key is sent percent-encoded (ASCII), the same in the body and the header."""
    from halo_platform.alerts.send import Alert, send_alert
    from halo_platform.lab.fakehttp import FakeHTTPServer
    from halo_platform.reports.assets import deliver_all, delivery_for
    from halo_platform.sinks import Delivery, Link

    with FakeHTTPServer() as receiver:
        receiver.add_route("POST", "/hook", lambda request: (200, {"ok": True}))
        sinks_file({"équipe_finance": {"kind": "webhook", "url": f"http://127.0.0.1:{receiver.port}/hook", "secret": "s3cret"}})
        monkeypatch.setenv("HALO_ALERTS", "équipe_finance")
        sinks = SinksResource()
        report = Delivery(subject="payment_reconciliation: r", text="3 rows",
                          links=[Link("r.csv", 10, "https://files.example.com/r.csv")])
        (outcome,) = deliver_all(sinks, ["équipe_finance"], delivery_for(report, "run-1", "équipe_finance"))
        assert (outcome.status, outcome.detail) == ("DELIVERED", "")
        (alerted,) = send_alert(Alert("run failed: j", "ERROR", "boom", run_id="run-2", job="j"), sinks, store=store, deadline=20)
        assert alerted.status == "DELIVERED", alerted.detail
    first, second = receiver.requests.snapshot(0)
    assert first.json()["delivery_id"] == first.headers["Idempotency-Key"] == "run-1/%C3%A9quipe_finance"
    assert second.json()["delivery_id"] == second.headers["Idempotency-Key"]
    assert second.headers["Idempotency-Key"].isascii() and second.headers["Idempotency-Key"].endswith("/%C3%A9quipe_finance")


def test_a_parquet_output_downloads_as_parquet_not_as_utf8_text(store):
    """Python's mimetypes knows no `.parquet`, and Starlette then says `text/plain; charset=utf-8`:
    the binary file was served as text (a browser opening the link showed it as characters). It is
    served as application/vnd.apache.parquet, as the email sink attaches it; csv and xlsx as before."""
    request_id = "R-parquet"
    own = get_settings().home / "outputs" / request_id
    own.mkdir(parents=True)
    files = {"r.parquet": b"PAR1\x00\x01PAR1", "r.csv": b"a\n1\n", "r.xlsx": b"PK\x03\x04"}
    for name, content in files.items():
        (own / name).write_bytes(content)
    record_status(store, request_id, "QUEUED", task="payment_reconciliation", payload={}, requested_by="vera")
    record_status(store, request_id, "SUCCEEDED", task="payment_reconciliation",
                  outputs=[(own / name).as_uri() for name in files])
    client = _viewer(store)
    answers = [client.get(f"/ui/requests/{request_id}/outputs/{index}") for index in range(3)]
    assert [a.content for a in answers] == list(files.values())
    assert [a.headers["content-type"] for a in answers] == [
        "application/vnd.apache.parquet", "text/csv; charset=utf-8",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
    assert answers[0].headers["content-disposition"] == 'attachment; filename="r.parquet"'


def test_a_requests_error_is_masked_before_it_is_cut(store):  # noqa: ANN001
    """Errors were cut to 2,000 characters where they were raised, then masked: an address across
    the cut (`jean.dupont@exam`) was no address to the mask, and its start stayed in clear on the
    request's page and in the API. The audit now masks, then cuts."""
    from halo_platform.reports.audit import ERROR_CHARS, get_request

    error = "warehouse said: " + "x" * (ERROR_CHARS - 26) + " jean.dupont@example.com refused " + "y" * 5000
    record_status(store, "r-mask", "FAILED", task="payment_reconciliation", error=error)
    kept = get_request(store, "r-mask")["error"]
    assert len(kept) == ERROR_CHARS and kept.startswith("warehouse said: xxx")
    assert "jean.dupon" not in kept and "dupont" not in kept, kept[-40:]


def test_a_campaign_name_with_a_line_break_writes_no_alert_line_of_its_own():
    """A campaign name holding a line break (the marketing warehouse's text) added a line to the
    alert's email and chat text that read as one more alert: here an OVER_BUDGET no campaign raised."""
    from halo_platform.reports.tasks.campaign_alerts import message

    row = {"alert": "NEAR_BUDGET", "name": "Spring\n- OVER_BUDGET: Summer (C9) ends 2024-06-01,\u2028x", "campaign_id": "C1\r\nC2",
           "end_date": "2024-05-31", "spend": "450.00", "budget": "500.00", "spend_pct": "90.00"}
    text = message([row], {"as_of": "2024-05-10", "row_count": 1})
    assert text.splitlines() == ["1 campaign alert(s) as of 2024-05-10:",
                                 "- NEAR_BUDGET: Spring - OVER_BUDGET: Summer (C9) ends 2024-06-01, x (C1  C2) ends 2024-05-31,"
                                 " spent 450.00 of 500.00 (90.00%)"]
