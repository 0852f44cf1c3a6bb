"""The providers' HTTP transport reads answers framed every way HTTP/1.1 allows (a real
socket server on 127.0.0.1 sends them byte for byte): a provider's gateway may answer
chunked, close the connection after the body, or send an informational answer first."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from halo_platform.delivery.providers.wire import NoAnswer, WirePool


@pytest.fixture
def canned() -> Iterator[tuple[str, list[bytes]]]:
    """A server that answers each request on a connection with the next canned bytes (and closes
    the connection after an answer ending in b'<close>', which it does not send)."""
    answers: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while answers:
                    if not conn.recv(65536):
                        break
                    answer = answers.pop(0)
                    conn.sendall(answer.removesuffix(b"<close>"))
                    if answer.endswith(b"<close>"):
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", answers
    server.close()


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
