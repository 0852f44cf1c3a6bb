"""A sink's bad settings are that sink's one clear, permanent failure, against the real servers:
a host no resolver takes, an SFTP key or known_hosts file that is not there, a remote folder
with a control character. Never 'unexpected error: <type>' logged as a sink's bug, never a
transient failure retried with the run, never a setting's secret in the detail."""

from __future__ import annotations

import pytest
import yaml

from halo_platform.reports.assets import deliver_all
from halo_platform.sinks import Delivery, SinksResource

IDNA_REFUSED = "Value error, not a host name: a label is empty or over 63 characters, or has a character IDNA refuses"
# a label over 63 characters, an empty label: IDNA (socket's encoding of a host) refuses both;
# an empty host (a `${SMTP_HOST}` set to nothing) smtplib does not even connect to
BAD_HOSTS = {"label-over-63": (f"{'a' * 64}.example", IDNA_REFUSED), "empty-label": ("a..b", IDNA_REFUSED),
             "empty": ("", "String should have at least 1 character")}


def resource(tmp_path, sinks: dict) -> SinksResource:  # noqa: ANN001
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": sinks}))
    return SinksResource(sinks_file=str(path), attempts=3, backoff=[0.01])


def server_settings(kind: str, request: pytest.FixtureRequest) -> dict:
    """A sink of `kind` delivering to its real fake server (`remote_dir` /inbound)."""
    server = request.getfixturevalue(f"{'smtp' if kind == 'email' else kind}_server")
    settings = {"kind": kind, "host": server.host, "port": server.port, **server.credentials}
    if kind == "email":
        return settings | {"sender": "reports@example.com", "to": ["finance@example.com"]}
    return settings | {"remote_dir": "/inbound"} | (
        {"known_hosts_path": str(server.known_hosts_path)} if kind == "sftp" else {})


def deliver_one(tmp_path, settings: dict, delivery: Delivery | None = None):  # noqa: ANN001, ANN201
    (outcome,) = deliver_all(resource(tmp_path, {"dest": settings}), ["dest"], delivery or Delivery("alert", "over budget"))
    return outcome


@pytest.mark.parametrize(("host", "why"), BAD_HOSTS.values(), ids=BAD_HOSTS.keys())
@pytest.mark.parametrize("kind", ["email", "ftp", "sftp"])
def test_a_host_no_resolver_takes_is_refused_as_the_sinks_setting(kind, host, why, request, tmp_path, caplog):
    """socket encodes a host as IDNA, which refuses a label over 63 characters or an empty one:
    the delivery failed as 'unexpected error: UnicodeError', logged as a sink's bug and not
    permanent (the run retried for bad configuration); an empty one was retried as transient.
    It is the sink's setting, refused when built."""
    outcome = deliver_one(tmp_path, server_settings(kind, request) | {"host": host})
    assert (outcome.status, outcome.targets, outcome.permanent) == ("FAILED", [], True), outcome.detail
    assert outcome.detail == f"unusable: sink 'dest' ({kind}): invalid settings: host: {why}"
    assert "failed unexpectedly" not in caplog.text


KEY_CONTENT = "KEYSECRET-5f2a"
SFTP_FILES = {  # setting, what the file is, the reason shown
    "no-key-file": ("private_key_path", None, "cannot be read: No such file or directory"),
    "not-a-key": ("private_key_path", f"ssh-ed25519 {KEY_CONTENT} a public key line\n", "not a private key paramiko reads (ValueError)"),
    "broken-key": ("private_key_path", f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_CONTENT}\n-----END OPENSSH PRIVATE KEY-----\n",
                   "not a private key paramiko reads (ValueError)"),
    "no-known-hosts": ("known_hosts_path", None, "cannot be read: No such file or directory"),
    "broken-known-hosts": ("known_hosts_path", f"127.0.0.1 ssh-ed25519 !!{KEY_CONTENT}\n",
                           "not a known_hosts file paramiko reads (InvalidHostKey)"),
}


@pytest.mark.parametrize(("setting", "content", "why"), SFTP_FILES.values(), ids=SFTP_FILES.keys())
def test_an_sftp_key_or_known_hosts_file_it_cannot_read_is_one_clear_permanent_failure(setting, content, why, sftp_server,
                                                                                       request, tmp_path, caplog):
    """A private key file that is not there or is no key, and a known_hosts file that is not there,
    were retried as transient failures with the run (a broken known_hosts line failed as
    'unexpected error: InvalidHostKey'): no retry
    reads them. The failure names the setting, never the file's content; nothing is uploaded."""
    path = tmp_path / "settings-file"
    if content is not None:
        path.write_text(content)
    settings = server_settings("sftp", request) | {setting: str(path)}
    if setting == "private_key_path":
        settings["password"] = None
    outcome = deliver_one(tmp_path, settings)
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.detail
    assert outcome.detail == f"permanent: SFTP 127.0.0.1: {setting}: {why}"
    assert KEY_CONTENT not in repr(outcome) and "failed unexpectedly" not in caplog.text
    assert not (sftp_server.root / "inbound").exists()



def test_an_sftp_sink_with_neither_password_nor_key_is_refused_as_its_setting(request, tmp_path, caplog):
    """With no password and no private_key_path (a `${SFTP_PASSWORD}` left out), paramiko offered the
    server nothing: 'No authentication methods available', retried as transient at every attempt and
    with the run. The sink is refused when built, naming the settings: nothing is tried."""
    sftp_server = request.getfixturevalue("sftp_server")
    outcome = deliver_one(tmp_path, server_settings("sftp", request) | {"password": None})
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 0, True), outcome.detail
    assert outcome.detail == ("unusable: sink 'dest' (sftp): invalid settings: private_key_path: "
                              "Value error, neither it nor password is set: there is no way to log in")
    assert sftp_server.auth_attempts.snapshot() == [] and "failed unexpectedly" not in caplog.text


def path_settings(kind: str, setting: str, value: str, request: pytest.FixtureRequest, tmp_path) -> dict:  # noqa: ANN001
    """A sink of `kind` whose path `setting` is `value` (a local one under `tmp_path`)."""
    if kind == "s3":
        server = request.getfixturevalue("s3_server")
        server.client().create_bucket(Bucket="reports")
        return {"kind": "s3", "bucket": "reports", "prefix": value, "endpoint_url": server.endpoint_url, "region": server.region}
    if kind == "folder":
        return {"kind": "folder", "path": f"{tmp_path}{value}"}
    return server_settings(kind, request) | {setting: value if setting == "remote_dir" else f"{tmp_path}{value}"}


CONTROLS = {"LF": "\n", "CR": "\r", "NUL": "\x00", "TAB": "\t"}
PATHS = [("ftp", "remote_dir"), ("sftp", "remote_dir"), ("s3", "prefix"), ("folder", "path")]
LOCAL_FILES = [("email", "ca_file"), ("ftp", "ca_file"), ("sftp", "private_key_path"), ("sftp", "known_hosts_path")]


@pytest.mark.parametrize("control", CONTROLS, ids=CONTROLS)
@pytest.mark.parametrize(("kind", "setting"), PATHS + LOCAL_FILES, ids=[f"{k}-{s}" for k, s in PATHS + LOCAL_FILES])
def test_a_path_setting_with_a_control_character_is_refused_as_the_sinks_setting(kind, setting, control, request, tmp_path,
                                                                                  report_file, caplog):
    """FTP's remote_dir "/in\nbound" failed as 'unexpected error: ValueError' (ftplib refuses a
    line break in a command), with a NUL the server dropped the connection, retried as transient,
    as was SFTP's (`OSError: Failure`); a folder's path or a CA or key file with a NUL failed as
    'unexpected error: ValueError'; a tab or line break made a folder, S3 key or target that splits
    the log's line (or an S3 404). Each is the sink's setting, refused when built: nothing is sent."""
    value = f"/in{CONTROLS[control]}bound"
    outcome = deliver_one(tmp_path, path_settings(kind, setting, value, request, tmp_path), Delivery("r", "t", [report_file]))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 0, True), outcome.detail
    assert outcome.detail == (f"unusable: sink 'dest' ({kind}): invalid settings: {setting}: "
                              f"Value error, has a control character (U+{ord(CONTROLS[control]):04X})")
    assert "failed unexpectedly" not in caplog.text


@pytest.mark.parametrize("kind", ["webhook", "slack"])
def test_a_sink_that_carries_no_files_says_so_when_its_file_goes_as_a_link(kind, http_fake, report_file, tmp_path):
    """A webhook or Slack sink carries no file (its size limit is None): the file it got as a link
    was reported 'over None bytes, sent as a link via ...'."""
    http_fake.add_route("POST", "/hook", lambda _request: (200, "ok"))
    url = f"{http_fake.url}/hook"
    settings = {"kind": "webhook", "url": url, "secret": "whsec-settings-1"} if kind == "webhook" else {
        "kind": "slack", "webhook_url": url}
    sinks = resource(tmp_path, {"hook": settings | {"link_store": "served"},
                                "served": {"kind": "folder", "path": str(tmp_path / "served"), "url": "https://files.example.com/r/"}})
    outcome = sinks.deliver("hook", Delivery("report", "3 issues", [report_file]))
    assert outcome.status == "DELIVERED", outcome.detail
    assert outcome.detail == ("this sink carries no files, sent as a link via served: "
                              f"{report_file.name} ({report_file.stat().st_size} bytes)")
    assert f"https://files.example.com/r/{report_file.name}" in http_fake.requests.snapshot()[0].text()
