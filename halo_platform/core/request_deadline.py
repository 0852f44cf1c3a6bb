"""A deadline for one HTTP request as a whole. httpx's timeouts hold for each read, so a receiver
sending its answer's head a line at a time, each line within the read timeout, held the request as
long as it went on. When the time is up, the request's socket (which httpcore reports as it
connects: the `trace` extension) is shut down, which ends the read waiting on it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any


class RequestDeadline:
    """The end of one request's time, at `at` (`time.monotonic()`); whoever keeps the time calls
    `expire()` then. Pass `trace` as the request's trace extension; `end()` once it is over."""

    def __init__(self, at: float) -> None:
        self.at = at
        self.passed, self.over, self.sock = False, False, None
        self.lock = threading.Lock()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):  # TLS: the socket that wraps the first
            with self.lock:
                self.sock = info["return_value"].get_extra_info("socket")
                if self.passed:
                    self._shut()

    def expire(self) -> None:
        with self.lock:
            if not self.over:
                self.passed = True
                self._shut()

    def _shut(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):  # closed meanwhile
                self.sock.shutdown(socket.SHUT_RDWR)

    def end(self) -> None:
        with self.lock:
            self.over = True


@contextlib.contextmanager
def within(seconds: float) -> Iterator[RequestDeadline]:
    """A deadline `seconds` from now, kept by a timer of its own (for a request now and then; a
    run of many requests keeps theirs with one thread)."""
    deadline = RequestDeadline(time.monotonic() + seconds)
    timer = threading.Timer(seconds, deadline.expire)
    timer.daemon = True
    timer.start()
    try:
        yield deadline
    finally:
        deadline.end()
        timer.cancel()
