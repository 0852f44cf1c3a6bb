"""More bad settings that are a sink's one clear, permanent failure, against the real servers: an
email or FTP `ca_file` that cannot be read or holds no certificate, an S3 bucket name botocore
refuses before any request, S3 credentials half set. And the detail of an alert a sink refused,
however long, is kept with the alert for its retry on MariaDB."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from halo_platform.alerts import outbox
from halo_platform.alerts.send import Alert, send_alerts
from halo_platform.core.store import StoreResource
from halo_platform.sinks import Delivery
from halo_platform_tests.sinks.test_sink_settings_permanent import deliver_one, resource, server_settings

CERT_CONTENT = "CERTSECRET-7c1e"
CA_FILES = {  # what the file is (None: not there, "/": a folder), the reason shown
    "missing": (None, "cannot be read: No such file or directory"),
    "folder": ("/", "cannot be read: Is a directory"),
    "not-pem": (f"{CERT_CONTENT} is no certificate\n", "not a PEM certificate file ssl reads (SSLError)"),
    "broken-pem": (f"-----BEGIN CERTIFICATE-----\n{CERT_CONTENT}\n-----END CERTIFICATE-----\n",
                   "not a PEM certificate file ssl reads (SSLError)"),
}


@pytest.mark.parametrize(("content", "why"), CA_FILES.values(), ids=CA_FILES.keys())
@pytest.mark.parametrize("kind", ["email", "ftp"])
def test_a_ca_file_it_cannot_read_is_one_clear_permanent_failure(kind, content, why, request, tmp_path, report_file, caplog):
    """A ca_file not there was retried as transient ('gave up after 3 attempts: FileNotFoundError'),
    as was one that is no PEM certificate (an SSLError is an OSError): no retry reads it. The
    failure names the setting, never the file's content; nothing reaches the server."""
    path = tmp_path / "ca.pem"
    if content == "/":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    server = request.getfixturevalue("smtp_server" if kind == "email" else "ftp_server")
    settings = server_settings(kind, request) | {"ca_file": str(path)}
    settings |= {"starttls": True} if kind == "email" else {"tls": True, "port": server.tls_port}
    outcome = deliver_one(tmp_path, settings, Delivery("r", "t", [report_file]))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.detail
    where = "SMTP" if kind == "email" else "FTP"
    assert outcome.detail == f"permanent: {where} 127.0.0.1: ca_file: {why}"
    assert CERT_CONTENT not in repr(outcome) and "failed unexpectedly" not in caplog.text
    if kind == "email":
        assert server.messages.snapshot() == []
    else:
        assert server.uploads.snapshot() == []


@pytest.mark.parametrize("bucket", ["bad bucket", "reports/2024", ""])
def test_a_bucket_name_botocore_refuses_is_a_permanent_failure(bucket, s3_server, report_file, tmp_path, caplog):
    """botocore refuses a bucket name with a space or a slash before any request
    (ParamValidationError, a BotoCoreError): it was retried as transient ('S3 bad bucket:
    ParamValidationError'), and no retry changes it."""
    settings = {"kind": "s3", "bucket": bucket, "endpoint_url": s3_server.endpoint_url, "region": s3_server.region}
    outcome = deliver_one(tmp_path, settings, Delivery("r", "t", [report_file]))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.detail
    assert outcome.detail == f"permanent: S3 {bucket}: bucket: not a bucket name S3 takes (ParamValidationError)"
    assert "failed unexpectedly" not in caplog.text


@pytest.mark.parametrize("setting", ["access_key_id", "secret_access_key"])
def test_s3_credentials_half_set_are_a_permanent_failure(setting, s3_server, report_file, tmp_path, caplog):
    """An access key without its secret (or the reverse: a `${AWS_SECRET}` left out) failed every
    delivery as 'unexpected error: PartialCredentialsError', logged as a sink's bug; the secret is never shown."""
    s3_server.client().create_bucket(Bucket="reports")
    settings = {"kind": "s3", "bucket": "reports", "endpoint_url": s3_server.endpoint_url, "region": s3_server.region,
                setting: "S3SECRET-91d0"}
    outcome = deliver_one(tmp_path, settings, Delivery("r", "t", [report_file]))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.detail
    assert outcome.detail == "permanent: S3 reports: access_key_id and secret_access_key go together: one is not set"
    assert "S3SECRET" not in repr(outcome) and "failed unexpectedly" not in caplog.text


def test_an_alert_refused_for_3000_recipients_is_kept_for_its_retry_with_its_detail_cut_on_mariadb(
        smtp_server, migrated_mysql_url, halo_env, tmp_path, monkeypatch, caplog):  # noqa: ARG001
    """The email sink's detail of an alert refused for 3,000 recipients (each named) is over 64 kB,
    which MariaDB's TEXT refused: the alert kept for its retry was lost to the driver's error
    (SQLite and PostgreSQL kept it). Its detail is now kept cut to what the column holds, with
    its whole length noted."""
    monkeypatch.setenv("HALO_DB_URL", migrated_mysql_url)
    smtp_server.switches.rcpt_reply = "550 5.1.1 No such user"
    sinks = resource(tmp_path, {"mail": {"kind": "email", "host": smtp_server.host, "port": smtp_server.port,
                                         **smtp_server.credentials, "sender": "halo@example.com",
                                         "to": [f"finance.team.{n:04d}@example.com" for n in range(3000)]}})
    store = StoreResource()
    (outcome,) = send_alerts([Alert("run failed: j", "ERROR", "boom")], sinks, to=["mail"], store=store)
    assert outcome.status == "FAILED" and len(outcome.detail.encode()) > 65_535
    with store.read() as conn:
        (sink, detail), = conn.execute(sa.select(outbox.retries_t.c.sink, outbox.retries_t.c.detail)).all()
    assert sink == "mail" and len(detail.encode()) <= 65_535
    kept, _, note = detail.rpartition(" ... ")
    assert outcome.detail.startswith(kept) and len(kept) > 60_000
    assert note == f"[cut: {len(outcome.detail.encode()):,} bytes in all]"
    # the alert's log line says the sink failed, not the 100 kB detail on one line (the outbox keeps it)
    deadline = time.monotonic() + 5
    while "to mail failed" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)
    (line,) = [r.getMessage() for r in caplog.records if "to mail failed" in r.getMessage()]
    assert len(line) < 2_200 and "finance" not in line.partition("failed")[0]
