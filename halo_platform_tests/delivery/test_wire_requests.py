"""The bytes of the SMS requests the providers put on the wire: a request's head and its form
body are what they were before the encoding was made cheaper (the form as `urlencode` writes it,
the head in its fields' order), for awkward text too: non-Latin letters, emoji, the characters
a form gives a meaning to (`+ & = %`), spaces, long bodies. A lone surrogate is refused as
before (UnicodeEncodeError). A real socket server on 127.0.0.1 records each request as it came."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halo_platform.delivery.dispatch import provider_result, throttled
from halo_platform.delivery.providers.base import THROTTLED, Outgoing, asked_pause
from halo_platform.delivery.providers.twilio import TwilioProvider
from halo_platform.delivery.providers.vonage import VonageProvider
from halo_platform.delivery.providers.wire import Reply, WirePool, encode_body
from halo_platform.delivery.validation import sms_segments
from halo_platform_tests.delivery.test_wire import _read_request

AWKWARD = [
    "bench 1",
    "Your code is 123456. It expires in 10 minutes.",
    "Votre code : 123 456 — ne le partagez pas, même avec nous.",
    "Hi 👋 your table is ready 🍽️",
    "a+b&c=d%20e %2B ~._- !*'()[]{}<>\"#?/\\:;@$,|^`",
    "tab\tnew\nline\rcarriage\x00nul\x7f",
    "Ελληνικά русский 中文 العربية עברית",
    "€ [GSM-7 extension] ^{}\\~|",
    "x" * 1600,
    "é 👋 " * 400,
    "",
]


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[bytes]]]:
    """A server that records each whole request (head and Content-Length body) and answers 200."""
    requests: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:  # the pool sends a connection's next request after the answer: never two at once
                while request := _read_request(conn):
                    requests.append(request)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", requests
    server.close()


def _sent(provider, message: Outgoing, requests: list[bytes]) -> tuple[bytes, bytes]:  # noqa: ANN001
    """The head and the body of the request `provider` sends for `message`."""
    call = provider.prepare_one(message)
    provider.pool().request(call.method, call.path, call.body, call.headers)
    head, _, body = requests.pop().partition(b"\r\n\r\n")
    return head, body


def _message(body: str) -> Outgoing:
    return Outgoing(id="01JMSG", channel="sms", recipient="+33612345678", body=body)


@pytest.mark.parametrize("body", AWKWARD)
def test_a_twilio_request_is_the_same_bytes_as_before(recorder, body: str) -> None:
    url, requests = recorder
    provider = TwilioProvider(name="tw", base_url=url + "/base/", account_sid="AC1", auth_token="t0k", sender="+33700000000",
                              status_callback="https://halo.example.com/v1/callbacks/tw?x=1&y=é")
    # the message's own status URL: the configured one (its query as it was) naming our id (twilio.with_reference)
    form = {"To": "+33612345678", "Body": body, "From": "+33700000000", "StatusCallback": "https://halo.example.com/v1/callbacks/tw?x=1&y=é&halo_message=01JMSG"}
    expected = urlencode(form).encode()
    head, sent = _sent(provider, _message(body), requests)
    assert sent == expected
    assert head == (f"POST /base/2010-04-01/Accounts/AC1/Messages.json HTTP/1.1\r\nHost: {url.removeprefix('http://')}\r\n"
                    "User-Agent: halo-platform/0.1\r\nAccept-Encoding: identity\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    f"Authorization: Basic QUMxOnQwaw==\r\nContent-Length: {len(expected)}").encode()


@pytest.mark.parametrize("body", AWKWARD)
def test_a_vonage_request_is_the_same_bytes_as_before(recorder, body: str) -> None:
    url, requests = recorder
    provider = VonageProvider(name="vo", base_url=url, api_key="k&y", api_secret="s=c ret", sender="Halo Café", callback_url="https://h.example/cb")
    form = {"api_key": "k&y", "api_secret": "s=c ret", "from": "Halo Café", "to": "33612345678", "text": body,
            "type": "text" if sms_segments(body)[0] == "GSM-7" else "unicode", "client-ref": "01JMSG", "callback": "https://h.example/cb"}
    expected = urlencode(form).encode()
    head, sent = _sent(provider, _message(body), requests)
    assert sent == expected
    assert head == (f"POST /sms/json HTTP/1.1\r\nHost: {url.removeprefix('http://')}\r\nUser-Agent: halo-platform/0.1\r\n"
                    f"Accept-Encoding: identity\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(expected)}").encode()


def test_a_request_header_the_pool_sets_too_replaces_it_where_the_pool_has_it(recorder) -> None:
    url, requests = recorder
    pool = WirePool(url, 1, 5.0, 5.0, headers={"X-Pool": "1"})
    pool.request("GET", "/a?b=c", None, {"User-Agent": "other", "X-Call": "2"})
    pool.request("DELETE", "/d")
    pool.close()
    host = url.removeprefix("http://")
    assert requests == [f"GET /a?b=c HTTP/1.1\r\nHost: {host}\r\nUser-Agent: other\r\nAccept-Encoding: identity\r\nX-Pool: 1\r\nX-Call: 2\r\n\r\n".encode(),
                        f"DELETE /d HTTP/1.1\r\nHost: {host}\r\nUser-Agent: halo-platform/0.1\r\nAccept-Encoding: identity\r\nX-Pool: 1\r\n\r\n".encode()]


@settings(max_examples=300, deadline=None, database=None)
@given(st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
                       st.one_of(st.text(st.characters(blacklist_categories=("Cs",))), st.binary(), st.integers(), st.none()), max_size=6))
def test_a_form_is_encoded_as_urlencode_encodes_it(form: dict) -> None:
    assert encode_body(form, None) == (urlencode(form).encode(), "application/x-www-form-urlencoded")


@pytest.mark.parametrize("value", ["\ud83d", "a\udc00b", "👋\ud800"])
def test_a_lone_surrogate_in_a_form_is_refused_as_before(value: str) -> None:
    with pytest.raises(UnicodeEncodeError):
        urlencode({"Body": value})
    with pytest.raises(UnicodeEncodeError):
        encode_body({"Body": value}, None)
    with pytest.raises(UnicodeEncodeError):
        TwilioProvider(name="tw", base_url="http://127.0.0.1:9", account_sid="AC1", auth_token="t", sender="+1").prepare_one(_message(value))


def _reply(status: int, body: bytes, **headers: str) -> Reply:
    return Reply(status, headers, body)


@pytest.mark.parametrize(("provider", "reply"), [
    (TwilioProvider(name="tw", base_url="http://127.0.0.1:9", account_sid="AC1", auth_token="t", sender="+1"), reply) for reply in [
        _reply(201, b'{"sid": "SM1", "status": "queued"}'),
        _reply(201, b'{"sid": null}'),
        _reply(400, b'{"code": 21211, "message": "The \'To\' number +33612340000 is not a valid phone number."}'),
        _reply(429, b'{"code": 20429, "message": "Too Many Requests"}', **{"retry-after": "7"}),
        _reply(429, b"{}"),
        _reply(503, b"<html>busy</html>", **{"retry-after": "2"}),
        _reply(502, b"<html>502</html>"),
        ("retryable", "not sent: ConnectionRefusedError"),
        ("unknown", "no answer: TimeoutError"),
    ]] + [
    (VonageProvider(name="vo", base_url="http://127.0.0.1:9", api_key="k", api_secret="s"), reply) for reply in [
        _reply(200, b'{"message-count": "1", "messages": [{"status": "0", "message-id": "0A1"}]}'),
        _reply(200, b'{"message-count": "1", "messages": [{"status": "1", "error-text": "Throttled"}]}'),
        _reply(200, b'{"message-count": "2", "messages": [{"status": "0", "message-id": "0A1"}, {"status": "5", "error-text": "x"}]}'),
        _reply(200, b'{"message-count": "1", "messages": [{"status": "3", "error-text": "Invalid to number 33612340000"}]}'),
        _reply(200, b"not json"),
        _reply(500, b"oops", **{"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}),
    ]])
def test_an_answer_reads_as_before(provider, reply) -> None:  # noqa: ANN001
    """`provider_result` gives back the provider's result as it is when nothing asked for a pause:
    it is the result the throttle rule made of it before."""
    message = _message("hi")
    before = throttled(provider.read_one(message, reply), asked_pause(reply) if isinstance(reply, Reply) else None, None)
    assert provider_result(provider, message, reply) == before
    if isinstance(reply, Reply) and reply.status_code == 429:
        assert before.outcome == THROTTLED
