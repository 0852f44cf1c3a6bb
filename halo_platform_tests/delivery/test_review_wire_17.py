"""Review 17 of the delivery wire: a provider's host name that resolves slowly (HTTP providers and
the SMTP relay)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import sqlalchemy as sa

from halo_platform.delivery.providers.base import RETRYABLE
from halo_platform.delivery.service import submit
from halo_platform.delivery.tables import DeliveryAttempt
from halo_platform.lab.provider_fakes import SECRETS

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
