"""Host names looked up with a time limit. `getaddrinfo` cannot be interrupted and no timeout
bounds it (`socket.create_connection`'s starts after it): a resolver that hangs would hold the
request that asked past its deadline. A name is looked up in a thread of its own instead, and
the caller waits for the answer no longer than its own deadline."""

from __future__ import annotations

import functools
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lookups: dict[tuple[str, int], Future[list[tuple[Any, ...]]]] = {}
_lookups_lock = threading.Lock()


def looking_up(host: str, resolve: Callable[[str], T]) -> Future[T]:
    """`resolve(host)` (which asks the resolver about `host`): for a name, answered in a thread of
    its own, so a resolver that hangs holds that thread, not the caller waiting with
    `.result(timeout)` (a TimeoutError once it passed); for an address, at once (no resolver is asked)."""
    answer: Future[T] = Future()

    def run() -> None:
        try:
            answer.set_result(resolve(host))
        except Exception as exc:  # noqa: BLE001 - the caller waiting for it raises it
            answer.set_exception(exc)

    try:
        ipaddress.ip_address(host)
    except ValueError:
        threading.Thread(target=run, name="halo-resolve", daemon=True).start()
    else:
        run()
    return answer


def addresses(host: str, port: int, deadline: float) -> list[tuple[Any, ...]]:
    """The TCP addresses (`getaddrinfo` entries) of `host`, asked of the resolver anew (a server's
    addresses change) but never waited for past `deadline` (`time.monotonic()`; then a
    TimeoutError). Callers asking while a lookup of the host is under way share it: a resolver
    that hangs holds one thread per host, not one per connection tried."""
    with _lookups_lock:
        lookup = _lookups.get((host, port))
        if lookup is None or lookup.done():
            lookup = _lookups[host, port] = looking_up(host, functools.partial(socket.getaddrinfo, port=port, type=socket.SOCK_STREAM))
    return lookup.result(timeout=max(deadline - time.monotonic(), 0))


def connection(host: str, port: int, deadline: float) -> socket.socket:
    """A TCP connection to the first address of `host` that takes one before `deadline`, the
    lookup of the name included (an OSError when none does); the socket's timeout is the time
    that was left when it connected."""
    error: OSError = TimeoutError("timed out")
    for family, kind, proto, _, address in addresses(host, port, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error
