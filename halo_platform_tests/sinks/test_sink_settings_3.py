"""A sink's timeout and host as written in the sinks file: a value no connection can use is refused
when the sink is built, as that sink's one permanent failure naming the setting (it was a bare
`unexpected error: ValueError`, or a transient failure retried at every attempt)."""

from __future__ import annotations

import pytest

from halo_platform.reports.assets import deliver_all
from halo_platform.sinks import Delivery
from halo_platform_tests.sinks.test_sink_settings_permanent import resource


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf")])
@pytest.mark.parametrize("kind", ["ftp", "sftp", "email"])
def test_a_timeout_no_connection_can_use_is_refused_naming_the_setting(kind, timeout, request, tmp_path):  # noqa: ANN001
    """0 made the socket non-blocking, -1 and NaN raised ValueError at the first connection (the
    delivery failed as `unexpected error: ValueError`); an infinite wait never ends a hung upload."""
    server = request.getfixturevalue(f"{'smtp' if kind == 'email' else kind}_server")
    settings = {"host": server.host, "port": server.port, **server.credentials, "timeout": timeout}
    settings |= {"sender": "reports@example.com", "to": ["finance@example.com"]} if kind == "email" else {"remote_dir": "/inbound"}
    (outcome,) = deliver_all(resource(tmp_path, {"dest": {"kind": kind, **settings}}), ["dest"], Delivery("alert", "over budget"))
    assert (outcome.status, outcome.permanent) == ("FAILED", True), outcome.detail
    assert outcome.detail.startswith(f"unusable: sink 'dest' ({kind}): invalid settings: timeout: "), outcome.detail
    assert ("greater than 0" in outcome.detail) if timeout in (0, -1) else ("finite number" in outcome.detail), outcome.detail


@pytest.mark.parametrize("kind", ["ftp", "sftp", "email"])
def test_an_ipv6_host_in_brackets_is_refused_not_retried(kind, tmp_path):  # noqa: ANN001
    """`[::1]`, a URL's form of the address, failed every attempt in getaddrinfo, retried as transient."""
    settings = {"host": "[::1]", "port": 2121, "username": "u", "password": "p"}
    settings |= {"sender": "reports@example.com", "to": ["finance@example.com"]} if kind == "email" else {"remote_dir": "/inbound"}
    (outcome,) = deliver_all(resource(tmp_path, {"dest": {"kind": kind, **settings}}), ["dest"], Delivery("alert", "over budget"))
    assert (outcome.status, outcome.permanent) == ("FAILED", True), outcome.detail
    assert outcome.detail == (f"unusable: sink 'dest' ({kind}): invalid settings: host: Value error, "
                              "an IPv6 address is written without brackets (::1)"), outcome.detail
