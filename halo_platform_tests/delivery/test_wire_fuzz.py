"""The providers' answer reader parses bytes from outside: whatever a provider (or whatever sits
at its address) sends, a request ends with a `Reply` or `NoAnswer`, never another exception. A real socket server on 127.0.0.1 sends each generated answer and closes the
connection (so no read waits for a timeout); the answers are HTTP-shaped (status lines,
headers and framings, valid and broken) and raw bytes."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from halo_platform.delivery.providers.wire import NoAnswer, Reply, WirePool

EXAMPLES = settings(max_examples=max(100, int(os.environ.get("HALO_FUZZ_EXAMPLES", "20000")) // 50), deadline=None,
                    database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[bytes]]]:
    """Answers each connection's first request with the answer set last, then closes it."""
    answer: list[bytes] = [b""]
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(answer[0])
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", answer
    listener.close()


token = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=12)
header = st.one_of(
    st.tuples(st.sampled_from(["Content-Length", "content-length", "Transfer-Encoding", "Connection", "X-Any"]),
              st.one_of(token, st.integers(-5, 10**12).map(str), st.sampled_from(["chunked", "close", "keep-alive", " 7 "]))),
    st.tuples(token, token),
).map(lambda kv: f"{kv[0]}:{kv[1]}")
status_line = st.one_of(
    st.tuples(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2", "ICY", ""]), st.one_of(st.integers(0, 999).map(str), token),
              token).map(" ".join),
    token,
)
chunk = st.tuples(st.one_of(st.integers(0, 40).map(lambda n: f"{n:x}"), token), st.binary(max_size=40)).map(
    lambda c: c[0].encode("latin-1") + b"\r\n" + c[1] + b"\r\n")
broken_answer = st.tuples(
    st.lists(st.just("HTTP/1.1 100 Continue"), max_size=2),
    status_line, st.lists(header, max_size=6), st.one_of(st.binary(max_size=200), st.lists(chunk, max_size=4).map(b"".join)),
).map(lambda a: "".join(f"{line}\r\n\r\n" for line in a[0]).encode() + "\r\n".join([a[1], *a[2]]).encode("latin-1") + b"\r\n\r\n" + a[3])


@st.composite
def framed_answer(draw: st.DrawFn) -> tuple[bytes, bytes | None]:
    """A well-formed answer (a real status, a body framed by length, chunks or the connection's
    end) and the body a reader must return, or the answer cut short at any byte and None."""
    body = draw(st.binary(max_size=300))
    status = draw(st.integers(100, 599))
    head = [f"HTTP/1.{draw(st.sampled_from('01'))} {status} {draw(token)}"]
    head += draw(st.lists(st.tuples(st.sampled_from(["X-Request-Id", "Content-Type", "Retry-After", "Set-Cookie"]), token)
                          .map(lambda kv: f"{kv[0]}: {kv[1]}"), max_size=3))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    if framing == "length":
        head.append(f"Content-Length: {len(body)}")
    elif framing == "chunked":
        head.append("Transfer-Encoding: chunked")
        cut = draw(st.integers(0, len(body)))
        parts = [p for p in (body[:cut], body[cut:]) if p]
    expected = body
    if framing == "chunked":
        body = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"
    answer = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    if draw(st.booleans()):
        return answer[:draw(st.integers(0, len(answer) - 1))], None
    return answer, (None if status < 200 else b"" if status in (204, 304) else expected)


@EXAMPLES
@given(st.one_of(framed_answer(), st.tuples(st.one_of(broken_answer, st.binary(max_size=300)), st.none())))
def test_any_answer_is_a_reply_or_no_answer_and_a_whole_one_is_read_exactly(server, case):
    answer, body = case
    url, current = server
    current[0] = answer
    pool = WirePool(url, size=1, timeout=2.0, connect_timeout=2.0)
    try:
        reply = pool.request("POST", "/send", b"To=%2B33612345678")
    except NoAnswer:
        assert body is None  # a whole answer is always read
    else:
        assert isinstance(reply, Reply) and 200 <= reply.status_code <= 999
        assert body is None or reply.content == body
    finally:
        pool.close()


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 9000000\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n900000\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * (9 << 20),
])
def test_a_body_past_8_mib_is_no_answer_not_held_in_memory(server, answer):
    url, current = server
    current[0] = answer
    pool = WirePool(url, size=1, timeout=2.0, connect_timeout=2.0)
    with pytest.raises(NoAnswer, match="ValueError"):
        pool.request("POST", "/send", b"To=%2B33612345678")
    pool.close()
