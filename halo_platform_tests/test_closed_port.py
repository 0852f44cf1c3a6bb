"""`closed_port()`, the port of every test that wants a refused connection: Linux refuses a
connection to a bound TCP socket that does not listen, and a held one is no other server's."""

from __future__ import annotations

import errno
import socket

import pytest

from halo_platform_tests.fixtures.ports import closed_port


def test_a_closed_port_refuses_every_connection_while_it_is_held() -> None:
    with closed_port() as port:
        for _ in range(3):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=5).close()


@pytest.mark.parametrize(("host", "reuse_address"), [("127.0.0.1", False), ("127.0.0.1", True), ("0.0.0.0", True)])  # noqa: S104 - every interface, as a server may bind
def test_no_server_can_bind_a_closed_port_while_it_is_held(host: str, reuse_address: bool) -> None:
    """A server binding the port, with SO_REUSEADDR (as uvicorn and Python's socketserver bind) or
    without, on loopback or on every interface, finds it in use: it cannot answer in the test's
    place."""
    with closed_port() as port, socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, reuse_address)
        with pytest.raises(OSError) as taken:
            server.bind((host, port))
    assert taken.value.errno == errno.EADDRINUSE
