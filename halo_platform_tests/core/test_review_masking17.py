"""Masking defects found in review 17 (each test failed before its fix): a Google API key in a Google
Chat webhook's URL (`?key=AIza...`) reached the log whole in httpx's line for each post; a URL's password of
digits and slashes (`mysql://app:2024/0612@db/x`) was read as a port and its path, and shown whole; a
dict logged as a line's one argument (`log.info("sent %s", by_recipient)`) had its values masked, not its
keys, in the line and in logging's own report of a format it does not fit; a log call whose argument's text cannot be had (its
`__str__` raises) raised to its caller, where logging itself never raises."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
import yaml

from halo_platform.core.redact import install_redaction, mask_text
from halo_platform.lab.fakehttp import FakeHTTPServer
from halo_platform.sinks import Delivery, SinksResource

GOOGLE_KEY = "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"  # Google's form: `AIza` and 35 more


def test_a_google_chat_webhooks_api_key_never_reaches_the_log(http_fake: FakeHTTPServer, tmp_path, monkeypatch, caplog) -> None:  # noqa: ANN001
    """A Google Chat incoming webhook is `.../messages?key=<Google API key>&token=<token>`: httpx
    logs each post with its URL, and its token was masked, its key shown whole. An httpx URL is now
    shown as `mask_url_path` shows a webhook's (a webhook's path may be its secret too): its first
    path segment, no query."""
    install_redaction()  # as every process's entry point does
    http_fake.add_route("POST", "/v1/spaces/AAAAx/messages", lambda request: (200, {"name": "spaces/AAAAx/messages/1"}))
    monkeypatch.setenv("HALO_TEST_WEBHOOK_SECRET", "whsec-17")
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": {"chat": {
        "kind": "webhook", "url": f"{http_fake.url}/v1/spaces/AAAAx/messages?key={GOOGLE_KEY}&token=chat-token-17",
        "secret": "${HALO_TEST_WEBHOOK_SECRET}"}}}))
    caplog.set_level(logging.INFO, logger="httpx")
    outcome = SinksResource(sinks_file=str(path)).deliver("chat", Delivery("payment_reconciliation: week 10", "3 issue(s)"))
    assert outcome.status == "DELIVERED", outcome.detail
    (line,) = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert line == f'HTTP Request: POST {http_fake.url}/v1/*** "HTTP/1.1 200 OK"', line
    assert GOOGLE_KEY[4:] not in caplog.text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"GET https://maps.googleapis.com/maps/api/geocode/json?address=x&key={GOOGLE_KEY}",
         "GET https://maps.googleapis.com/maps/api/geocode/json?address=x&key=AIza***"),
        (f'{{"apiKey": "{GOOGLE_KEY}"}}', '{"apiKey": "***"}'),
        (f"API key not valid: {GOOGLE_KEY}.", "API key not valid: AIza***."),
        # what only starts as one stays as it is
        ("AIzawesome", "AIzawesome"),
    ],
)
def test_mask_text_masks_a_google_api_key_wherever_it_is(text, shown) -> None:  # noqa: ANN001
    assert mask_text(text) == shown
    assert mask_text(shown) == shown


def test_a_url_password_of_digits_and_slashes_never_reaches_the_log(caplog) -> None:  # noqa: ANN001
    """SQLAlchemy reads `mysql+pymysql://app:2024/0612@db/x` as the password `2024/0612`: the mask
    took what is up to its `/` for a port (`host:8080/users/...`) and showed the password whole."""
    install_redaction()
    caplog.set_level(logging.INFO, logger="halo.review17")
    logging.getLogger("halo.review17").error("could not connect to %s", "mysql+pymysql://app:2024/0612@db.internal:3306/x")
    assert caplog.records[-1].getMessage() == "could not connect to mysql+pymysql://app:***@db.internal:3306/x"
    assert "0612" not in caplog.text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("mysql://u:12/34@host/db", "mysql://u:***@host/db"),
        ("postgresql://u:1/2/3@10.0.0.5:5432/db refused", "postgresql://u:***@10.0.0.5:5432/db refused"),
        # a port before a path stays readable, the address in the path masked by its own rule
        ("http://host:8080/users/jane@example.com", "http://host:8080/users/j***@example.com"),
        ("https://host:8443/a1/b@c.org", "https://host:8443/a1/b***@c.org"),
    ],
)
def test_mask_text_tells_a_password_of_digits_and_slashes_from_a_port(text, shown) -> None:  # noqa: ANN001
    assert mask_text(text) == shown
    assert mask_text(shown) == shown


# a process started as the platform's are (the filter installed where it starts), logging a dict as
# its line's one argument: with `%s`, with `%(name)s`, and with a format it does not fit, which
# logging reports on stderr with the arguments
DICT_LINES = """
import logging
from halo_platform.core.redact import install_redaction
install_redaction()
logging.basicConfig(level=logging.INFO, format="%(message)s")
log = logging.getLogger("halo.delivery")
log.info("sent by recipient: %s", {"ada@example.com": 2, "+33612345678": 1})
log.info("%(to)s: %(n)d sent", {"to": "+33612345679", "n": 3})
log.warning("%s failed for %s", {"jane.doe@example.com": "bounced"})
"""


def test_a_dict_logged_as_a_lines_one_argument_has_its_keys_masked_too(tmp_path) -> None:  # noqa: ANN001
    """Logging takes a dict that is a line's one argument as the mapping of its format: the
    filter masked its values (for `%(name)s`) but not its keys, which `%s` shows, and which
    logging's report of a format that does not fit (`Arguments: {...}`) prints to stderr."""
    env = {**os.environ, "HALO_HOME": str(tmp_path), "HALO_DB_URL": f"sqlite:///{tmp_path / 'halo.db'}"}
    done = subprocess.run([sys.executable, "-c", DICT_LINES], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for whole in ("ada@", "33612345678", "33612345679", "jane.doe@"):
        assert whole not in done.stderr, done.stderr
    assert "sent by recipient: {'a***@example.com': 2, '+336*****678': 1}" in done.stderr
    assert "+336*****679: 3 sent" in done.stderr
    assert "Arguments: {'j***@example.com': 'bounced'}" in done.stderr


class _Unshowable:
    """A value whose text cannot be had: its `__str__` needs what was never set."""

    def __str__(self) -> str:
        return f"{self.to} refused"  # type: ignore[attr-defined]

    __repr__ = __str__


def test_a_log_call_whose_argument_cannot_be_shown_does_not_raise(caplog) -> None:  # noqa: ANN001
    """Logging never raises in a log call (a record it cannot format is reported on stderr): the
    filter, which masks a record's arguments as the log call makes it, raised the argument's error
    to the caller (a send or a run failed on a log line). The line is kept, that argument named."""
    install_redaction()
    caplog.set_level(logging.INFO, logger="halo.review17")
    logging.getLogger("halo.review17").warning("could not send to %s: %s (%r)", "+33612345678", _Unshowable(), _Unshowable())
    assert caplog.records[-1].getMessage() == "could not send to +336*****678: <_Unshowable str() failed> (<_Unshowable repr() failed>)"
