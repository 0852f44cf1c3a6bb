"""Review of the HTTP service's edges (api20): behind a reverse proxy whose forwarded address the
service does not trust, every client shares the proxy's address, and its sign-in limit."""

from __future__ import annotations

import httpx
import pytest

from halo_platform.core.http import untrusted_forwarder
from halo_platform_tests.fixtures.halo_serve import halo_serve

WARNING = ("requests from 127.0.0.1 carry X-Forwarded-For, which this service does not trust: every client behind it is "
           "seen as 127.0.0.1 and shares that address's sign-in limit (enough failed sign-ins from anyone lock everyone out). "
           "Behind your own proxy, start halo serve --proxy-headers --forwarded-allow-ips <its address>")
FORWARDED = {"X-Forwarded-For": "203.0.113.7, 198.51.100.2"}


def test_a_forwarded_address_the_service_does_not_trust_is_warned_of_once(halo_env, tmp_path) -> None:  # noqa: ANN001
    """Started without --proxy-headers behind nginx, every request came from the proxy's address:
    20 failed sign-ins from anyone locked every user out for 15 minutes, and nothing said why.
    The first request carrying X-Forwarded-For that is not applied logs a warning naming the flags,
    once; from a proxy not among --forwarded-allow-ips too. Without the header, or trusted, none."""
    for proxy, warnings in ((None, 1), ("10.0.0.1", 1), ("127.0.0.1", 0)):
        args = ("--proxy-headers", "--forwarded-allow-ips", proxy) if proxy else ()
        logs = tmp_path / str(proxy)
        logs.mkdir()
        with halo_serve(logs, *args) as url, httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("/ui/login").status_code == 200
            assert "X-Forwarded-For" not in "".join(p.read_text() for p in logs.glob("serve-*.log"))
            for _ in range(3):
                assert http.get("/ui/login", headers=FORWARDED).status_code == 200
        log = "".join(p.read_text() for p in logs.glob("serve-*.log"))
        assert log.count(WARNING) == warnings and log.count("X-Forwarded-For") == warnings and "/ui/login" in log, (args, log[-3000:])


@pytest.mark.parametrize("client, forwarded, peer", [
    (("10.0.0.5", 41000), [b"203.0.113.7"], "10.0.0.5"),  # the header not applied: the peer is the proxy
    (("203.0.113.7", 0), [b"203.0.113.7, 10.0.0.5"], None),  # applied by --proxy-headers: the client is one of it
    (("203.0.113.7", 0), [b"198.51.100.2", b"203.0.113.7:5123"], None),  # repeated, with a port
    (("2001:db8::7", 0), [b"[2001:db8::7]:443"], None),
    (("2001:db8::7", 0), [b"2001:db8::7"], None),
    (("::1", 41000), [b"2001:db8::7"], "::1"),
    (("10.0.0.5", 41000), [], None),  # no header: nothing to say
    (None, [b"203.0.113.7"], "unknown"),  # a UNIX socket's peer has no address
])
def test_a_forwarded_address_left_unapplied_names_the_peer(client, forwarded, peer) -> None:  # noqa: ANN001
    scope = {"type": "http", "client": client, "headers": [(b"x-forwarded-for", value) for value in forwarded]}
    assert untrusted_forwarder(scope) == peer
