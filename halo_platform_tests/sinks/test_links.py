"""Sinks with a size limit get a link: a file over an email's `max_file_bytes` (and every file
for Slack) goes to the sink's `link_store` (S3 on moto, or a served folder) and the recipient
gets a link that really fetches the file; the outcome's targets name the stored file. With no
link store an oversized file fails the delivery instead of pretending it arrived."""

from __future__ import annotations

import base64

import httpx
import pytest
import yaml

from halo_platform.lab.fakehttp import FakeHTTPServer
from halo_platform.sinks import Delivery, SinksResource


def resource(tmp_path, sinks: dict) -> SinksResource:  # noqa: ANN001
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": sinks}))
    return SinksResource(sinks_file=str(path), attempts=2, backoff=[0.01])


def email(server, **kwargs) -> dict:  # noqa: ANN001
    return {"kind": "email", "host": server.host, "port": server.port, "starttls": True, "sender": "reports@example.com",
            "to": ["finance@example.com"], "ca_file": str(server.tls.cert_path), **server.credentials, **kwargs}


def test_an_email_over_its_size_limit_gets_a_presigned_s3_link_that_fetches_the_file(smtp_server, s3_server, report_file,
                                                                                     tmp_path):
    s3_server.client().create_bucket(Bucket="reports")
    sinks = resource(tmp_path, {
        "finance_email": email(smtp_server, max_file_bytes=10, link_store="archive"),
        "archive": {"kind": "s3", "bucket": "reports", "prefix": "big/", "endpoint_url": s3_server.endpoint_url,
                    "region": s3_server.region},
    })
    outcome = sinks.deliver("finance_email", Delivery("weekly report", "3 issues", [report_file]))
    assert outcome.status == "DELIVERED", outcome.detail
    assert outcome.targets == ["mailto:f*****e@example.com", f"s3://reports/big/{report_file.name}"]
    assert f"{report_file.name} ({report_file.stat().st_size} bytes)" in outcome.detail
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.attachments == {}
    link = next(word for word in mail.text().split() if word.startswith(s3_server.endpoint_url))
    assert "X-Amz-Signature=" in link
    assert httpx.get(link).content == report_file.read_bytes()


def test_a_file_under_the_limit_is_still_attached_and_nothing_is_stored(smtp_server, report_file, tmp_path):
    sinks = resource(tmp_path, {"finance_email": email(smtp_server, link_store="links"),
                                "links": {"kind": "folder", "path": str(tmp_path / "served"), "url": "https://f.example/r/"}})
    outcome = sinks.deliver("finance_email", Delivery("weekly report", "3 issues", [report_file]))
    assert outcome.targets == ["mailto:f*****e@example.com"]
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.attachments == {report_file.name: report_file.read_bytes()}
    assert not (tmp_path / "served").exists()


def test_an_oversized_file_with_no_link_store_fails_and_sends_nothing(smtp_server, report_file, tmp_path):
    sinks = resource(tmp_path, {"finance_email": email(smtp_server, max_file_bytes=10)})
    outcome = sinks.deliver("finance_email", Delivery("weekly report", "3 issues", [report_file]))
    assert (outcome.status, outcome.attempts) == ("FAILED", 1)
    sent = len(base64.encodebytes(report_file.read_bytes()).replace(b"\n", b"\r\n"))  # the size the limit counts
    assert f"({report_file.stat().st_size} bytes, {sent} as sent) is over the sink's max_file_bytes (10)" in outcome.detail
    assert "link_store" in outcome.detail
    assert smtp_server.messages.snapshot() == []


def test_a_failing_link_store_fails_the_sink_that_needed_it(smtp_server, s3_server, report_file, tmp_path):
    sinks = resource(tmp_path, {
        "finance_email": email(smtp_server, max_file_bytes=10, link_store="archive"),
        "archive": {"kind": "s3", "bucket": "missing", "endpoint_url": s3_server.endpoint_url, "region": s3_server.region},
    })
    outcome = sinks.deliver("finance_email", Delivery("weekly report", "3 issues", [report_file]))
    assert outcome.status == "FAILED" and outcome.detail.startswith("link store archive: permanent: S3 missing")
    assert smtp_server.messages.snapshot() == []


def test_slack_gets_every_file_as_a_link_to_the_served_folder(http_fake: FakeHTTPServer, report_file, tmp_path):
    http_fake.add_route("POST", "/hook", lambda request: (200, "ok"))
    sinks = resource(tmp_path, {
        "ops_slack": {"kind": "slack", "webhook_url": f"{http_fake.url}/hook", "link_store": "links"},
        "links": {"kind": "folder", "path": str(tmp_path / "served"), "url": "https://files.example.com/reports"},
    })
    outcome = sinks.deliver("ops_slack", Delivery("report", "done", [report_file]))
    assert outcome.targets == ["slack://127.0.0.1", (tmp_path / "served" / report_file.name).resolve().as_uri()]
    (request,) = http_fake.requests.snapshot()
    size = report_file.stat().st_size
    assert request.json()["text"] == (f"*report*\ndone\nfile: <https://files.example.com/reports/{report_file.name}"
                                      f"|{report_file.name}> ({size} bytes)")
    assert (tmp_path / "served" / report_file.name).read_bytes() == report_file.read_bytes()


def test_an_unknown_link_store_fails_that_sink_only_and_names_the_store(smtp_server, report_file, tmp_path):
    sinks = resource(tmp_path, {"finance_email": email(smtp_server, max_file_bytes=10, link_store="nowhere")})
    outcome = sinks.deliver("finance_email", Delivery("weekly report", "3 issues", [report_file]))
    assert outcome.status == "FAILED" and outcome.detail.startswith("link store nowhere: unusable: unknown sink 'nowhere'")
    assert smtp_server.messages.snapshot() == []


@pytest.mark.parametrize(("hours", "why"), [(float("nan"), "finite number"), (0, "greater than 0"), (-1, "greater than 0"),
                                            (169, "less than or equal to 168")])
def test_an_s3_link_store_whose_links_cannot_live_is_that_sinks_failure_alone(hours, why, smtp_server, s3_server, report_file, tmp_path):
    """`link_expiry_hours: .nan` raised a bare ValueError after the upload, out of the delivery: a
    report's sinks after this one got nothing. 0 or -1 signed links dead at once, 169 one S3 refuses
    (a SigV4 link lives 7 days at most). Refused when the link store is built, as the sink's failure."""
    from halo_platform.reports.assets import deliver_all

    s3_server.client().create_bucket(Bucket="reports")
    sinks = resource(tmp_path, {
        "finance_email": email(smtp_server, max_file_bytes=10, link_store="archive"),
        "archive": {"kind": "s3", "bucket": "reports", "endpoint_url": s3_server.endpoint_url, "region": s3_server.region,
                    "link_expiry_hours": hours},
        "outbox": {"kind": "folder", "path": str(tmp_path / "outbox")},
    })
    emailed, kept = deliver_all(sinks, ["finance_email", "outbox"], Delivery("weekly report", "3 issues", [report_file]))
    assert (emailed.status, emailed.permanent) == ("FAILED", True)
    assert emailed.detail.startswith("link store archive: unusable: sink 'archive' (s3): invalid settings: link_expiry_hours: "), emailed.detail
    assert why in emailed.detail, emailed.detail
    assert kept.status == "DELIVERED"
    assert smtp_server.messages.snapshot() == []


@pytest.mark.parametrize("store_kind", ["email", "ftp", "folder"])
def test_a_link_store_that_cannot_serve_links_is_sent_nothing_and_fails_for_good(store_kind, smtp_server, ftp_server,
                                                                                 report_file, tmp_path):
    """A `link_store` of a kind that serves no links (an email or FTP sink, a folder without `url`) was
    given the file first and refused the link only then: the report went to the store's own recipients
    (another team's mailbox) or server, and the failure was transient, so the run's retry sent it there
    again. The store is asked before it stores: nothing is sent, and the failure is permanent."""
    stores = {
        "email": email(smtp_server, to=["other-team@example.com"]),
        "ftp": {"kind": "ftp", "host": ftp_server.host, "port": ftp_server.port, **ftp_server.credentials, "remote_dir": "/big"},
        "folder": {"kind": "folder", "path": str(tmp_path / "big")},
    }
    why = {"email": "a email sink cannot serve links", "ftp": "a ftp sink cannot serve links",
           "folder": "folder sink has no url: it cannot serve links"}
    sinks = resource(tmp_path, {"outbox": {"kind": "folder", "path": str(tmp_path / "outbox"), "max_file_bytes": 10,
                                           "link_store": "store"}, "store": stores[store_kind]})
    outcome = sinks.deliver("outbox", Delivery("weekly report", "3 issues", [report_file]))
    assert (outcome.status, outcome.permanent, outcome.targets) == ("FAILED", True, [])
    assert outcome.detail == f"link store store: unusable: {why[store_kind]}"
    assert smtp_server.messages.snapshot() == [] and ftp_server.uploads.snapshot() == []
    assert not (tmp_path / "big").exists() and not (tmp_path / "outbox").exists()


@pytest.mark.parametrize("url", ["files.example.com/reports", "/srv/reports", "javascript:alert(1)", "https:///reports"])
def test_a_folder_link_store_whose_url_is_no_web_address_is_refused_naming_it(url, smtp_server, report_file, tmp_path):
    """A served folder's `url` without a scheme and host (`files.example.com/reports`) was taken as it was:
    the email said DELIVERED and carried `files.example.com/reports/<file>`, which no mail reader makes a
    link of (the recipient had no way to the file); `javascript:` made one that runs a script. The setting
    is refused when the link store is built, naming it, and nothing is stored or sent."""
    sinks = resource(tmp_path, {"finance_email": email(smtp_server, max_file_bytes=10, link_store="links"),
                                "links": {"kind": "folder", "path": str(tmp_path / "served"), "url": url}})
    outcome = sinks.deliver("finance_email", Delivery("weekly report", "3 issues", [report_file]))
    assert (outcome.status, outcome.permanent) == ("FAILED", True), outcome.detail
    assert outcome.detail == ("link store links: unusable: sink 'links' (folder): invalid settings: url: Value error, must be "
                              "an http(s) URL with a host, where the folder is served (https://files.example.com/reports/)")
    assert smtp_server.messages.snapshot() == [] and not (tmp_path / "served").exists()


def test_an_email_judges_a_file_by_its_base64_so_a_relays_size_limit_never_refuses_it(smtp_server, tmp_path):
    """A file goes base64 in an email: 4/3 of its bytes, and a line break each 76 characters. Its raw
    size was compared with `max_file_bytes`, so a file under the limit made a message over it, which
    a relay with that size limit refused (552: the report failed, not even sent as a link). The file
    is judged by the size it takes in the message: it goes as a link, and the relay takes the mail."""
    smtp_server.switches.size_limit = 32_000  # the relay's limit, the sink's leaves room for the rest of the message
    report = tmp_path / "report.csv"
    report.write_text("order_id,issue\n" + "O1,MISSING_PAYMENT\n" * 1500)  # 28515 bytes, 38020 as base64
    sinks = resource(tmp_path, {"finance_email": email(smtp_server, max_file_bytes=30_000, link_store="links"),
                                "links": {"kind": "folder", "path": str(tmp_path / "served"), "url": "https://f.example/r/"}})
    outcome = sinks.deliver("finance_email", Delivery("weekly report", "3 issues", [report]))
    assert outcome.status == "DELIVERED", outcome.detail
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.attachments == {}
    assert f"report.csv ({report.stat().st_size} bytes) is too large to attach: https://f.example/r/report.csv" in mail.text()
    assert (tmp_path / "served" / "report.csv").read_bytes() == report.read_bytes()


def test_an_emails_attachments_together_fit_its_limit_and_the_rest_go_as_links(smtp_server, tmp_path):
    """`max_file_bytes` was a limit on each file, but a relay's is on the message: two reports, each
    under it, made a message a relay with that limit refused (552: the report failed, not even sent as
    links). Files are attached in order while they fit the limit together; a later one that does not
    goes as a link, and one after it that still fits is attached."""
    smtp_server.switches.size_limit = 32_000  # the relay's limit, the sink's leaves room for the rest of the message
    first, second, small = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    first.write_text("order_id,issue\n" + "O1,MISSING_PAYMENT\n" * 700)  # 13315 bytes, 18224 as base64: each under 30000
    second.write_text("order_id,issue\n" + "O2,MISSING_PAYMENT\n" * 700)
    small.write_text("order_id,issue\n" + "O3,MISSING_PAYMENT\n" * 100)  # 1915 bytes, 2624 as base64: it fits beside the first
    sinks = resource(tmp_path, {"finance_email": email(smtp_server, max_file_bytes=30_000, link_store="links"),
                                "links": {"kind": "folder", "path": str(tmp_path / "served"), "url": "https://f.example/r/"}})
    outcome = sinks.deliver("finance_email", Delivery("weekly report", "3 issues", [first, second, small]))
    assert outcome.status == "DELIVERED", outcome.detail
    assert outcome.targets == ["mailto:f*****e@example.com", (tmp_path / "served" / "b.csv").as_uri()]
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.attachments == {"a.csv": first.read_bytes(), "c.csv": small.read_bytes()}
    assert f"b.csv ({second.stat().st_size} bytes) did not fit in this email beside the other attachments: https://f.example/r/b.csv" \
        in mail.text()
    assert (tmp_path / "served" / "b.csv").read_bytes() == second.read_bytes()


def test_an_emails_attachments_over_its_limit_together_fail_it_without_a_link_store(smtp_server, tmp_path):
    """With no link store, files that fit the limit alone but not together fail the delivery (the relay
    would refuse the message), saying that the file did not fit beside the other attachments (not that
    it is over the limit, which it is not); nothing is sent."""
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    for path in (first, second):
        path.write_text("order_id,issue\n" + "O1,MISSING_PAYMENT\n" * 700)
    sinks = resource(tmp_path, {"finance_email": email(smtp_server, max_file_bytes=30_000)})
    outcome = sinks.deliver("finance_email", Delivery("weekly report", "3 issues", [first, second]))
    assert (outcome.status, outcome.permanent) == ("FAILED", True)
    assert outcome.detail == ("permanent: b.csv (13315 bytes, 18224 as sent) is not attached: it did not fit in the message beside the "
                              "other attachments (max_file_bytes 30000 is on the whole message), and the sink has no link_store to send a link")
    assert smtp_server.messages.snapshot() == []
