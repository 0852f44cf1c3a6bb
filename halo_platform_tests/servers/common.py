"""Pieces every loopback server shares: a socket listening on a free port, a thread-safe record
of what arrived (`Recorder`) and the port of a stopped server kept refusing connections
(`PortHolder`), both shared with halo_platform.lab.fakehttp."""

from __future__ import annotations

import socket

from halo_platform.lab.fakehttp import HOST, PortHolder, Recorder

__all__ = ["HOST", "PortHolder", "Recorder", "listening_socket"]



def listening_socket(host: str = HOST) -> socket.socket:
    """A TCP socket bound to a free port on `host` (an IPv4 or IPv6 address) and listening; owning
    the socket avoids the race of 'find a free port, close it, bind it again'."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(128)
    return sock
