"""What a sink makes of its settings: a URL it cannot post to, SMTP credentials smtplib cannot
send and a port over 65535 are that sink's one clear, permanent failure (not an exception named
by its type and retried with the run, nor a delivery to another port), and a webhook URL whose
path is its secret (Slack's `/services/T…/B…/<token>`) is shown masked wherever its target goes
(task_deliveries, the Requests page, `halo tasks log`)."""

from __future__ import annotations

import pytest
import yaml

from halo_platform.lab.fakehttp import FakeHTTPServer
from halo_platform.reports.assets import deliver_all
from halo_platform.sinks import Delivery, SinksResource

WEBHOOK_SECRET = "whsec-strict-7d1e"
# IDNA refuses it (its punycode decodes to a control character); a host label over 63 characters
BAD_URLS = ["https://xn--a.example/hooks/T0/B0/XXXXSECRET", f"https://{'a' * 64}.example/hooks/T0/B0/XXXXSECRET",
            "http://[::1/hooks/T0/B0/XXXXSECRET"]


def resource(tmp_path, sinks: dict) -> SinksResource:  # noqa: ANN001
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": sinks}))
    return SinksResource(sinks_file=str(path), attempts=3, backoff=[0.01])


@pytest.mark.parametrize("url", BAD_URLS, ids=["idna-refused", "label-too-long", "bad-ipv6"])
@pytest.mark.parametrize("kind", ["webhook", "slack"])
def test_a_webhook_url_that_cannot_be_posted_to_is_one_clear_permanent_failure(kind, url, tmp_path, caplog):
    """A bad URL is bad configuration: no retry fixes it, so it is a permanent failure saying so,
    not 'unexpected error: InvalidCodepoint' logged as a sink's bug and retried with the run."""
    settings = {"kind": "webhook", "url": url, "secret": WEBHOOK_SECRET} if kind == "webhook" else {
        "kind": "slack", "webhook_url": url}
    outcome = resource(tmp_path, {"hook": settings}).deliver("hook", Delivery("alert", "over budget"))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.detail
    assert outcome.detail.startswith("permanent: ") and outcome.detail.endswith("the URL is not a valid http(s) URL")
    assert "XXXXSECRET" not in repr(outcome) and "failed unexpectedly" not in caplog.text


@pytest.mark.parametrize(("path", "shown"), [
    ("/services/T000/B000/XXXXSECRET", "/services/***"),
    ("/XXXXSECRET", "/***"),  # a path of one segment is all secret
    ("/hooks/XXXXSECRET?token=abc#frag", "/hooks/***"),
])
def test_a_webhook_target_shows_its_url_with_the_secret_path_masked(http_fake: FakeHTTPServer, path, shown, tmp_path):
    """The target is recorded in task_deliveries and shown on the Requests page and by `halo tasks
    log`: anyone holding a Slack-style webhook URL can post to it, so its token is never shown."""
    http_fake.add_route("POST", path.partition("?")[0], lambda request: (200, "ok"))
    url = http_fake.url.replace("://", "://halo:pw-XXXXSECRET@") + path
    sinks = resource(tmp_path, {"hook": {"kind": "webhook", "url": url, "secret": WEBHOOK_SECRET},
                                "slack": {"kind": "slack", "webhook_url": url}})
    hook, slack = (sinks.deliver(name, Delivery("alert", "over budget")) for name in ("hook", "slack"))
    assert (hook.status, slack.status) == ("DELIVERED", "DELIVERED"), (hook.detail, slack.detail)
    assert hook.targets == [f"{http_fake.url}{shown}"]
    assert slack.targets == ["slack://127.0.0.1"]
    assert "XXXXSECRET" not in repr([hook, slack]) and "abc" not in repr([hook, slack])


@pytest.mark.parametrize(("field", "credentials"), [("password", {"username": "halo", "password": "pässwörd-XXXXSECRET"}),
                                                    ("username", {"username": "hälo-XXXXSECRET", "password": "smtp-secret"})])
def test_smtp_credentials_smtplib_cannot_send_are_refused_as_the_sinks_settings(smtp_server, report_file, field, credentials,
                                                                                 tmp_path, caplog):
    """smtplib sends AUTH credentials as ASCII: a password with `ä` raised UnicodeEncodeError at
    login, reported as 'unexpected error: UnicodeEncodeError' (a sink's bug, retried with the run).
    It is bad configuration: the sink is refused when it is built, naming the field, never its value,
    and the other sinks still get the file."""
    sinks = resource(tmp_path, {
        "mail": {"kind": "email", "host": smtp_server.host, "port": smtp_server.port, "sender": "reports@example.com",
                 "to": ["finance@example.com"], **credentials},
        "outbox": {"kind": "folder", "path": str(tmp_path / "outbox")}})
    mail, outbox = deliver_all(sinks, ["mail", "outbox"], Delivery("r", "t", [report_file]))
    assert (mail.status, mail.permanent, outbox.status) == ("FAILED", True, "DELIVERED"), mail.detail
    assert mail.detail.startswith(f"unusable: sink 'mail' (email): invalid settings: {field}: ")
    assert "ASCII" in mail.detail and "XXXXSECRET" not in mail.detail and "failed unexpectedly" not in caplog.text
    assert smtp_server.messages.snapshot() == []



@pytest.mark.parametrize("kind", ["ftp", "sftp", "email", "webhook"])
def test_a_port_over_65535_is_refused_not_delivered_to_another_port(kind, request, tmp_path):
    """A port over 65535 reached the port it is modulo 65536 (getaddrinfo keeps 16 bits): an FTP
    sink set to 98931 delivered to the server on 33395 and recorded the target ftp://127.0.0.1:98931/...
    It is bad configuration: a permanent failure naming the setting, and nothing reaches the server."""
    if kind == "webhook":
        fake = request.getfixturevalue("http_fake")
        fake.add_route("POST", "/hook", lambda _request: (200, "ok"))
        host, port = fake.url.removeprefix("http://").split(":")
        settings, received = {"url": f"http://{host}:{int(port) + 65536}/hook", "secret": WEBHOOK_SECRET}, fake.requests.snapshot
    else:
        server = request.getfixturevalue(f"{'smtp' if kind == 'email' else kind}_server")
        settings = {"host": server.host, "port": server.port + 65536, **server.credentials}
        if kind == "email":
            settings |= {"sender": "reports@example.com", "to": ["finance@example.com"]}
            received = server.messages.snapshot
        else:
            settings |= {"remote_dir": "/inbound"} | ({"known_hosts_path": str(server.known_hosts_path)} if kind == "sftp" else {})
            root = server.home if kind == "ftp" else server.root
            received = lambda: sorted((root / "inbound").glob("*")) if (root / "inbound").exists() else []  # noqa: E731
    (outcome,) = deliver_all(resource(tmp_path, {"dest": {"kind": kind, **settings}}), ["dest"], Delivery("alert", "over budget"))
    assert (outcome.status, outcome.targets, outcome.permanent) == ("FAILED", [], True), outcome.detail
    assert outcome.detail == ("permanent: webhook http://127.0.0.1:%s/***: the URL is not a valid http(s) URL" % (int(port) + 65536)
                              if kind == "webhook" else
                              f"unusable: sink 'dest' ({kind}): invalid settings: port: Input should be less than or equal to 65535")
    assert received() == []
