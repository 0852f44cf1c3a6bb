"""Sinks review 2: the address an SFTP sink records for a folder given from the login folder, the
address of a sink on an IPv6 host, an email whose relay never answered its message, the encoding of
a message's note file; each against the real servers (SFTP and FTP on ::1 too) or a real interpreter."""

from __future__ import annotations

import ftplib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paramiko
import pytest

from halo_platform.sinks import Delivery, deliver_with_retries
from halo_platform.sinks.email import EmailSink
from halo_platform.sinks.ftp import FTPSink
from halo_platform.sinks.sftp import SFTPSink
from halo_platform_tests.servers.ftp import FTPServer
from halo_platform_tests.servers.sftp import SFTPServer


def _fetch_sftp(uri: str, server: SFTPServer) -> bytes:
    """The file at an sftp:// address, read as an SFTP client reads the URL: its host, port and
    percent-decoded path (from the server's root, never from the login folder)."""
    parts = urlsplit(uri)
    client = paramiko.SSHClient()
    client.load_host_keys(str(server.known_hosts_path))
    client.connect(parts.hostname, parts.port, allow_agent=False, look_for_keys=False, **server.credentials)
    try:
        with client.open_sftp() as sftp:
            body = io.BytesIO()
            sftp.getfo(unquote(parts.path), body)
            return body.getvalue()
    finally:
        client.close()


def _fetch_ftp(uri: str, server: FTPServer) -> bytes:
    """The file at an ftp:// address: its host, port and percent-decoded path."""
    parts = urlsplit(uri)
    body = io.BytesIO()
    with ftplib.FTP() as ftp:
        ftp.connect(parts.hostname, parts.port, timeout=10)
        ftp.login(server.username, server.password)
        ftp.retrbinary(f"RETR {unquote(parts.path)}", body.write)
    return body.getvalue()


@pytest.mark.parametrize("remote_dir,folder", [("inbound", "home/halo/inbound"), (".", "home/halo"),
                                               ("./in #2/../in #2", "home/halo/in #2")])
def test_an_sftp_folder_from_the_login_folder_is_recorded_where_the_file_is(sftp_server, report_file, remote_dir, folder):
    """An SFTP `remote_dir` without a leading `/` (`inbound`, the default `.`) is a folder in the
    login folder (/home/halo on an OpenSSH server), where the file was written; the sink recorded
    `sftp://host:port/inbound/report.csv` and `sftp://host:port/./report.csv`, paths from the
    server's root that name no file (the FTP sink asks the server with PWD). The address is now
    the folder as the server resolves it (REALPATH), and reading it gives the file."""
    sftp_server.home = "home/halo"
    (sftp_server.root / "home" / "halo").mkdir(parents=True)
    sink = SFTPSink(host=sftp_server.host, port=sftp_server.port, remote_dir=remote_dir,
                    known_hosts_path=str(sftp_server.known_hosts_path), **sftp_server.credentials)
    (target,) = sink.deliver(Delivery("r", "t", [report_file]))
    assert unquote(target) == f"sftp://127.0.0.1:{sftp_server.port}/{folder}/{report_file.name}"
    assert (sftp_server.root / folder / report_file.name).read_bytes() == report_file.read_bytes()
    assert _fetch_sftp(target, sftp_server) == report_file.read_bytes()


@pytest.fixture(scope="module")
def ipv6_servers(tmp_path_factory: pytest.TempPathFactory, tls_files) -> Iterator[tuple[FTPServer, SFTPServer]]:  # noqa: ANN001
    """An FTP and an SFTP server listening on the IPv6 loopback ::1 alone."""
    ftp = FTPServer(tmp_path_factory.mktemp("ftp6_home"), tls_files, host="::1").start()
    sftp = SFTPServer(tmp_path_factory.mktemp("sftp6_root"), tmp_path_factory.mktemp("sftp6_keys"), host="::1").start()
    yield ftp, sftp
    ftp.stop()
    sftp.stop()


@pytest.mark.parametrize("kind", ["ftp", "sftp"])
def test_a_sink_on_an_ipv6_host_records_a_url_of_the_file(ipv6_servers, report_file, kind):
    """A sink whose host is an IPv6 address (`::1`) recorded `ftp://::1:21/inbound/report.csv`: not
    a URL (urlsplit read no host, and refused its port), so the request's output named no file. The address is
    now in brackets as a URL's (`ftp://[::1]:21/...`), and reading that URL gives the file."""
    ftp, sftp = ipv6_servers
    if kind == "ftp":
        sink, server, port = FTPSink(host="::1", port=ftp.port, remote_dir="/inbound", **ftp.credentials), ftp, ftp.port
    else:
        sink, server, port = SFTPSink(host="::1", port=sftp.port, remote_dir="/inbound", **sftp.credentials,
                                      known_hosts_path=str(sftp.known_hosts_path)), sftp, sftp.port
    (target,) = sink.deliver(Delivery("r", "t", [report_file]))
    assert target == f"{kind}://[::1]:{port}/inbound/{report_file.name}"
    assert (urlsplit(target).hostname, urlsplit(target).port) == ("::1", port)
    fetch = _fetch_ftp if kind == "ftp" else _fetch_sftp
    assert fetch(target, server) == report_file.read_bytes()


@pytest.mark.parametrize("host,place", [("::1", "[::1]:21"), ("fe80::1%eth0", "[fe80::1%25eth0]:21"),
                                        ("ftp.example.com", "ftp.example.com:21"), ("127.0.0.1", "127.0.0.1:21")])
def test_a_host_in_a_file_address_is_written_as_a_url_has_it(host, place):
    """A link-local IPv6 address has a zone (`%eth0`): in a URL it is `%25eth0` inside the brackets
    (RFC 6874); a name or an IPv4 address is as it was."""
    assert FTPSink.file_uri("ftp", host, "/r.csv", 21) == f"ftp://{place}/r.csv"


@pytest.mark.parametrize("switch", ["drop_after_data", "data_reply_delay"])
def test_an_email_with_no_reply_to_its_message_is_not_sent_again(smtp_server, report_file, switch):
    """A relay that took the message but whose 250 never came (the line dropped, or slower than the
    sink's timeout) has it: the sink took that for a transient failure and sent the report again,
    and finance had it twice (three times with three attempts) while the outcome said DELIVERED
    after 2 attempts. It is now one permanent failure naming the server, never resent."""
    setattr(smtp_server.switches, switch, True if switch == "drop_after_data" else 3.0)
    sink = EmailSink(host=smtp_server.host, port=smtp_server.port, sender="reports@example.com", to=["finance@example.com"],
                     timeout=1.0, **smtp_server.credentials)
    outcome = deliver_with_retries("finance_email", sink, Delivery("weekly report", "3 issues", [report_file]),
                                   attempts=3, backoff_seconds=(0,))
    assert len(smtp_server.messages) == 1
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True)
    assert outcome.detail == ("permanent: SMTP 127.0.0.1: no reply once the message was sent (SMTPServerDisconnected); "
                              "the server may have it, so it is not sent again")


def test_an_email_refused_before_its_message_is_retried_and_names_the_server(smtp_server, report_file):
    """A relay that closes the connection before its greeting has nothing: that is retried, and the
    line names the server as the FTP, SFTP and S3 sinks' do (it said `ConnectionRefusedError: ...`
    alone), never the password."""
    smtp_server.switches.drop_on_connect = True
    sink = EmailSink(host=smtp_server.host, port=smtp_server.port, sender="reports@example.com", to=["finance@example.com"],
                     timeout=1.0, **smtp_server.credentials)
    outcome = deliver_with_retries("finance_email", sink, Delivery("weekly report", "3 issues", [report_file]),
                                   attempts=3, backoff_seconds=(0,))
    assert (outcome.status, outcome.attempts, outcome.permanent, len(smtp_server.messages)) == ("FAILED", 3, False, 0)
    assert outcome.detail.startswith("gave up after 3 attempts: TransientSinkError: SMTP 127.0.0.1: SMTPServerDisconnected: ")
    assert "\n" not in outcome.detail and smtp_server.password not in outcome.detail


NOTE = """
import sys
from halo_platform.sinks import Delivery, Link, deliver_with_retries
from halo_platform.sinks.folder import FolderSink

link = Link("Größe_März.csv", 12, "https://files.example.com/Größe_März.csv")
outcome = deliver_with_retries("outbox", FolderSink(path=sys.argv[1]), Delivery("Reminder: payments", "Zahlung für März ist fällig", links=[link]), attempts=1)
print(outcome.status, outcome.detail)
"""


def test_a_note_file_is_utf8_whatever_the_locale(tmp_path):
    """A message (or a file sent as a link) is stored as a note `<subject>.txt`, written in the
    locale's encoding: under LANG=C (a container, a systemd service; Python's UTF-8 mode off) a
    note saying `März` failed the delivery as 'unexpected error: UnicodeEncodeError', and under a
    Latin-1 locale the file was Latin-1 while every other text file the platform writes is UTF-8.
    It is UTF-8 now, whatever the locale."""
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    script = tmp_path / "note.py"  # a source file is UTF-8 (a -c argument would be read in the locale's encoding)
    script.write_text(NOTE, encoding="utf-8")
    (tmp_path / "out").mkdir()
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "out")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert (run.returncode, run.stdout.strip()) == (0, "DELIVERED"), run.stderr
    assert (tmp_path / "out" / "Reminder_payments.txt").read_bytes().decode("utf-8") == (
        "Zahlung für März ist fällig\n\nGröße_März.csv (12 bytes): https://files.example.com/Größe_März.csv")
