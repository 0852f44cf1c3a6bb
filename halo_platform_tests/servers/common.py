"""Pieces every loopback server shares: a free port, a thread-safe record of what arrived."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

HOST = "127.0.0.1"


def listening_socket(host: str = HOST) -> socket.socket:
    """A TCP socket bound to a free port on `host` and listening; owning the socket avoids
    the race of 'find a free port, close it, bind it again'."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(128)
    return sock


def closed_port(host: str = HOST) -> int:
    """A port on `host` that nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Recorder(Generic[T]):
    """An append-only list shared between server threads and the test, with a wait for
    items that arrive asynchronously (a client that returns before the server has stored)."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._cond = threading.Condition()

    def append(self, item: T) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def snapshot(self) -> list[T]:
        with self._cond:
            return list(self._items)

    def wait_for(self, count: int = 1, timeout: float = 5.0, where: Callable[[T], bool] | None = None) -> list[T]:
        """The items (matching `where`) once there are at least `count`; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                items = [item for item in self._items if where is None or where(item)]
                if len(items) >= count:
                    return items
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} item(s), got {len(items)} after {timeout}s")
                self._cond.wait(remaining)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def __iter__(self):  # noqa: ANN204
        return iter(self.snapshot())

    def __getitem__(self, index: int) -> T:
        with self._cond:
            return self._items[index]
