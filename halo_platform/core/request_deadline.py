"""A deadline for one HTTP request as a whole. httpx's timeouts hold for each read, so a receiver
sending its answer's head a line at a time, each line within the read timeout, held the request as
long as it went on. When the time is up, the request's socket (which httpcore reports as it
connects: the `trace` extension) is shut down, which ends the read waiting on it. A client of
another protocol (smtplib, ftplib, paramiko, boto3) has each socket its thread makes watched
(`watching_new_sockets`: an accepted one and a TLS one included); a session of several phases (a
login, then each file's upload) gives each its time with `renew`."""

from __future__ import annotations

import contextlib
import contextvars
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

# the slowest transfer waited for, in bytes a second: a file's upload (an email's message, an S3 object
# read or put) has its timeout and a second for each of these; a line slower than 256 kbit/s is given up
MIN_BYTES_PER_SECOND = 32 * 1024


def transfer_seconds(timeout: float, size: int) -> float:
    """The time a transfer of `size` bytes has as a whole, with `timeout` for its answer."""
    return timeout + size / MIN_BYTES_PER_SECOND


class RequestDeadline:
    """The end of one request's time, at `at` (`time.monotonic()`); whoever keeps the time calls
    `expire()` then. Pass `trace` as the request's trace extension (or each socket to `watch`);
    `end()` once it is over."""

    def __init__(self, at: float) -> None:
        self.at = at
        self.passed, self.over = False, False
        self.socks: dict[socket.socket, None] = {}  # in order, each once
        self.lock = threading.Lock()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):  # TLS: the socket that wraps the first
            self.watch(info["return_value"].get_extra_info("socket"))

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down too when the time is up (at once if it is): an FTP session's control
        connection and each transfer's; a TLS socket, which takes the place of the plain one."""
        with self.lock:
            self.socks[sock] = None
            if self.passed:
                self._shut()

    def expire(self) -> None:
        with self.lock:
            if not self.over:
                self.passed = True
                self._shut()

    def _shut(self) -> None:
        for sock in self.socks:
            with contextlib.suppress(OSError):  # closed meanwhile
                sock.shutdown(socket.SHUT_RDWR)

    def end(self) -> None:
        with self.lock:
            self.over = True


class TimedDeadline(RequestDeadline):
    """A deadline kept by a timer of its own, `seconds` after its start or its last `renew`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(time.monotonic() + seconds)
        self.timer: threading.Timer | None = None
        self.renew(seconds)

    def renew(self, seconds: float) -> None:
        """The time is `seconds` from now (a new phase: a file's upload has a time of its size). A
        deadline that passed stays passed: its sockets are shut."""
        if self.timer is not None:
            self.timer.cancel()
        self.seconds, self.at = seconds, time.monotonic() + seconds
        self.timer = threading.Timer(seconds, self.expire)
        self.timer.daemon = True
        self.timer.start()

    def end(self) -> None:
        super().end()
        self.timer.cancel()


@contextlib.contextmanager
def within(seconds: float) -> Iterator[TimedDeadline]:
    """A deadline `seconds` from now, kept by a timer of its own (for a request now and then; a
    run of many requests keeps theirs with one thread)."""
    deadline = TimedDeadline(seconds)
    try:
        yield deadline
    finally:
        deadline.end()


_watching: contextvars.ContextVar[RequestDeadline | None] = contextvars.ContextVar("watching", default=None)
_hook_added = threading.Lock()  # taken for good by the first block: the hook is added once


def _watch_new_socket(event: str, args: tuple[Any, ...]) -> None:
    # a TLS socket is a new one too (it takes the plain one's descriptor): both are watched
    if event == "socket.__new__" and (deadline := _watching.get()) is not None:
        deadline.watch(args[0])


@contextlib.contextmanager
def watching_new_sockets(deadline: RequestDeadline) -> Iterator[None]:
    """`deadline` watches each socket this thread makes meanwhile: the sockets of a client that
    keeps them to itself. boto3's lie behind urllib3's pools, with no public way to reach one in use,
    and botocore's timeouts hold for each read: an S3 endpoint sending its answer's head a line at
    a time held the upload for good. Python tells an audit hook (PEP 578) of each socket it makes,
    whatever library makes it; the hook, added once per process, watches those of a thread inside
    this block alone (a client's own threads are not: s3transfer's, for one)."""
    if _hook_added.acquire(blocking=False):
        sys.addaudithook(_watch_new_socket)
    token = _watching.set(deadline)
    try:
        yield
    finally:
        _watching.reset(token)
