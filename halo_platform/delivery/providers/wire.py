"""The providers' HTTP transport: keep-alive socket connections to one origin, at most
`size` in use at once, each used by one caller at a time.

Chosen by measurement (2 cores, a provider fake in another process, 4,000 form POSTs over
2-32 connections, load about 15): client CPU per request 67-77 us for `http.client` connections
(one per thread), 87-122 us aiohttp (uvloop / asyncio), 128-149 us urllib3, 334 us httpx,
705 us httpx async. The send path of a drain is CPU-bound in the dispatcher's process, so
the cheapest client per request is the one that reaches the wire's capacity. The answer is
read by `_read_reply`, not `http.client.HTTPResponse`, whose header parsing (the `email`
package) was about 40% of a request's CPU (3,000 Twilio POSTs to the fake, one thread: 110 -> 68 us).

A request's outcome is classified where it fails: no connection (refused, connect timeout,
every connection busy) means the provider never saw the request; a failure once the
request has started to leave may have reached it (the caller's `unknown`)."""

from __future__ import annotations

import base64
import functools
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from halo_platform.core.lookup import connection


class NotSent(Exception):
    """The request never left: no connection could be had."""


class NoAnswer(Exception):
    """The request may have reached the provider, but no complete answer came back."""


@dataclass(frozen=True)
class Reply:
    """A complete HTTP answer."""

    status_code: int
    headers: Mapping[str, str]  # lower-case names (repeated headers joined by ", ")
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON (ValueError when it is not)."""
        return orjson.loads(self.content)


def encode_body(data: Mapping[str, Any] | None, json: Any) -> tuple[bytes | None, str | None]:
    """The request body and its content type: `json` as JSON, `data` form-encoded."""
    if json is not None:
        return orjson.dumps(json), "application/json"
    if data is not None:
        return "&".join([f"{_form_part(k)}={_form_part(v)}" for k, v in data.items()]).encode(), "application/x-www-form-urlencoded"
    return None, None


# each byte of a form field's UTF-8 as `quote_plus` writes it: the unreserved characters as they
# are, a space as `+`, any other byte as %XX
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM_ESCAPES = {byte: chr(byte) if byte in _UNRESERVED else "+" if byte == 0x20 else f"%{byte:02X}" for byte in range(256)}


def _form_part(value: Any) -> str:
    """`value` as `urlencode` encodes it (`quote_plus`, a lone surrogate a UnicodeEncodeError as
    there): its UTF-8 bytes read as Latin-1, one character per byte, and escaped by one
    `str.translate`. `quote_plus` escapes byte by byte in Python, and was half of an SMS
    request's encoding CPU: per value 0.66 -> 0.27 us (`bench 1`), 1.4 -> 1.1 us (60 ASCII
    characters), 8.5 -> 4.2 us (85 French ones), 6.4 -> 2.3 us (26 with two emoji)."""
    if isinstance(value, bytes):
        return value.decode("latin-1").translate(_FORM_ESCAPES)
    text = value if isinstance(value, str) else str(value)
    return (text if text.isascii() else text.encode().decode("latin-1")).translate(_FORM_ESCAPES)  # ASCII: its bytes are its characters


@functools.lru_cache(maxsize=256)
def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _header_lines(fields: Mapping[str, str]) -> str:
    return "".join(f"\r\n{name}: {value}" for name, value in fields.items())


def closed_by_peer(sock: socket.socket) -> bool:
    """An idle keep-alive connection the server has closed (or sent stray bytes on) reads as
    ready: it must not carry a request (its failure would look like an unknown outcome)."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


@dataclass(frozen=True)
class Exchange:
    """A request sent on `sock` whose answer is still to be read, by `deadline` (`time.monotonic()`)."""

    sock: socket.socket
    method: str
    deadline: float


class WirePool:
    """Keep-alive connections to the origin of `base_url` (its path is a prefix of every
    request path). A request leaves in one write (head and body together) and its answer is
    read by `_read_reply`."""

    def __init__(self, base_url: str, size: int, timeout: float, connect_timeout: float, headers: Mapping[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL with a host")  # never its value: it may hold a token
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        # the Host is host[:port]: a user name and password in `base_url` are never sent in it
        self._headers = {"Host": parts.netloc.rpartition("@")[2], "User-Agent": "halo-platform/0.1", "Accept-Encoding": "identity", **(headers or {})}
        self._head = _header_lines(self._headers)  # the same in every request: written once
        self._timeout, self._connect_timeout = timeout, connect_timeout
        self._slots = threading.BoundedSemaphore(max(size, 1))
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()
        self._context = ssl.create_default_context() if parts.scheme == "https" else None

    def _connect(self, timeout: float) -> socket.socket:
        try:
            sock = connection(self._host, self._port, time.monotonic() + min(timeout, self._connect_timeout))
        except OSError as exc:
            raise NotSent(type(exc).__name__) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._context is not None:
                sock = self._context.wrap_socket(sock, server_hostname=self._host)
        except OSError as exc:  # a failed TLS handshake carried no request
            sock.close()
            raise NotSent(type(exc).__name__) from None
        sock.setblocking(False)  # reads and writes wait in `_wait`, until the request's deadline
        return sock

    def _take(self, timeout: float) -> socket.socket:
        while True:
            with self._lock:
                sock = self._idle.pop() if self._idle else None
            if sock is None:
                return self._connect(timeout)
            if not closed_by_peer(sock):
                return sock
            sock.close()

    def request(self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None,
                timeout: float | None = None) -> Reply:
        """Send one request and read the whole answer; `NotSent` or `NoAnswer` when it fails."""
        return self.finish(self.start(method, path, body, headers, timeout))

    def start(self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None,
              timeout: float | None = None) -> Exchange:
        """Send one request on a connection of the pool and return without its answer (`finish`
        reads it, `abandon` gives up on it; one of them must follow); `NotSent` or `NoAnswer`
        when it fails. The request leaves in one write: a sending loop can drive many
        connections from one thread by waiting for their sockets to turn readable."""
        timeout = max(timeout, 0.05) if timeout is not None else self._timeout
        if not headers or self._headers.keys().isdisjoint(headers):
            fields = self._head + _header_lines(headers or {})
        else:  # a header of the pool's own, replaced where the pool has it
            fields = _header_lines({**self._headers, **headers})
        length = f"\r\nContent-Length: {len(body or b'')}" if body is not None or method in ("POST", "PUT", "PATCH") else ""
        data = f"{method} {self._prefix}{path} HTTP/1.1{fields}{length}\r\n\r\n".encode("latin-1") + (body or b"")
        deadline = time.monotonic() + timeout
        if not self._slots.acquire(timeout=timeout):
            raise NotSent("every connection to the provider is busy")
        try:
            sock = self._take(timeout)
        except NotSent:
            self._slots.release()
            raise
        try:
            _send_all(sock, data, deadline)
        except OSError as exc:
            sock.close()
            self._slots.release()
            raise NoAnswer(type(exc).__name__) from None
        return Exchange(sock, method, deadline)

    def finish(self, exchange: Exchange) -> Reply:
        """The answer to a request `start` sent (waiting for it until the request's deadline);
        `NoAnswer` when none came complete. The connection goes back to the pool."""
        sock = exchange.sock
        try:
            reply, reusable = _read_reply(sock, exchange.method, exchange.deadline)
        except (OSError, ValueError) as exc:
            sock.close()
            raise NoAnswer(type(exc).__name__) from None
        finally:
            self._slots.release()
        if reusable:
            with self._lock:
                self._idle.append(sock)
        else:
            sock.close()
        return reply

    def abandon(self, exchange: Exchange) -> None:
        """Give up on the answer to a request `start` sent (its deadline passed): its connection is closed."""
        exchange.sock.close()
        self._slots.release()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()


MAX_HEAD = 65536  # bytes of status line and headers an answer may have
MAX_BODY = 8 << 20  # bytes of body: a provider's answer is a small JSON or XML document


def _read_reply(sock: socket.socket, method: str, deadline: float) -> tuple[Reply, bool]:
    """The complete answer to the request just sent on `sock`, and whether the connection may
    carry another request; a malformed answer is a ValueError, a closed connection or the
    `deadline` passing an OSError.
    Informational (1xx) answers are skipped; the body is framed by Content-Length, chunked
    transfer coding, or the end of the connection."""
    buffer = b""
    while True:
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > MAX_HEAD:
                raise ValueError("answer head too long")
            buffer += _recv(sock, deadline)
        lines = buffer[:end].decode("latin-1").split("\r\n")
        buffer = buffer[end + 4 :]
        version, status_text = (lines[0].split(" ", 2) + [""])[:2]
        if not version.startswith("HTTP/1.") or len(status_text) != 3 or not status_text.isdigit():
            raise ValueError("not an HTTP/1.x status line")
        status = int(status_text)
        if status >= 200:
            break
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError("malformed header line")
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    connection = headers.get("connection", "").lower()
    reusable = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    if method == "HEAD" or status in (204, 304):
        content = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        content, buffer = _read_chunked(sock, buffer, deadline)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if not 0 <= length <= MAX_BODY:
            raise ValueError("answer body length out of range")
        while len(buffer) < length:
            buffer += _recv(sock, deadline)
        content, buffer = buffer[:length], buffer[length:]
    else:  # the body runs to the end of the connection
        chunks, size = [buffer], len(buffer)
        while chunk := _recv(sock, deadline, end_ok=True):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BODY:
                raise ValueError("answer body too long")
        return Reply(status, headers, b"".join(chunks)), False
    return Reply(status, headers, content), reusable and not buffer


def _read_chunked(sock: socket.socket, buffer: bytes, deadline: float) -> tuple[bytes, bytes]:
    """A chunked body read from `buffer` then `sock`; returns it and what follows it."""
    parts, total = [], 0
    while True:
        while (end := buffer.find(b"\r\n")) < 0:
            buffer += _recv(sock, deadline)
        size = int(buffer[:end].split(b";", 1)[0].strip(), 16)
        total += size
        if size < 0 or total > MAX_BODY:
            raise ValueError("answer body too long")
        buffer = buffer[end + 2 :]
        if size == 0:  # trailers, then an empty line
            while (end := buffer.find(b"\r\n")) != 0:
                if end < 0:
                    buffer += _recv(sock, deadline)
                else:
                    buffer = buffer[end + 2 :]
            return b"".join(parts), buffer[2:]
        while len(buffer) < size + 2:
            buffer += _recv(sock, deadline)
        parts.append(buffer[:size])
        buffer = buffer[size + 2 :]


# The sockets are non-blocking: a read or a write is one system call when it can proceed at
# once, as it nearly always does. A socket with a timeout polls before each call, and each of
# the two releases the GIL, which another thread of the dispatcher (recorder, claimer) then
# holds for up to the switch interval: one sending loop, 8 connections to the Twilio fake,
# a busy thread beside it, 6,000 requests: 486-560 req/s with timeouts (7 calls per request).


def _wait(sock: socket.socket, events: int, deadline: float) -> None:
    """Until `sock` can be read (POLLIN) or written (POLLOUT); TimeoutError once `deadline` passed."""
    remaining = deadline - time.monotonic()
    poller = select.poll()
    poller.register(sock, events)
    if remaining <= 0 or not poller.poll(remaining * 1000):
        raise TimeoutError("timed out")


def _send_all(sock: socket.socket, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view):]
        except (BlockingIOError, ssl.SSLWantWriteError):
            _wait(sock, select.POLLOUT, deadline)
        except ssl.SSLWantReadError:  # a TLS renegotiation reads first
            _wait(sock, select.POLLIN, deadline)


def _recv(sock: socket.socket, deadline: float, end_ok: bool = False) -> bytes:
    """The next bytes of `sock` (b"" at its end when `end_ok`, else ConnectionResetError)."""
    while True:
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError):
            _wait(sock, select.POLLIN, deadline)
            continue
        except ssl.SSLWantWriteError:
            _wait(sock, select.POLLOUT, deadline)
            continue
        if not chunk and not end_ok:
            raise ConnectionResetError("the connection closed before the answer was complete")
        return chunk
