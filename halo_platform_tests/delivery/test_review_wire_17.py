"""Review 17 of the delivery wire: a provider's host name that resolves slowly (HTTP providers and
the SMTP relay)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import sqlalchemy as sa

from halo_platform.core.errors import HaloError
from halo_platform.delivery.providers.base import ACKNOWLEDGED, RETRYABLE
from halo_platform.delivery.service import submit
from halo_platform.delivery.tables import DeliveryAttempt
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.conftest import outgoing

SLOW_HOST = "slow-provider.example"


@pytest.fixture
def slow_resolver(monkeypatch):  # noqa: ANN001, ANN201
    """socket.getaddrinfo answering 127.0.0.1 for SLOW_HOST only after 4 s (a resolver that hangs;
    one we cannot run here); every other name as the system resolves it. Yields how many times
    the slow name was asked."""
    real, release, asked = socket.getaddrinfo, threading.Event(), []

    def slow(host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if host != SLOW_HOST:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        release.wait(4)
        return real("127.0.0.1", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    yield asked
    release.set()


def test_a_high_send_to_a_provider_whose_host_resolves_slowly_ends_at_its_deadline(slow_resolver, fakes, providers_file, halo_store) -> None:
    """The connect timeout started after the host name was looked up: a resolver taking 4 s held
    a HIGH send with a 1 s deadline 4 s (then sent it). The lookup now counts in the deadline: the
    send ends in time, nothing reached the provider, and the message waits in the queue for a retry."""
    fake = fakes["twilio"]
    twilio = {"kind": "twilio", "channel": "sms", "base_url": f"http://{SLOW_HOST}:{fake.port}", **SECRETS["twilio"], "timeout_seconds": 2}
    config = providers_file({"tw": twilio}, [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 1}}],
                            high_deadline_seconds=1)
    started = time.monotonic()
    view, _ = submit("sms", {"to": "+33612345678", "body": "code 1234", "priority": "HIGH"}, store=halo_store, providers=config)
    assert time.monotonic() - started < 2.5  # the 1 s deadline, not the resolver's 4 s
    assert view["status"] == "retry_scheduled"
    assert fake.request_count == 0
    with halo_store.read() as conn:
        assert conn.execute(sa.select(DeliveryAttempt.provider, DeliveryAttempt.outcome)).all() == [("tw", RETRYABLE)]
    assert slow_resolver == [SLOW_HOST]


def relay_settings(smtp_server, tls_files, host: str, use_ssl: bool) -> dict:  # noqa: ANN001
    """The test relay by `host`: implicit TLS (SMTPS) or STARTTLS, its certificate trusted."""
    return {"host": host, "port": smtp_server.ssl_port if use_ssl else smtp_server.port, "use_ssl": use_ssl, "starttls": not use_ssl,
            "ca_file": str(tls_files.ca_path)}


@pytest.mark.parametrize("use_ssl", [False, True], ids=["starttls", "smtps"])
def test_an_smtp_relay_whose_host_resolves_slowly_is_a_retry_at_the_send_timeout(use_ssl, slow_resolver, smtp_server, tls_files,
                                                                                 make_provider) -> None:
    """smtplib connected with `socket.create_connection`, whose timeout starts after the name was
    looked up: a relay name taking 4 s to resolve held a send with a 1 s timeout 4 s. The lookup
    now counts in the send's time: not sent, a plain retry, at the timeout."""
    provider = make_provider("smtp", smtp_server, **relay_settings(smtp_server, tls_files, SLOW_HOST, use_ssl), timeout_seconds=1.0)
    started = time.monotonic()
    result = provider.send(outgoing("email"))
    assert time.monotonic() - started < 2.5  # the 1 s timeout, not the resolver's 4 s
    assert (result.outcome, result.detail) == (RETRYABLE, "not sent: TimeoutError")
    assert smtp_server.messages.snapshot() == []
    assert slow_resolver == [SLOW_HOST]


@pytest.mark.parametrize("use_ssl", [False, True], ids=["starttls", "smtps"])
def test_an_smtp_relay_reached_by_name_over_tls_has_its_certificate_checked_for_that_name(use_ssl, smtp_server, tls_files, make_provider) -> None:
    """The relay's name is looked up apart from smtplib now: the TLS handshake must still check the
    certificate against the name configured (`localhost`, the test certificate's), not an address."""
    provider = make_provider("smtp", smtp_server, **relay_settings(smtp_server, tls_files, "localhost", use_ssl))
    assert provider.send(outgoing("email")).outcome == ACKNOWLEDGED
    assert len(smtp_server.messages.snapshot()) == 1


@pytest.mark.parametrize("base_url", ["http://user:s3cret-pw@127.0.0.1:9", "https://${TW_USER}:${TW_PASSWORD}@api.twilio.com",
                                      "https://:s3cret-pw@api.twilio.com", "https://s3cret-pw@api.twilio.com/base"])
def test_a_provider_base_url_with_a_user_name_or_password_is_refused_when_the_file_is_loaded(base_url, providers_file) -> None:
    """A user name and password in a provider's base_url were dropped without a word (the clients send
    the URL's host only, and authenticate with the provider's own settings): the provider was
    called without them. The file is refused, naming the provider and the setting, never the password."""
    twilio = {"kind": "twilio", "channel": "sms", "base_url": base_url, **SECRETS["twilio"]}
    with pytest.raises(HaloError, match=r"provider tw\.base_url: a user name or password in the URL is never sent") as refused:
        providers_file({"tw": twilio}, [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 1}}])
    assert "s3cret-pw" not in str(refused.value) and "TW_PASSWORD" not in str(refused.value)
