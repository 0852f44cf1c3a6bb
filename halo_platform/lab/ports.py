"""`free_port()`: a loopback port for a server the caller starts at once (the benchmarks'
`halo serve` and uvicorn processes; the tests' servers started as a user starts them)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port on 127.0.0.1 free now. It is closed again before it is returned: another process
    may take it before the caller's server binds it, which that server then says (address in use).
    A port where a connection must be refused is held instead (the tests' `closed_port`)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
