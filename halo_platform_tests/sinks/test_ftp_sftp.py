"""FTP (plain and FTPS) and SFTP sinks against real servers: the file lands under its sanitized
name through a temporary name and a rename; refused logins are permanent, drops are transient."""

from __future__ import annotations

import pytest

from halo_platform.sinks import Delivery, deliver_with_retries
from halo_platform.sinks.base import PermanentSinkError, TransientSinkError
from halo_platform.sinks.ftp import FTPSink
from halo_platform.sinks.sftp import SFTPSink


@pytest.mark.parametrize("tls", [False, True])
def test_ftp_uploads_atomically_into_the_remote_dir(ftp_server, report_file, tls):
    port = ftp_server.tls_port if tls else ftp_server.port
    sink = FTPSink(host=ftp_server.host, port=port, remote_dir="/inbound/finance", tls=tls,
                   ca_file=str(ftp_server.tls.cert_path), **ftp_server.credentials)
    targets = sink.deliver(Delivery("r", "t", [report_file]))
    scheme = "ftps" if tls else "ftp"
    assert targets == [f"{scheme}://127.0.0.1:{port}/inbound/finance/{report_file.name}"]
    assert (ftp_server.home / "inbound" / "finance" / report_file.name).read_bytes() == report_file.read_bytes()
    (upload,) = ftp_server.uploads.snapshot()
    assert upload.path.startswith("inbound/finance/.") and upload.path.endswith(".part")  # then renamed
    assert upload.tls is tls
    assert sorted(p.name for p in (ftp_server.home / "inbound" / "finance").iterdir()) == [report_file.name]


def test_ftp_target_names_cannot_escape_the_remote_dir(ftp_server, tmp_path):
    evil = tmp_path / "..evil name;rm.csv"
    evil.write_text("x")
    sink = FTPSink(host=ftp_server.host, port=ftp_server.port, remote_dir="inbound", **ftp_server.credentials)
    sink.deliver(Delivery("r", "t", [evil]))
    assert [p.name for p in (ftp_server.home / "inbound").iterdir()] == ["evil_name_rm.csv"]


def test_ftp_refused_login_is_permanent_and_a_drop_on_upload_transient(ftp_server, report_file):
    sink = FTPSink(host=ftp_server.host, port=ftp_server.port, **ftp_server.credentials)
    ftp_server.switches.refuse_login = True
    with pytest.raises(PermanentSinkError, match="530"):
        sink.deliver(Delivery("r", "t", [report_file]))
    ftp_server.reset()
    ftp_server.switches.close_on_stor = True
    with pytest.raises(TransientSinkError):
        sink.deliver(Delivery("r", "t", [report_file]))


def sftp_sink(server, **kwargs) -> SFTPSink:  # noqa: ANN001
    return SFTPSink(**{**dict(host=server.host, port=server.port, remote_dir="/inbound",
                              known_hosts_path=str(server.known_hosts_path), **server.credentials), **kwargs})


def test_sftp_uploads_under_a_temporary_name_then_renames(sftp_server, report_file):
    targets = sftp_sink(sftp_server).deliver(Delivery("r", "t", [report_file]))
    assert targets == [f"sftp://127.0.0.1:{sftp_server.port}/inbound/{report_file.name}"]
    assert (sftp_server.root / "inbound" / report_file.name).read_bytes() == report_file.read_bytes()
    ops = [(e.op, e.target) for e in sftp_server.events.snapshot()]
    assert ops[0] == ("mkdir", None) and ops[1][0] == "write"
    assert ops[2] in (("posix_rename", f"inbound/{report_file.name}"), ("rename", f"inbound/{report_file.name}"))


def test_sftp_logs_in_with_a_key_and_overwrites_atomically(sftp_server, report_file):
    sink = sftp_sink(sftp_server, password=None, private_key_path=str(sftp_server.client_key_path))
    sink.deliver(Delivery("r", "t", [report_file]))
    report_file.write_text("order_id,issue\n")
    sink.deliver(Delivery("r", "t", [report_file]))
    assert (sftp_server.root / "inbound" / report_file.name).read_text() == "order_id,issue\n"
    assert [p.name for p in (sftp_server.root / "inbound").iterdir()] == [report_file.name]


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted-key-password-its-passphrase", "plain-key-password-the-logins"])
def test_sftp_logs_in_with_a_key_and_a_password(sftp_server, report_file, tmp_path, encrypted):
    """`password` decrypts an encrypted `private_key_path` (its passphrase), or is the login's when the
    key is plain. paramiko 5 hands it to cryptography, which takes bytes: given both settings, every
    delivery failed as 'unexpected error: TypeError' (logged as a sink's bug, not even permanent)."""
    key_path = tmp_path / "id_rsa"
    sftp_server.client_key.write_private_key_file(str(key_path), password="key pass phrase" if encrypted else None)
    password = "key pass phrase" if encrypted else sftp_server.password
    outcome = deliver_with_retries("partner", sftp_sink(sftp_server, password=password, private_key_path=str(key_path)),
                                   Delivery("r", "t", [report_file]), attempts=1)
    assert outcome.status == "DELIVERED", outcome.detail
    assert (sftp_server.root / "inbound" / report_file.name).read_bytes() == report_file.read_bytes()


def test_sftp_an_encrypted_key_without_a_password_is_a_permanent_failure_naming_the_setting(sftp_server, report_file, tmp_path):
    """It was 'unexpected error: TypeError' (cryptography's 'password-protected, but password was not provided')."""
    key_path = tmp_path / "id_rsa"
    sftp_server.client_key.write_private_key_file(str(key_path), password="key pass phrase")
    outcome = deliver_with_retries("partner", sftp_sink(sftp_server, password=None, private_key_path=str(key_path)),
                                   Delivery("r", "t", [report_file]), attempts=3, backoff_seconds=(0.01,))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True)
    assert outcome.detail == ("permanent: SFTP 127.0.0.1: private_key_path: the key is encrypted, and no password "
                              "(its passphrase) is set")
    assert sftp_server.auth_attempts.snapshot() == []


def test_sftp_refused_auth_and_unknown_host_are_permanent_and_a_drop_transient(sftp_server, report_file, tmp_path):
    sftp_server.switches.refuse_auth = True
    with pytest.raises(PermanentSinkError, match="AuthenticationException"):
        sftp_sink(sftp_server).deliver(Delivery("r", "t", [report_file]))
    sftp_server.reset()
    (tmp_path / "empty_known_hosts").write_text("")
    with pytest.raises(PermanentSinkError, match="host key unknown"):
        sftp_sink(sftp_server, known_hosts_path=str(tmp_path / "empty_known_hosts")).deliver(Delivery("r", "t", [report_file]))
    sftp_server.switches.drop_after_auth = True
    with pytest.raises(TransientSinkError):
        sftp_sink(sftp_server).deliver(Delivery("r", "t", [report_file]))


class _KeepsPart:
    """A server's file that keeps the first `keep` bytes written to it and drops the rest."""

    def __init__(self, file, keep: int) -> None:  # noqa: ANN001
        self.file, self.room = file, keep

    def write(self, data: bytes) -> None:
        self.file.write(data[:max(self.room, 0)])
        self.room -= len(data)

    def __getattr__(self, name: str):  # noqa: ANN204 - the file's other methods
        return getattr(self.file, name)


@pytest.mark.parametrize("tls", [False, True])
def test_an_ftp_upload_the_server_kept_in_part_is_not_renamed_into_place(ftp_server, tmp_path, monkeypatch, tls):
    """A server that kept part of an upload (a full quota, a broken storage layer) and still answered
    226: the part was renamed to the final name and the delivery said DELIVERED, where the SFTP sink
    compares the size stored with the file's (paramiko's `confirm`). The FTP sink now asks the server
    the size (SIZE, RFC 3659) before the rename: a short file is removed and the attempt fails, transient."""
    from halo_platform_tests.servers.ftp import _DTPMixin

    read = _DTPMixin.handle_read_event

    def keeping_a_part(self) -> None:  # noqa: ANN001
        if not isinstance(self.file_obj, _KeepsPart):
            self.file_obj = _KeepsPart(self.file_obj, 65536)
        read(self)

    monkeypatch.setattr(_DTPMixin, "handle_read_event", keeping_a_part)
    report = tmp_path / "report.csv"
    report.write_bytes(b"order_id,issue\n" + b"O1,MISSING_PAYMENT\n" * 20_000)
    sink = FTPSink(host=ftp_server.host, port=ftp_server.tls_port if tls else ftp_server.port, remote_dir="/inbound", tls=tls,
                   ca_file=str(ftp_server.tls.cert_path), **ftp_server.credentials)
    outcome = deliver_with_retries("partner", sink, Delivery("r", "t", [report]), attempts=1)
    assert (outcome.status, outcome.permanent) == ("FAILED", False), outcome.detail
    assert outcome.detail == (f"gave up after 1 attempts: TransientSinkError: FTP 127.0.0.1: the server kept 65536 of "
                              f"{report.stat().st_size} bytes of report.csv: not put in place")
    assert list((ftp_server.home / "inbound").iterdir()) == []
