"""The loopback servers every suite relies on behave like the real thing for the standard
clients, and their failure switches produce the failures a real server would."""

from __future__ import annotations

import errno
import ftplib
import io
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage

import boto3
import botocore.config
import botocore.exceptions
import httpx
import paramiko
import pytest

from halo_platform.lab.fakehttp import FakeHTTPServer, measure_capacity, run_in_process


def _mail(subject: str = "Daily report") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "reports@halo.test"
    message["To"] = "ops@clinic.test"
    message.set_content("Attached.")
    message.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="report.csv")
    return message


def test_smtp_records_mail_sent_over_starttls_and_implicit_tls_with_login(smtp_server):
    """STARTTLS on the plain port and SMTPS on the second port both authenticate and record the
    envelope, the parsed message with its attachment, and that TLS was used."""
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.starttls(context=smtp_server.client_context())
        client.login(smtp_server.username, smtp_server.password)
        client.send_message(_mail("over starttls"))
    with smtplib.SMTP_SSL(smtp_server.host, smtp_server.ssl_port, context=smtp_server.client_context()) as client:
        client.login(smtp_server.username, smtp_server.password)
        client.send_message(_mail("over smtps"))
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.send_message(_mail("in clear"))

    first, second, third = smtp_server.messages.wait_for(3)
    assert [m.subject for m in (first, second, third)] == ["over starttls", "over smtps", "in clear"]
    assert (first.tls, second.tls, third.tls) == (True, True, False)
    assert (first.auth_user, third.auth_user) == ("halo", None)
    assert (first.port, second.port) == (smtp_server.port, smtp_server.ssl_port)
    assert first.mail_from == "reports@halo.test" and first.rcpt_tos == ["ops@clinic.test"]
    assert first.attachments == {"report.csv": b"a,b\n1,2\n"}
    assert first.text() == "Attached.\n"


def test_smtp_certificate_is_refused_by_a_client_that_does_not_trust_it(smtp_server):
    """A client with the system trust store must fail the handshake: the certificate is self-signed."""
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(context=ssl.create_default_context())


@pytest.mark.parametrize(
    ("switch", "value", "error", "code"),
    [
        ("rcpt_reply", "451 4.3.0 Try again later", smtplib.SMTPRecipientsRefused, 451),
        ("rcpt_reply", "550 5.1.1 No such user", smtplib.SMTPRecipientsRefused, 550),
        ("data_reply", "451 4.3.0 Queue full", smtplib.SMTPDataError, 451),
        ("data_reply", "554 5.7.1 Rejected", smtplib.SMTPDataError, 554),
    ],
)
def test_smtp_refusal_switches_answer_the_chosen_code_and_record_nothing(smtp_server, switch, value, error, code):
    """RCPT and DATA refusals come back to smtplib with the configured code; nothing is recorded."""
    setattr(smtp_server.switches, switch, value)
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        with pytest.raises(error) as raised:
            client.send_message(_mail())
    if error is smtplib.SMTPRecipientsRefused:
        assert raised.value.recipients["ops@clinic.test"][0] == code
    else:
        assert raised.value.smtp_code == code
    assert len(smtp_server.messages) == 0


def test_smtp_rejects_auth_requires_auth_and_drops_connections_when_told(smtp_server):
    """Wrong credentials and the reject_auth switch give 535; require_auth refuses MAIL FROM with
    530 until login; drop_on_connect closes before the greeting."""
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(smtp_server.username, "wrong")
    smtp_server.switches.reject_auth = True
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
            client.login(smtp_server.username, smtp_server.password)
    assert raised.value.smtp_code == 535
    # smtplib tries PLAIN then LOGIN, so each refused login is two attempts.
    assert smtp_server.auth_attempts.snapshot() == [("halo", False)] * 4
    smtp_server.reset()
    smtp_server.switches.require_auth = True
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.send_message(_mail())
        assert refused.value.smtp_code == 530
        client.login(smtp_server.username, smtp_server.password)
        client.send_message(_mail("after login"))
    assert [m.subject for m in smtp_server.messages] == ["after login"]
    smtp_server.switches.drop_on_connect = True
    with pytest.raises(smtplib.SMTPServerDisconnected):
        smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5)


def test_ftp_stores_uploads_in_home_over_plain_ftp_and_explicit_ftps(ftp_server):
    """ftplib uploads land as real files under `home` and are recorded, with TLS noted for FTPS."""
    with ftplib.FTP() as client:
        client.connect(ftp_server.host, ftp_server.port, timeout=5)
        client.login(ftp_server.username, ftp_server.password)
        client.mkd("outbox")
        client.storbinary("STOR outbox/report.csv", io.BytesIO(b"a,b\n1,2\n"))
    with ftplib.FTP_TLS(context=ftp_server.tls.client_context()) as client:
        client.connect(ftp_server.host, ftp_server.tls_port, timeout=5)
        client.login(ftp_server.username, ftp_server.password)
        client.prot_p()
        client.storbinary("STOR secret.csv.part", io.BytesIO(b"x" * 5000))
        client.rename("secret.csv.part", "secret.csv")
        assert sorted(client.nlst()) == ["outbox", "secret.csv"]

    assert (ftp_server.home / "outbox" / "report.csv").read_bytes() == b"a,b\n1,2\n"
    assert (ftp_server.home / "secret.csv").stat().st_size == 5000
    assert [(u.path, u.size, u.tls) for u in ftp_server.uploads] == [
        ("outbox/report.csv", 8, False),
        ("secret.csv.part", 5000, True),
    ]


def test_ftp_switches_refuse_login_and_break_or_refuse_uploads(ftp_server):
    """refuse_login gives 530; close_on_stor drops the connection; stor_reply answers the chosen code."""
    ftp_server.switches.refuse_login = True
    with ftplib.FTP() as client:
        client.connect(ftp_server.host, ftp_server.port, timeout=5)
        with pytest.raises(ftplib.error_perm, match="^530"):
            client.login(ftp_server.username, ftp_server.password)
    ftp_server.reset()
    ftp_server.switches.close_on_stor = True
    with ftplib.FTP() as client:
        client.connect(ftp_server.host, ftp_server.port, timeout=5)
        client.login(ftp_server.username, ftp_server.password)
        with pytest.raises((EOFError, ConnectionError)):
            client.storbinary("STOR report.csv", io.BytesIO(b"data"))
    ftp_server.reset()
    ftp_server.switches.stor_reply = "452 Insufficient storage space"
    with ftplib.FTP() as client:
        client.connect(ftp_server.host, ftp_server.port, timeout=5)
        client.login(ftp_server.username, ftp_server.password)
        with pytest.raises(ftplib.error_temp, match="^452"):
            client.storbinary("STOR report.csv", io.BytesIO(b"data"))
    assert len(ftp_server.uploads) == 0 and list(ftp_server.home.iterdir()) == []


def _ssh(sftp_server, **auth) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(sftp_server.known_hosts_path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        sftp_server.host, sftp_server.port, username=sftp_server.username,
        allow_agent=False, look_for_keys=False, timeout=5, **auth,
    )
    return client


def test_sftp_put_then_rename_lands_in_root_and_is_recorded(sftp_server):
    """paramiko's SFTPClient writes a temporary name then posix-renames it, as an atomic sink would;
    the server host key verifies against the exposed known_hosts; key login works too."""
    with _ssh(sftp_server, password=sftp_server.password) as ssh, ssh.open_sftp() as sftp:
        sftp.mkdir("outbox")
        sftp.putfo(io.BytesIO(b"a,b\n1,2\n"), "/outbox/report.csv.part")
        sftp.posix_rename("/outbox/report.csv.part", "/outbox/report.csv")
        sftp.putfo(io.BytesIO(b"old"), "/outbox/other.csv")
        with pytest.raises(OSError):
            sftp.rename("/outbox/other.csv", "/outbox/report.csv")  # plain SFTP rename never overwrites
        assert sftp.listdir("/outbox") == ["other.csv", "report.csv"]
        assert sftp.stat("/outbox/report.csv").st_size == 8
        sftp.utime("/outbox/report.csv", (1_700_000_000, 1_700_000_000))
        assert sftp.lstat("/outbox/report.csv").st_mtime == 1_700_000_000
        with pytest.raises(FileNotFoundError):
            sftp.stat("/outbox/missing.csv")
    with _ssh(sftp_server, key_filename=str(sftp_server.client_key_path)) as ssh, ssh.open_sftp() as sftp:
        sftp.remove("/outbox/other.csv")

    assert (sftp_server.root / "outbox" / "report.csv").read_bytes() == b"a,b\n1,2\n"
    assert [(e.op, e.path, e.target) for e in sftp_server.events] == [
        ("mkdir", "outbox", None),
        ("write", "outbox/report.csv.part", None),
        ("posix_rename", "outbox/report.csv.part", "outbox/report.csv"),
        ("write", "outbox/other.csv", None),
        ("remove", "outbox/other.csv", None),
    ]


def test_sftp_serves_several_clients_at_once(sftp_server):
    """Concurrent sessions each get their own transport thread and all uploads land."""
    from concurrent.futures import ThreadPoolExecutor

    def upload(index: int) -> None:
        with _ssh(sftp_server, password=sftp_server.password) as ssh, ssh.open_sftp() as sftp:
            sftp.putfo(io.BytesIO(b"x" * (1000 + index)), f"/file-{index}.bin")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(upload, range(4)))
    assert sorted(p.stat().st_size for p in sftp_server.root.iterdir()) == [1000, 1001, 1002, 1003]
    assert len(sftp_server.events.wait_for(4)) == 4


def test_sftp_switches_refuse_auth_and_drop_the_connection_after_auth(sftp_server):
    """refuse_auth fails a correct login; drop_after_auth lets the login pass and cuts the SFTP channel."""
    sftp_server.switches.refuse_auth = True
    with pytest.raises(paramiko.AuthenticationException):
        _ssh(sftp_server, password=sftp_server.password)
    sftp_server.reset()
    sftp_server.switches.drop_after_auth = True
    with _ssh(sftp_server, password=sftp_server.password) as ssh:
        with pytest.raises((EOFError, paramiko.SSHException, OSError)):
            ssh.open_sftp()
    assert sftp_server.auth_attempts.snapshot() == [("halo", True)]


def test_s3_put_and_list_with_boto3_using_only_the_environment(s3_server):
    """A default boto3 client finds the fake through the environment the fixture sets; the
    server records each request with its headers."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="halo-reports")
    s3.put_object(Bucket="halo-reports", Key="daily/2026-11-21.csv", Body=b"a,b\n", ContentType="text/csv")
    listed = s3.list_objects_v2(Bucket="halo-reports", Prefix="daily/")
    assert [o["Key"] for o in listed["Contents"]] == ["daily/2026-11-21.csv"]
    put = [r for r in s3_server.requests if r.method == "PUT" and r.path.endswith(".csv")]
    assert len(put) == 1 and put[0].header("content-type") == "text/csv" and put[0].body_size == 4


def _bind_fails(port: int, reuse_address: bool) -> bool:
    """Whether another server binding the port (with SO_REUSEADDR, as socketserver, werkzeug and
    uvicorn bind, or without) finds it in use."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, reuse_address)
        try:
            other.bind(("127.0.0.1", port))
        except OSError as error:
            assert error.errno == errno.EADDRINUSE
            return True
    return False


def test_s3_switches_fail_requests_and_down_refuses_connections(s3_server):
    """error_status answers an S3 XML error (retried by boto3 while error_count lasts); down()
    refuses connections, keeps the port from other processes, and keeps the buckets for afterwards."""
    s3 = s3_server.client(config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 3}))
    s3.create_bucket(Bucket="halo-reports")
    s3_server.switches.error_status, s3_server.switches.error_count = 503, 2
    assert s3.head_bucket(Bucket="halo-reports")["ResponseMetadata"]["RetryAttempts"] == 2
    s3_server.switches.error_status, s3_server.switches.error_count = 403, None
    s3_server.switches.error_code = "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        s3.put_object(Bucket="halo-reports", Key="k", Body=b"1")
    s3_server.switches.error_status = None
    with s3_server.down():
        with pytest.raises(botocore.exceptions.EndpointConnectionError):
            s3.list_buckets()
        assert _bind_fails(s3_server.port, reuse_address=True)  # nobody else's meanwhile: it restarts on it
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["halo-reports"]
    dead = boto3.client(
        "s3",
        endpoint_url=s3_server.unreachable_endpoint_url,
        config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 1}),
        **s3_server.credentials,
    )
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        dead.list_buckets()


def test_http_fake_routes_by_method_and_regex_and_records_requests(http_fake):
    """A route's named groups reach the handler; dict bodies go out as JSON with Content-Length;
    the request is recorded with headers, query and raw body; unknown paths answer 404."""

    @http_fake.route("POST", r"/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json")
    def send(request):
        return 201, {"X-Request-Id": "r1"}, {"sid": "SM1", "to": request.form()["To"], "account": request.params["sid"]}

    with httpx.Client(base_url=http_fake.url) as client:
        sent = client.post("/2010-04-01/Accounts/AC42/Messages.json?x=1", data={"To": "+15550100"}, auth=("AC42", "t"))
        missing = client.get("/2010-04-01/Accounts/AC42/Messages.json")
    assert sent.status_code == 201 and sent.json() == {"sid": "SM1", "to": "+15550100", "account": "AC42"}
    assert sent.headers["content-length"] == str(len(sent.content)) and sent.headers["x-request-id"] == "r1"
    assert missing.status_code == 404
    first, second = http_fake.requests
    assert (first.method, first.path, first.query, first.status) == (
        "POST", "/2010-04-01/Accounts/AC42/Messages.json", {"x": ["1"]}, 201,
    )
    assert first.headers["Authorization"].startswith("Basic ") and first.body == b"To=%2B15550100"
    assert (second.method, second.status) == ("GET", 404)
    assert http_fake.status_counts == {201: 1, 404: 1} and not http_fake.handler_errors


def test_http_fake_failure_switches_fail_delay_drop_and_answer_html(http_fake):
    """failure_rate fails about that share (seeded), latency delays, hard_down closes without an
    answer, html_502 answers an HTML 502; a handler that raises answers 500 and is kept."""
    http_fake.add_route("GET", r"/ok", lambda request: (200, {"ok": True}))
    http_fake.add_route("GET", r"/boom", lambda request: 1 / 0)
    with httpx.Client(base_url=http_fake.url) as client:
        http_fake.failure_rate = 0.3
        statuses = [client.get("/ok").status_code for _ in range(200)]
        assert set(statuses) == {200, 503} and 40 <= statuses.count(503) <= 80
        assert client.get("/__fake__/ping").status_code == 200  # control paths never fail
        http_fake.reset()
        http_fake.latency_seconds = 0.2
        started = time.perf_counter()
        assert client.get("/ok").status_code == 200 and time.perf_counter() - started >= 0.2
        http_fake.reset()
        http_fake.html_502 = True
        answer = client.get("/ok")
        assert answer.status_code == 502 and answer.headers["content-type"] == "text/html"
        assert answer.text.startswith("<html>")
        http_fake.reset()
        http_fake.hard_down = True
        with pytest.raises(httpx.TransportError):
            client.get("/ok")
        http_fake.hard_down = False
        assert client.get("/ok").status_code == 200
        assert client.get("/boom").status_code == 500 and "ZeroDivisionError" in http_fake.handler_errors[0]


def test_http_fake_in_its_own_process_is_steered_through_control_paths():
    """run_in_process serves a factory's fake in a child process; switches, stats and the request
    log work across the process boundary; the child stops with the handle."""
    with run_in_process("halo_platform.lab.fakehttp:echo_server") as fake:
        assert httpx.post(fake.url + "/v3/mail/send", json={"a": 1}).json()["path"] == "/v3/mail/send"
        fake.set_switches(failure_rate=1.0, failure_response=[429, {"Retry-After": "1"}, {"error": "slow down"}])
        limited = httpx.get(fake.url + "/x")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
        assert fake.stats()["statuses"] == {"200": 1, "429": 1}
        fake.reset()
        assert fake.stats()["requests"] == 0
        assert measure_capacity(fake.url, requests=300) > 300
    assert fake.process.poll() is not None


@pytest.mark.parametrize("reuse_address", [False, True])
def test_a_stopped_http_fake_refuses_connections_and_keeps_its_port_until_it_starts_again(reuse_address):
    """Stopping refuses connections (a provider that is really gone) and no other process can take
    the port meanwhile, so a test's connection is refused by no one else and `start()` serves at
    the same URL again; `close()` lets the port go. The port was merely closed: under pytest -n 3
    another worker's server could bind it before the test connected or restarted. A keep-alive
    connection is open at `stop()`: the port is held past the server's own sockets on it."""
    fake = FakeHTTPServer()
    fake.add_route("GET", r"/health", lambda request: (200, "up"))
    fake.start()
    try:
        url, port = fake.url, fake.port
        with httpx.Client() as client:
            assert client.get(url + "/health").text == "up"
            fake.stop()
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/health")
        assert _bind_fails(port, reuse_address)
        fake.start()
        assert fake.url == url and httpx.get(url + "/health").text == "up"
    finally:
        fake.close()
    assert not _bind_fails(port, reuse_address=True)
