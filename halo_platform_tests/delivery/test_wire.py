"""The providers' HTTP transport reads answers framed every way HTTP/1.1 allows (a real
socket server on 127.0.0.1 sends them byte for byte): a provider's gateway may answer
chunked, close the connection after the body, or send an informational answer first."""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from halo_platform.delivery.providers.wire import NoAnswer, WirePool
from halo_platform_tests.servers.tls import TLSFiles


def _read_request(conn: socket.socket) -> bytes:
    """One whole request (its head and its Content-Length body); b"" when the connection ended."""
    data = b""
    while b"\r\n\r\n" not in data:
        if not (chunk := conn.recv(65536)):
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next((line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0))
    while len(body) < length:
        body += conn.recv(65536)
    return data


def _canned_server(context: ssl.SSLContext | None = None, piece: int = 0) -> Iterator[tuple[str, list[bytes]]]:
    answers: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
                if context is not None:
                    conn = context.wrap_socket(conn, server_side=True)
            except OSError:
                return
            with conn:
                while answers:
                    if not _read_request(conn):
                        break
                    answer = answers.pop(0)
                    data = answer.removesuffix(b"<close>")
                    for start in range(0, len(data), piece or len(data) or 1):  # in pieces: the client reads them as they come
                        conn.sendall(data[start : start + (piece or len(data))])
                        if piece:
                            time.sleep(0.001)
                    if answer.endswith(b"<close>"):
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"{'https://localhost' if context else 'http://127.0.0.1'}:{server.getsockname()[1]}", answers
    server.close()


@pytest.fixture
def canned() -> Iterator[tuple[str, list[bytes]]]:
    """A server that answers each request on a connection with the next canned bytes (and closes
    the connection after an answer ending in b'<close>', which it does not send)."""
    yield from _canned_server()


@pytest.fixture
def canned_tls(tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[bytes]]]:
    """`canned` over TLS with a certificate the pool trusts (as a provider's public one), each
    answer sent in 1,000-byte pieces."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca_path))
    yield from _canned_server(tls_files.server_context(), piece=1000)


@pytest.mark.parametrize(("answer", "status", "body", "reused"), [
    (b"HTTP/1.1 201 Created\r\nContent-Length: 11\r\nX-Message-Id: abc\r\n\r\n{\"sid\": 1}\n", 201, b"{\"sid\": 1}\n", True),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nTrailer: x\r\n\r\n", 200, b"abcdefg", True),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok", 202, b"ok", True),
    (b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n<html>502</html><close>", 502, b"<html>502</html>", False),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, b"ok", False),
    (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"", True),
])
def test_an_answer_is_read_whole_however_it_is_framed(canned, answer: bytes, status: int, body: bytes, reused: bool) -> None:
    url, answers = canned
    answers += [answer, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"]
    pool = WirePool(url, 1, 5, 5)
    reply = pool.request("POST", "/send", b"x=1")
    assert (reply.status_code, reply.content) == (status, body)
    assert reply.headers.get("x-message-id") == ("abc" if status == 201 else None)
    assert len(pool._idle) == (1 if reused else 0)
    assert pool.request("POST", "/send", b"x=2").content == b"next"  # on the same connection or a new one
    pool.close()


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort<close>",  # the connection ends inside the body
    b"SMTP ready\r\n\r\n<close>",  # not HTTP
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n<close>",
])
def test_an_incomplete_or_malformed_answer_is_no_answer(canned, answer: bytes) -> None:
    url, answers = canned
    answers.append(answer)
    pool = WirePool(url, 1, 5, 5)
    with pytest.raises(NoAnswer):
        pool.request("POST", "/send", b"x=1")
    pool.close()


BIG = bytes(range(256)) * 400  # 102,400 bytes: many TLS records and reads


@pytest.mark.parametrize(("answer", "body"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 102400\r\n\r\n" + BIG, BIG),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n19000\r\n" + BIG + b"\r\n0\r\n\r\n", BIG),
    (b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", b"ok"),
], ids=["length", "chunked", "small"])
def test_answers_over_tls_come_in_pieces_and_are_read_whole_on_a_kept_connection(canned_tls, answer: bytes, body: bytes) -> None:
    """The pool's sockets are non-blocking: over TLS a read may find a record incomplete (and a
    write may have to wait), which must wait for the rest, not fail, both for a caller's request
    and for the sending loop's `start`, a selector, then `finish`."""
    url, answers = canned_tls
    answers += [answer, answer]
    pool = WirePool(url, 1, 5, 5)
    assert pool.request("POST", "/send", b"x=1" * 20_000).content == body  # 60 kB out: more than one TLS record
    assert len(pool._idle) == 1
    exchange = pool.start("POST", "/send", b"x=2")
    with selectors.DefaultSelector() as selector:
        selector.register(exchange.sock, selectors.EVENT_READ)
        assert selector.select(5)
    assert pool.finish(exchange).content == body
    assert len(pool._idle) == 1  # the same connection, kept
    pool.close()


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_provider_that_never_answers_is_no_answer_once_the_deadline_passed(tls_files, monkeypatch, tls: bool) -> None:
    """A server that completes the handshake, reads the request and says nothing."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca_path))
    server, held = socket.create_server(("127.0.0.1", 0)), []

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = server.accept()
            held.append(tls_files.server_context().wrap_socket(conn, server_side=True) if tls else conn)
            held[-1].recv(65536)

    threading.Thread(target=serve, daemon=True).start()
    pool = WirePool(f"{'https://localhost' if tls else 'http://127.0.0.1'}:{server.getsockname()[1]}", 1, 0.5, 5)
    started = time.monotonic()
    with pytest.raises(NoAnswer, match="TimeoutError"):
        pool.request("POST", "/send", b"x=1")
    assert 0.45 <= time.monotonic() - started < 3
    pool.close()
    server.close()
    for conn in held:
        conn.close()
