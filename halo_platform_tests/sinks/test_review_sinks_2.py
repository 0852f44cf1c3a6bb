"""Sinks review 2: the address an SFTP sink records for a folder given from the login folder (against
the real server), the encoding of a message's note file (in a real interpreter under LANG=C)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paramiko
import pytest

from halo_platform.sinks import Delivery
from halo_platform.sinks.sftp import SFTPSink
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
