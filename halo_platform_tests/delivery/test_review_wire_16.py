"""Review 16 of the delivery wire: the Host header of a provider base URL that holds a user
name and password."""

from __future__ import annotations

import logging

from halo_platform.delivery.providers.base import ACKNOWLEDGED
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
