"""The provider interface: one abstract resource, one subclass per provider kind.

A provider formats a message for its API, sends it over a pooled keep-alive
connection (`wire`), and classifies the answer as one `SendResult` per message:

- `acknowledged` (with the provider's message id): the provider took it; never send it again;
- `retryable`: the provider certainly did not take it (refused connection, 429, 5xx, a
  retryable error code); safe to try again, elsewhere too;
- `unknown`: the request may have reached the provider (read timeout, dropped
  connection); a HIGH message is not re-sent, a queued one is retried per the spec;
- `permanent`: the provider refused it for good (invalid number, bad credentials);
- `throttled`: the provider asked us to wait (429, or a 5xx with `Retry-After`); it did not take
  the message, and this is not a transmission error (the autopilot does not count it).

Dispatch code only knows this base. A kind registers itself by setting `kind`.
"""

from __future__ import annotations

import abc
import datetime as dt
import hmac
import json
import logging
import math
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

import dagster as dg
from pydantic import Field, PrivateAttr

from halo_platform.core.redact import mask_text
from halo_platform.core.text import cut, echo, stored_key, unique_keys
from halo_platform.delivery.config import DEFAULT_TIMEOUT_SECONDS
from halo_platform.delivery.providers.wire import NoAnswer, NotSent, Reply, WirePool, basic_auth, encode_body
from halo_platform.delivery.tables import Message
from halo_platform.delivery.validation import wire_address

log = logging.getLogger("halo.delivery")

ACKNOWLEDGED = "acknowledged"
RETRYABLE = "retryable"
PERMANENT = "permanent"
UNKNOWN = "unknown"
THROTTLED = "throttled"
#: the pause taken when a 429 names no time, and the shortest (a `Retry-After: 0` would have
#: every dispatcher ask again at once, in a loop)
DEFAULT_PAUSE_SECONDS = 1.0
#: a longer Retry-After is taken as this (a malformed or hostile header cannot stop a provider for days)
MAX_PAUSE_SECONDS = 3600.0
#: the most of a provider's text (an error message, a callback's reason) that is kept: no reader
#: needs more (a signed callback carried a 100 kB one)
DETAIL_LIMIT = 500


#: the longest provider id for a message that is stored as it came (`messages.provider_message_id`)
PROVIDER_ID_LENGTH = Message.__table__.c.provider_message_id.type.length


def stored_provider_id(value: object) -> str | None:
    """A provider's id for a message as every store keeps it (a JSON number as its text): a
    longer one, or one holding text a store refuses (a NUL, a lone surrogate), becomes `sha256:`
    and its digest, still one per distinct id, and a callback naming it finds it so. PostgreSQL
    and MariaDB refused a 301-character id SQLite kept, and with it the answers of the whole
    group it came in."""
    return None if value is None else stored_key(str(value), PROVIDER_ID_LENGTH)


def provider_text(text: str) -> str:
    """`text` from a provider, masked, then cut to DETAIL_LIMIT characters (and an ellipsis): masked
    before it is cut, as a cut address would escape the masks, and what the cut leaves masked again,
    as a number too long for a phone number, cut short, can read as one (`tel=%2B336123456789999…`:
    stored as it was once `dispatch.provider_result` no longer made each result, and masked its
    text, a second time)."""
    masked = mask_text(text)
    return masked if len(masked) <= DETAIL_LIMIT else cut(mask_text(cut(masked, DETAIL_LIMIT)), DETAIL_LIMIT)


@dataclass(frozen=True)
class Outgoing:
    """A message as a provider sees it."""

    id: str
    channel: str
    recipient: str
    body: str
    country: str | None = None
    capability: str = "TEXT"
    subject: str | None = None
    html: str | None = None
    title: str | None = None
    data: Mapping[str, str] | None = None
    expires_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.channel == "email":  # every email provider is given the address as the wire carries it
            object.__setattr__(self, "recipient", wire_address(self.recipient))

    @classmethod
    def from_row(cls, row: Any) -> Outgoing:
        content = row.content or {}
        return cls(
            id=row.id,
            channel=row.channel,
            recipient=row.recipient,
            body=content.get("body", ""),
            country=row.country,
            capability=row.capability,
            subject=content.get("subject"),
            html=content.get("html"),
            title=content.get("title"),
            data=content.get("data"),
            expires_at=row.expires_at,
        )


@dataclass(frozen=True)
class SendResult:
    message_id: str
    outcome: str
    provider_message_id: str | None = None
    detail: str = ""
    http_status: int | None = None
    latency_ms: float | None = None
    #: throttled: the seconds the provider asked us to wait (a provider whose one call is several
    #: requests sets it on each result, from that result's request: `take_pause` after each)
    retry_after: float | None = None

    def __post_init__(self) -> None:
        # provider error texts quote the recipient; mask them where they are made, before
        # anything logs or stores them
        object.__setattr__(self, "detail", provider_text(self.detail))
        object.__setattr__(self, "provider_message_id", stored_provider_id(self.provider_message_id))


@dataclass(frozen=True)
class CallbackEvent:
    """One status a provider reported; `message_id` is ours when the provider echoes it."""

    event: str
    dedupe_key: str
    message_id: str | None = None
    provider_message_id: str | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", provider_text(self.detail))
        object.__setattr__(self, "provider_message_id", stored_provider_id(self.provider_message_id))


@dataclass(frozen=True)
class CallbackRequest:
    url: str
    method: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    query: Sequence[tuple[str, str]] = ()  # the query's fields as sent, a name given twice twice

    def form_pairs(self) -> list[tuple[str, str]]:
        """The form fields as sent, a name given twice twice (a signature covers every value)."""
        from urllib.parse import parse_qsl

        return parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)

    def form(self, single: Collection[str] = ()) -> dict[str, str]:
        """The form fields by name: a POST's body, a GET's query (a form sent by GET: a Twilio
        number's webhook may be set to it). A name given twice: its last value; one of the names in
        `single` (those read) given twice is a `CallbackRejected` (400): which value was meant cannot be told."""
        pairs = list(self.query) if self.method == "GET" else self.form_pairs()
        single_valued(pair for pair in pairs if pair[0] in single)
        return dict(pairs)

    def params(self) -> dict[str, str]:
        """The query's fields and, in a POST, the body's (a JSON object or a form), by name (Vonage
        sends either); a name given twice, in one or in both, is a `CallbackRejected` (400)."""
        body: list[tuple[str, str]] = []
        if self.method == "POST" and self.body:
            if not self.is_json():
                body = self.form_pairs()
            elif isinstance(fields := self.json(), dict):
                body = [(k, str(v)) for k, v in fields.items()]
            else:
                raise CallbackRejected("expected a JSON object", 400)
        return single_valued([*self.query, *body])

    def is_json(self) -> bool:
        """Whether the body is declared JSON: `Content-Type: application/json`, in any case and
        with any parameters (`Application/JSON; charset=UTF-8`: media types are case-insensitive)."""
        return self.headers.get("content-type", "").partition(";")[0].strip().lower() == "application/json"

    def credentials(self, scheme: str) -> str | None:
        """The credentials of the `Authorization` header when it names `scheme`, in any case
        (`basic`, `BEARER`: authentication schemes are case-insensitive), else None."""
        named, _, credentials = self.headers.get("authorization", "").strip().partition(" ")
        return credentials.strip() if named.lower() == scheme.lower() else None

    def json(self) -> Any:
        """The body as JSON; an unreadable body, or an object naming a key twice, is a `CallbackRejected` (400)."""
        try:
            return json.loads(self.body or b"null", object_pairs_hook=single_valued)
        except ValueError:  # UnicodeDecodeError included
            raise CallbackRejected("body is not JSON", 400) from None


class CallbackRejected(Exception):
    """The callback is not authentic (401) or unreadable (400)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


def single_valued(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """`pairs` by name; a name given twice is a `CallbackRejected` (400): which of its values the
    provider meant cannot be told (a signature covers both, or only the one a dict kept)."""
    return unique_keys(pairs, lambda name: CallbackRejected(f"field {echo(name)} given twice", 400))


#: a signed timestamp further than this from now is refused (replayed or forged later)
MAX_SIGNED_AGE_SECONDS = 600


def secrets_match(given: str, expected: str) -> bool:
    """Constant-time comparison of a credential as received (any characters: HTTP headers
    arrive as Latin-1 text) with the expected one."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def check_signed_time(timestamp: str, now: float | None = None) -> None:
    """Refuse (401) a signed Unix timestamp that is unreadable or more than 10 minutes from now."""
    # at most 12 digits (a Unix time until the year 33658): a longer one overflows a float (a 500)
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise CallbackRejected("missing or unreadable signed timestamp")
    # in the whole seconds the provider signs: 600 s ago is 10 minutes whatever part of the current second has passed
    age = math.floor(time.time() if now is None else now) - int(timestamp)
    if abs(age) > MAX_SIGNED_AGE_SECONDS:
        raise CallbackRejected(f"signed timestamp is {abs(age)} seconds {'old' if age > 0 else 'ahead'}; at most {MAX_SIGNED_AGE_SECONDS} accepted")


def json_objects(body: Any, single_allowed: bool = True) -> list[dict]:
    """The event objects of a webhook body: a list of objects (or, where the provider sends
    one alone, a single object); any other shape is a `CallbackRejected` (400)."""
    items = [body] if single_allowed and isinstance(body, dict) else body
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise CallbackRejected("expected " + ("a JSON object or a list of objects" if single_allowed else "a JSON list of objects"), 400)
    return items


def id_field(item: dict, key: str) -> str | None:
    """An identifier of a webhook event (a string, or a whole number as Mailjet sends);
    absent or empty is None, another type a `CallbackRejected` (400)."""
    value = item.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise CallbackRejected(f"{key}: expected a string, not {type(value).__name__}", 400)


def seconds_to_keep(message: Outgoing, longest: int, shortest: int = 0) -> int:
    """How long a provider may hold `message` for delivery: `longest`, or less where its
    `expires_at` comes first (never less than `shortest`, the least the provider takes), so a
    device that comes online after the message expired does not get it."""
    if message.expires_at is None:
        return longest
    left = math.floor((message.expires_at - dt.datetime.now(dt.UTC)).total_seconds())
    return max(min(left, longest), shortest)


def http_outcome(status: int) -> str:
    """The usual HTTP classification: 2xx ok, 408/429/5xx retry, other 4xx permanent."""
    if 200 <= status < 300:
        return ACKNOWLEDGED
    if status in (408, 425, 429) or status >= 500:
        return RETRYABLE
    return PERMANENT


def asked_pause(response: Reply) -> float | None:
    """The seconds a provider's answer asks us to wait: a 429 (`Retry-After` in seconds or as
    an HTTP date, else SendGrid's `X-RateLimit-Reset`, the Unix time the limit resets, else
    DEFAULT_PAUSE_SECONDS) or a 5xx with `Retry-After` (FCM asks it be honoured on its 500
    `INTERNAL` as on its 503 `UNAVAILABLE`), between DEFAULT_PAUSE_SECONDS and
    MAX_PAUSE_SECONDS; None otherwise."""
    if response.status_code != 429 and response.status_code < 500:
        return None
    header = (response.headers.get("retry-after") or "").strip()
    reset = (response.headers.get("x-ratelimit-reset") or "").strip()
    seconds = None
    if header:
        try:
            seconds = float(header)
        except ValueError:
            try:
                seconds = (parsedate_to_datetime(header) - dt.datetime.now(dt.UTC)).total_seconds()
            except (TypeError, ValueError):
                seconds = None
    elif reset and response.status_code == 429:
        try:
            seconds = float(reset) - time.time()
        except ValueError:
            seconds = None
    if seconds is not None and not math.isfinite(seconds):
        seconds = None
    if seconds is None:
        return DEFAULT_PAUSE_SECONDS if response.status_code == 429 else None
    return min(max(seconds, DEFAULT_PAUSE_SECONDS), MAX_PAUSE_SECONDS)


def short_body(response: Reply, limit: int = 200) -> str:
    """The error text of a response: JSON message fields or the first bytes (HTML 502 pages),
    masked before it is cut (a cut address is none for the masks)."""
    text = mask_text(response.text)[:limit].replace("\n", " ").strip()
    return text


@dataclass(frozen=True)
class HttpCall:
    """One encoded HTTP request to a provider (its path under the provider's `base_url`)."""

    method: str
    path: str
    body: bytes | None
    headers: Mapping[str, str]


def transport_failure(exc: NotSent | NoAnswer) -> tuple[str, str]:
    """(outcome, detail) of a request that failed on the wire: never left (retryable), or may
    have reached the provider (unknown)."""
    if isinstance(exc, NotSent):
        return RETRYABLE, f"not sent: {exc}"
    return UNKNOWN, f"no answer: {exc}"


class Provider(dg.ConfigurableResource, abc.ABC):
    """A third-party provider of one channel. Subclasses set `kind` and implement
    `send_batch` (or `send`), `health`, and, when the provider calls back, `parse_callback`."""

    kind: ClassVar[str]
    #: how many messages one request may carry (batch send APIs)
    max_batch: ClassVar[int] = 1
    #: the provider deduplicates retries by a request key (we reuse the message id)
    request_idempotency: ClassVar[bool] = False

    name: str = ""
    channel: str = "sms"
    countries: list[str] = ["*"]
    capabilities: list[str] = ["*"]
    base_url: str = ""
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_concurrency: int = 8
    #: requests per second over every dispatcher of the store (a shared token bucket); None: no limit
    rate_per_second: float | None = Field(default=None, gt=0)

    _pool: WirePool | None = PrivateAttr(default=None)
    _pool_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    # the pause the last answer on this thread asked for (`asked_pause`), read by `take_pause`
    _asked: threading.local = PrivateAttr(default_factory=threading.local)

    # -- HTTP plumbing -------------------------------------------------------------------
    def pool(self) -> WirePool:
        """One pool of keep-alive connections per provider instance (thread-safe), at most
        `max_concurrency` in use at once."""
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = self.connections()
        return self._pool

    def connections(self) -> WirePool:
        """A new pool of keep-alive connections to the provider, at most `max_concurrency` in use
        at once (a sending loop holds one of its own: it must never wait for a connection
        another thread holds)."""
        return WirePool(self.base_url, max(self.max_concurrency, 1), self.timeout_seconds, min(self.timeout_seconds, 3.0))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def call(self, method: str, path: str, *, data: Mapping[str, Any] | None = None, json: Any = None, headers: Mapping[str, str] | None = None,
             auth: tuple[str, str] | None = None, params: Mapping[str, str] | None = None) -> HttpCall:
        """One request, encoded (`json` or form `data`, Basic `auth`, query `params`)."""
        body, content_type = encode_body(data, json)
        extra = dict(headers or {})
        if content_type:
            extra["Content-Type"] = content_type
        if auth is not None:
            extra["Authorization"] = basic_auth(*auth)
        if params:
            path = f"{path}?{urlencode(params)}"
        return HttpCall(method, path, body, extra)

    def request(self, method: str, path: str, timeout: float | None = None, *, data: Mapping[str, Any] | None = None, json: Any = None,
                headers: Mapping[str, str] | None = None, auth: tuple[str, str] | None = None,
                params: Mapping[str, str] | None = None) -> Reply | tuple[str, str]:
        """Send one request (`call`'s arguments); a transport failure comes back as (outcome,
        detail) instead of raising (`perform`)."""
        return self.perform(self.call(method, path, data=data, json=json, headers=headers, auth=auth, params=params), timeout)

    def perform(self, call: HttpCall, timeout: float | None = None) -> Reply | tuple[str, str]:
        """Send `call` and read its answer; a transport failure comes back as (outcome, detail).

        Connection refused / connect timeout / no connection free means the provider never
        saw the request (retryable); any later failure may have reached it (unknown)."""
        self._asked.seconds = None
        try:
            reply = self.pool().request(call.method, call.path, call.body, call.headers, timeout)
        except (NotSent, NoAnswer) as exc:
            return transport_failure(exc)
        self._asked.seconds = asked_pause(reply)
        return reply

    def take_pause(self) -> float | None:
        """The pause the last request sent on this thread was asked for (once; None: none)."""
        seconds, self._asked.seconds = getattr(self._asked, "seconds", None), None
        return seconds

    @staticmethod
    def transport_failed(response: Reply | tuple[str, str]) -> bool:
        return isinstance(response, tuple)

    # -- what each kind implements -------------------------------------------------------
    def send(self, message: Outgoing, timeout: float | None = None) -> SendResult:
        """Send one message."""
        return self.send_batch([message], timeout)[0]

    def send_batch(self, messages: Sequence[Outgoing], timeout: float | None = None) -> list[SendResult]:
        """Send up to `max_batch` messages; one result per message, in order. Kinds with a
        batch API override this; the others implement `send_one`."""
        return [self.send_one(m, timeout) for m in messages]

    def send_one(self, message: Outgoing, timeout: float | None = None) -> SendResult:
        """One request for `message` (`prepare_one`), its answer read by `read_one`."""
        return self.read_one(message, self.perform(self.prepare_one(message), timeout))

    @property
    def one_call_per_message(self) -> bool:
        """The kind sends each message as one HTTP request built by `prepare_one` and read by
        `read_one`: a sending loop can then drive its connections without a thread per request."""
        return self.max_batch == 1 and type(self).prepare_one is not Provider.prepare_one

    def prepare_one(self, message: Outgoing) -> HttpCall:
        """The request that sends `message` (kinds that send a message per request implement it with `read_one`)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither prepare_one nor send_one nor send_batch")

    def read_one(self, message: Outgoing, response: Reply | tuple[str, str]) -> SendResult:
        """The result of `message` from the answer to its `prepare_one` request, or from the
        transport failure (outcome, detail) that came instead."""
        raise NotImplementedError(f"{type(self).__name__} implements prepare_one without read_one")

    @abc.abstractmethod
    def health(self) -> bool:
        """The provider's cheap read-only call answered (the provider is reachable and takes our credentials)."""

    def parse_callback(self, request: CallbackRequest) -> list[CallbackEvent]:
        """Verify (raise CallbackRejected) and read a status callback."""
        raise CallbackRejected(f"provider kind {self.kind} sends no callbacks", 404)
