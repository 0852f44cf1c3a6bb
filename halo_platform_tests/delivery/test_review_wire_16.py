"""Review 16 of the delivery wire: the Host header of a provider base URL that holds a user
name and password; an SMTP connection dropped before DATA."""

from __future__ import annotations

import logging

import pytest

from halo_platform.delivery.providers.base import ACKNOWLEDGED, RETRYABLE
from halo_platform_tests.delivery.conftest import outgoing


def test_a_base_url_with_a_user_and_password_sends_host_and_port_only_as_the_host(fakes, make_provider, caplog) -> None:
    """The Host header read `user:s3cret-pw@127.0.0.1:<port>`: the password went to the provider (and
    to any proxy or log on the way) in a header no server reads it from."""
    fake = fakes["sendgrid"]
    provider = make_provider("sendgrid", fake, base_url=f"http://user:s3cret-pw@127.0.0.1:{fake.port}")
    with caplog.at_level(logging.DEBUG):
        assert provider.send(outgoing("email")).outcome == ACKNOWLEDGED
    assert fake.requests[0].headers["host"] == f"127.0.0.1:{fake.port}"
    assert "s3cret-pw" not in caplog.text


@pytest.mark.parametrize("command", ["MAIL", "RCPT"])
@pytest.mark.parametrize("pooled", [False, True], ids=["new connection", "kept connection"])
def test_an_smtp_connection_dropped_before_data_is_a_plain_retry_not_an_unknown_outcome(command, pooled, smtp_server, make_provider) -> None:
    """A relay closing the connection at MAIL FROM or RCPT TO had been given no message (that starts
    with DATA), but the send read 'unknown: connection dropped': a HIGH message was never failed
    over to the next provider, a queued one counted as possibly sent."""
    provider = make_provider("smtp", smtp_server, host="127.0.0.1", port=smtp_server.port, timeout_seconds=3.0)
    if pooled:
        assert provider.send(outgoing("email")).outcome == ACKNOWLEDGED  # its connection stays in the pool
    smtp_server.switches.drop_at = command
    dropped = outgoing("email")
    result = provider.send(dropped)
    assert (result.outcome, result.detail) == (RETRYABLE, "not sent: connection dropped before DATA")
    assert provider.send(dropped).outcome == ACKNOWLEDGED  # the retry, on a new connection
    assert [m.message["X-Halo-Message-Id"] for m in smtp_server.messages.snapshot()].count(dropped.id) == 1
