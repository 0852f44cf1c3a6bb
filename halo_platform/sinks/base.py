"""The sink interface: one small abstract resource, one subclass per destination kind.

A sink takes a delivery (files and/or a short text message) and returns the URIs
it wrote. It raises `TransientSinkError` for what a retry may fix (connection
refused or dropped, timeouts, 4xx SMTP replies) and `PermanentSinkError` for what
it cannot (bad credentials, a refused recipient). `deliver_with_retries` wraps any
sink with bounded retries and backoff and never raises: it reports the outcome,
any other exception included (a sink's bug or an unusable setting is that sink's failure).
"""

from __future__ import annotations

import abc
import contextlib
import functools
import logging
import re
import ssl
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import quote

import dagster as dg
from pydantic import Field

from halo_platform.core.ids import time_ordered_id
from halo_platform.core.models import utcnow
from halo_platform.core.redact import error_line, mask_text
from halo_platform.core.request_deadline import TimedDeadline, transfer_seconds, watching_new_sockets, within

log = logging.getLogger(__name__)


class SinkError(Exception):
    """Base of sink failures; the message must hold no secret."""


class TransientSinkError(SinkError):
    pass


class PermanentSinkError(SinkError):
    pass


class PartlyDeliveredSinkError(TransientSinkError):
    """Some recipients have it, others were refused for now (an email's 4xx to one address: greylisting,
    a full mailbox): `delivered` are the targets that have it; `resend()` delivers it to the others
    alone, and is the retry (the ones that have it never get it twice)."""

    def __init__(self, message: str, delivered: list[str], resend: Callable[[], list[str]]) -> None:
        super().__init__(message)
        self.delivered, self.resend = delivered, resend


class MaybeDeliveredSinkError(PermanentSinkError):
    """The destination may have it (sent whole, no answer came) or has it in part (an email some
    recipients took): one that keeps no delivery key (a mail relay, a Slack channel) would show a
    second copy. Nothing sends it there again."""


@dataclass(frozen=True)
class Link:
    """A file delivered as a link: it did not fit the sink's size limit and went to the sink's
    `link_store`, which serves it at `url`. `beside`: it fits the limit alone, not beside the files
    carried (an email's limit is on its whole message)."""

    name: str
    size: int
    url: str
    beside: bool = False


@dataclass(frozen=True)
class Delivery:
    """What to deliver: files (reports), links to files stored elsewhere, and a subject + text
    (alerts, email bodies, Slack)."""

    subject: str
    text: str = ""
    files: Sequence[Path] = ()
    links: Sequence[Link] = ()
    # The text says what the files hold (an alert and its JSON record): a sink that cannot carry
    # a file sends the text alone. A report's file is what it delivers: it is never optional.
    files_optional: bool = False
    # the same on every attempt of this delivery (a webhook sends it): a receiver that took an
    # attempt whose answer came too late keeps one of the two; a report's names its request and sink
    key: str = field(default_factory=time_ordered_id)


@dataclass
class DeliveryOutcome:
    sink: str
    status: str  # DELIVERED | FAILED
    attempts: int
    targets: list[str] = field(default_factory=list)
    detail: str = ""
    delivered_at: object = None
    # each attempt in order, JSON-ready: {attempt, at (ISO), outcome (DELIVERED | FAILED), error (a
    # masked line, None when delivered)}; a retry that worked keeps the errors of those before it
    tries: list[dict] = field(default_factory=list)
    # a failure no retry fixes (a PermanentSinkError: bad credentials, a refused recipient; a sink
    # that cannot be built): the run that met it is not retried either
    permanent: bool = False
    # the destination may have it (a MaybeDeliveredSinkError): neither retried nor kept to send again
    maybe_delivered: bool = False


# a temporary file of `UploadSink`, or an old file `swap_in` moved aside; one a server kept (its removal
# failed) is removed by a delivery to its folder once this old: no upload lasts that long, a younger one
# may be under way
_PART = re.compile(r"\..+\.[0-9a-f]{8}\.(?:part|old)")
STALE_PART_SECONDS = 24 * 3600
_SAFE_NAME = re.compile(r"[^\w.-]+")
_MAX_NAME = 200  # bytes of UTF-8: a file system's limit (255) is in bytes, and a temp name adds some
# a name Windows gives a device, in any case and with any extension (`CON.csv`, `nul.tar.gz`): a partner's
# Windows FTP or SFTP server refuses such a file or writes it to the device, and a mail reader does not save it
_DEVICE = re.compile(r"(?:CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(?:\..*)?", re.IGNORECASE)


def safe_name(name: str) -> str:
    """A file name that cannot escape its folder: no separators, no leading dots; at most
    `_MAX_NAME` bytes, cut in the stem so that the extension stays. Letters and digits of any
    script are kept (NFC): were they all `_`, `报告.csv` and `отчёт.csv` would be one target,
    the second file overwriting the first. A Windows device name gets a leading `_` (`CON.csv` -> `_CON.csv`)."""
    cleaned = _SAFE_NAME.sub("_", Path(unicodedata.normalize("NFC", str(name))).name).lstrip(".")
    if len(cleaned.encode()) > _MAX_NAME:
        stem, dot, ext = cleaned.rpartition(".")
        keep = f"{dot}{ext}" if stem and len(ext) < 16 else ""
        room = _MAX_NAME - len(keep.encode())
        cleaned = cleaned.encode()[:room].decode(errors="ignore") + keep  # never half a character
    if _DEVICE.fullmatch(cleaned):
        cleaned = f"_{cleaned}"
    return cleaned or "unnamed"


def name_of_title(title: str) -> str:
    """A file name made of a title (a subject, an alert's): its '/' become '_' rather than
    folders `safe_name` would drop ("every provider is down for sms/*/*" is not `_`)."""
    return safe_name(title.replace("/", "_"))


# a sink's `max_file_bytes`: a negative one was taken, and every file was then over it
FileBytes = Annotated[int, Field(ge=0)]


class Sink(dg.ConfigurableResource, abc.ABC):
    """A named destination. Subclasses set `kind` and implement `deliver`.

    `max_file_bytes` is the largest file the destination takes (None: no limit; email and chat
    kinds set their own; 0: none but an empty one, every other file goes as a link). A larger file
    goes to the sink named `link_store` (a kind that can serve links: folder with a `url`, s3) and
    this sink is given the link instead (`Delivery.links`). Both are checked with the sinks file
    (`SinksResource.validate_names`); again, the limit when the sink is built and the link store
    when a file goes to it (the file may have changed since)."""

    kind: ClassVar[str]
    carries_files: ClassVar[bool] = True  # False: every file is sent as a link (chat, webhooks)
    max_file_bytes: FileBytes | None = None
    link_store: str | None = None

    @abc.abstractmethod
    def deliver(self, delivery: Delivery) -> list[str]:
        """Deliver; return the URIs written. Raise Transient/PermanentSinkError."""

    def link(self, target: str) -> str:
        """A URL at which a recipient can fetch `target` (a URI this sink's `deliver` returned)."""
        raise PermanentSinkError(self.links_refused())

    def links_refused(self) -> str | None:
        """Why this sink cannot serve links as another's `link_store` (None: it can), asked before
        it is given the file: a kind that serves them overrides this and `link`."""
        return f"a {self.kind} sink cannot serve links"

    @staticmethod
    def file_uri(scheme: str, place: str, path: str, port: int | None = None) -> str:
        """The URI of the file a sink wrote at `path` (from `/`) in `place` (a host, on `port`; a bucket): the
        path percent-encoded, as a URI's is. As it was, a folder `in #2` ended the path at `#` (a fragment;
        `?`, a query): the URI named no file. `unquote(urlsplit(uri).path)` is `path` again.
        An IPv6 address is in brackets, the `%` of its zone as `%25` (RFC 3986, 6874): `ftp://::1:21/x`
        was no URL (urlsplit read no host, and refused its port)."""
        if ":" in place:  # no host name or bucket has one
            place = f"[{place.replace('%', '%25')}]"
        return f"{scheme}://{place}{'' if port is None else f':{port}'}{quote(path)}"

    def size_sent(self, path: Path) -> int:
        """The bytes the file at `path` takes as this sink sends it, which `max_file_bytes` limits:
        its size, unless the kind encodes it (an email's base64)."""
        return path.stat().st_size

    def too_large(self, delivery: Delivery) -> list[Path]:
        """The delivery's files this sink cannot carry: over its size limit as sent, or all if it carries none."""
        if not self.carries_files:
            return [Path(p) for p in delivery.files]
        if self.max_file_bytes is None:
            return []
        return [Path(p) for p in delivery.files if self.size_sent(Path(p)) > self.max_file_bytes]

    def fits_alone(self, delivery: Delivery, path: Path) -> bool:
        """Whether `path`, one of `too_large`'s, would be carried were it the delivery's only file: one
        a kind leaves out only beside the others (an email's, whose limit is on its message)."""
        return self.carries_files and not self.too_large(replace(delivery, files=[path]))

    def not_carried(self, beside: bool) -> str:
        """Why a file goes as a link (or, with no link store, fails the delivery), as the delivery's
        detail and error say it; `beside`: it fits the limit alone (`fits_alone`)."""
        if not self.carries_files:
            return "this sink carries no files"
        if beside:
            return (f"not attached: it did not fit in the message beside the other attachments (max_file_bytes "
                    f"{self.max_file_bytes} is on the whole message)")
        return f"over the sink's max_file_bytes ({self.max_file_bytes})"

    def carried(self, delivery: Delivery) -> list[Path]:
        """The delivery's files this sink sends itself. A file it cannot carry is left to its
        `link_store` (`SinksResource.deliver` turns it into a link first); one still here had no
        link store, so the recipient would not get it: the delivery fails rather than report a
        success, unless the delivery's files are optional (its text says it all)."""
        over = self.too_large(delivery)
        if over and not delivery.files_optional:
            size = f"{over[0].stat().st_size} bytes"
            limit = "not carried"
            if self.carries_files:
                limit = self.not_carried(self.fits_alone(delivery, over[0]))
                if (sent := self.size_sent(over[0])) != over[0].stat().st_size:  # the size the limit counts
                    size += f", {sent} as sent"
            raise PermanentSinkError(f"{over[0].name} ({size}) is {limit}, and the sink has no link_store to send a link")
        return [Path(p) for p in delivery.files if Path(p) not in over]

    @contextlib.contextmanager
    def stored(self, delivery: Delivery) -> Iterator[list[Path]]:
        """The files a sink that stores files stores: those it carries (`carried`), plus a note
        `<subject>.txt` when there is no file to carry (a message) or some went as links: the
        text, then each link, so that the recipient gets the file's link as an email reader does.
        The note is UTF-8, as every text file the platform writes: in the locale's encoding, a text
        saying `März` failed the delivery under LANG=C (UnicodeEncodeError)."""
        files = self.carried(delivery)
        if files and not delivery.links:
            yield files
            return
        lines = [delivery.text or delivery.subject]
        lines += [f"{link.name} ({link.size} bytes): {link.url}" for link in delivery.links]
        with tempfile.TemporaryDirectory(prefix="halo-note-") as tmp:
            note = Path(tmp) / (name_of_title(delivery.subject) + ".txt")
            note.write_text("\n\n".join(lines), encoding="utf-8")
            yield [*files, note]


@contextlib.contextmanager
def answered_within(server: str, timeout: float) -> Iterator[TimedDeadline]:
    """A deadline for a sink's session with its `server` (named in errors), `timeout` from now: the
    connection and login as a whole; `renew` it for each transfer. Its clients' timeouts hold for
    each read, and a server answering a line at a time, each within them, held the report's run (and
    the sinks after it) as long as it went on. A failure once the time is up is that: transient,
    whatever the dropped connection looked like (paramiko's, a refused login), unless the server
    may have the delivery (`MaybeDeliveredSinkError`: never sent again). Each socket made meanwhile
    is the deadline's as it is made (`watching_new_sockets`): a TLS one too, before its handshake,
    which ssl gives the socket's timeout from its own start (one begun late ran past the deadline)."""
    with within(timeout) as deadline, watching_new_sockets(deadline):
        try:
            yield deadline
        except (SinkError, OSError, EOFError) as exc:
            if not deadline.passed or isinstance(exc, MaybeDeliveredSinkError):
                raise
            raise TransientSinkError(f"{server}: no answer within {round(deadline.seconds, 1):g} s") from None


class UploadSink(Sink):
    """A sink that uploads into a folder on a server (FTP, SFTP): each file under a temporary name
    `.<name>.<hex>.part`, renamed into place once whole, so that the partner never takes half a
    file. A kind implements `_session` (a connection in the folder), `_put` (upload a file under
    the temporary name, then rename it: the target's URI) and the folder's `_remove`, `_names`
    and `_mtime`; `_absent` is the error the server gives when a file is not there, `_lost` the
    errors of a connection gone. The session has the sink's `timeout` to connect and log in, each
    file's upload and rename a time of its size (`transfer_seconds`), and the rest (the stale
    files, QUIT) the `timeout` again (`answered_within`); a kind has `host` and `timeout` settings.

    A failed upload removes its temporary file; when it was the connection that failed, through a
    new one once the attempt ends (the partner's folder would keep it: junk their automation may
    take). When that fails too (the server went away), the file left is logged, and each delivery
    to the folder removes those of this platform's pattern over `STALE_PART_SECONDS` old."""

    _absent: ClassVar[type[BaseException] | tuple[type[BaseException], ...]]
    _lost: ClassVar[tuple[type[BaseException], ...]]

    @abc.abstractmethod
    def _session(self) -> contextlib.AbstractContextManager[Any]:
        """A connection in the sink's folder; the errors of its use as sink errors."""

    @abc.abstractmethod
    def _put(self, conn: Any, path: Path, temp: str) -> str:  # noqa: ANN401 - the kind's connection
        """Upload `path` as `temp`, rename it into place; return its URI."""

    @abc.abstractmethod
    def _remove(self, conn: Any, name: str) -> None:  # noqa: ANN401
        """Remove the file `name` of the folder."""

    @abc.abstractmethod
    def _names(self, conn: Any) -> list[str]:  # noqa: ANN401
        """The names in the folder."""

    @abc.abstractmethod
    def _mtime(self, conn: Any, name: str) -> float | None:  # noqa: ANN401
        """When the file `name` of the folder was last written (seconds since the epoch); None: the
        server does not say."""

    def deliver(self, delivery: Delivery) -> list[str]:
        left: list[str] = []  # temporary files a dropped connection could not remove
        server = f"{self.kind.upper()} {self.host}"
        try:
            with answered_within(server, self.timeout) as deadline, self._session() as conn, \
                    self.stored(delivery) as files:
                targets = []
                for path in files:
                    deadline.renew(transfer_seconds(self.timeout, path.stat().st_size))
                    targets.append(self._upload(conn, path, left))
                deadline.renew(self.timeout)
                self._remove_stale_parts(conn)
                return targets
        finally:
            if left:
                try:
                    with answered_within(server, self.timeout), self._session() as conn:
                        for temp in left:
                            self._remove(conn, temp)
                except SinkError as exc:
                    log.warning("%s sink left %s in its folder (%s); a delivery to the folder a day on removes it",
                                self.kind, ", ".join(left), mask_text(str(exc)))

    def _upload(self, conn: Any, path: Path, left: list[str]) -> str:  # noqa: ANN401
        temp = f".{safe_name(path.name)}.{uuid.uuid4().hex[:8]}.part"
        try:
            return self._put(conn, path, temp)
        except BaseException:  # a failed attempt leaves no half-written file behind
            try:
                self._remove(conn, temp)
            except self._absent:  # none was made (a refused upload), or it may not be removed
                pass
            except self._lost:
                left.append(temp)
            raise

    def _remove_stale_parts(self, conn: Any) -> None:  # noqa: ANN401
        """Best effort: the files are delivered whatever the listing or a removal meets. Each file is
        tried on its own: one that cannot be removed (a refused delete, a folder of the pattern) is
        logged by its name, and the others are removed all the same."""
        failed = (self._absent, *self._lost, ValueError)  # ValueError: a time not in the server's form
        try:
            names = [n.rpartition("/")[2] for n in self._names(conn)]
        except failed:
            return
        stale = time.time() - STALE_PART_SECONDS
        for name in filter(_PART.fullmatch, names):
            try:
                if (mtime := self._mtime(conn, name)) is not None and mtime < stale:
                    self._remove(conn, name)
            except failed as exc:
                log.warning("%s sink could not remove the stale %s from its folder (%s)", self.kind, name, type(exc).__name__)


def deliver_with_retries(
    name: str,
    sink: Sink,
    delivery: Delivery,
    attempts: int = 3,
    backoff_seconds: Sequence[float] = (1.0, 4.0),
    sleep=time.sleep,  # noqa: ANN001
) -> DeliveryOutcome:
    """Deliver through one sink with bounded retries; transient errors back off and retry, a partial
    delivery (`PartlyDeliveredSinkError`) to the recipients that do not have it yet. The outcome's
    detail has its emails and phone numbers masked (a server's reply may echo them); an exception
    that is not a sink error is named by its type alone (its text may hold a setting's value) and
    not retried. A failure after a partial delivery is `maybe_delivered`: the others have it."""
    detail = ""
    tries: list[dict] = []
    done: list[str] = []  # targets delivered by an attempt that failed for others
    partly = ""  # that attempt's error: who was refused, and how
    send: Callable[[], list[str]] = functools.partial(sink.deliver, delivery)

    def tried(attempt: int, error: str | None) -> None:
        tries.append({"attempt": attempt, "at": utcnow().isoformat(), "outcome": "FAILED" if error else "DELIVERED",
                      "error": error_line(error)[0] if error else None})

    def failed(attempt: int, error: str, permanent: bool = False, maybe_delivered: bool = False) -> DeliveryOutcome:
        """A FAILED outcome; after a partial delivery, maybe delivered (the others have it), saying who was refused first."""
        if partly and partly != detail:
            error += f"; before: {partly}"
        return DeliveryOutcome(name, "FAILED", attempt, [], error, tries=tries, permanent=permanent,
                               maybe_delivered=maybe_delivered or bool(done))

    for attempt in range(1, attempts + 1):
        try:
            targets = send()
            tried(attempt, None)
            return DeliveryOutcome(name, "DELIVERED", attempt, [*done, *targets], "", utcnow(), tries)
        except PermanentSinkError as exc:
            detail = mask_text(f"permanent: {exc}")
            tried(attempt, detail)
            return failed(attempt, detail, permanent=True, maybe_delivered=isinstance(exc, MaybeDeliveredSinkError))
        except (TransientSinkError, OSError, TimeoutError) as exc:
            detail = mask_text(f"{type(exc).__name__}: {exc}")
            if isinstance(exc, PartlyDeliveredSinkError):
                done, send, partly = [*done, *exc.delivered], exc.resend, partly or detail
            tried(attempt, detail)
            if attempt < attempts:
                sleep(backoff_seconds[min(attempt - 1, len(backoff_seconds) - 1)])
        except Exception as exc:  # noqa: BLE001 - one sink's failure never stops the others
            log.error("sink %s failed unexpectedly: %s", name, type(exc).__name__)
            detail = f"unexpected error: {type(exc).__name__}"
            tried(attempt, detail)
            return failed(attempt, detail)
    return failed(attempts, f"gave up after {attempts} attempts: {detail}")


def folder_in_the_way(name: str) -> PermanentSinkError:
    """The error of a folder named as the file a sink writes: it is someone's (a partner's), never
    replaced nor moved, and no retry makes the file's place free."""
    return PermanentSinkError(f"{name} is a folder, in the place of the file: only a file there is replaced")


def swap_in(rename: Callable[[str, str], Any], remove: Callable[[str], Any], folder: Callable[[str], bool], temp: str,
            final: str, aside: str, absent: type[BaseException], lost: tuple[type[BaseException], ...]) -> None:
    """Put `temp` in the place of `final` on a server that will not rename over a file: the old
    file is moved to `aside` first (`absent`: the error when there is none), put back if the new
    one cannot take its place, removed once it has (`lost`: the errors those best-effort steps
    ignore; an old file left is logged by its name, and removed a day on as a `.part` file is).
    The file a previous delivery left is never lost. A `folder` in its place is the
    partner's, never moved aside (it was, its files with it, and could not be removed)."""
    if folder(final):
        raise folder_in_the_way(final)
    kept: str | None = aside
    try:
        rename(final, aside)
    except absent:
        kept = None
    try:
        rename(temp, final)
    except BaseException:
        if kept:
            with contextlib.suppress(*lost):
                rename(kept, final)
        raise
    if kept:
        try:
            remove(kept)
        except lost as exc:
            log.warning("the old file moved aside as %s could not be removed from the sink's folder (%s); "
                        "a delivery to the folder a day on removes it", kept.rpartition("/")[2], type(exc).__name__)


def tls_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS failure behind a connection error (an untrusted certificate among them), if that is what it was."""
    while exc is not None and not isinstance(exc, ssl.SSLError):
        exc = exc.__cause__ or exc.__context__
    return exc


def answered_in_plain_text(exc: BaseException) -> bool:
    """Whether a TLS handshake met a plain-text answer: the port speaks no TLS, and no retry gives it any."""
    tls = tls_error(exc)
    return tls is not None and tls.reason == "WRONG_VERSION_NUMBER"


def tls_refused(exc: BaseException, what: str, setting: str) -> PermanentSinkError | None:
    """The permanent failure of a connection error no retry fixes, as the sinks say it: an untrusted
    certificate, or an https `setting` whose server answers without TLS; None for any other."""
    if isinstance(tls := tls_error(exc), ssl.SSLCertVerificationError):
        return PermanentSinkError(f"{what}: TLS certificate not trusted: {tls.verify_message}")
    if answered_in_plain_text(exc):
        return PermanentSinkError(f"{what}: {setting} is https, but the server answers without TLS")
    return None


def _first_bytes(response, limit: int = 1024) -> bytes:  # noqa: ANN001 - an httpx response being streamed
    read = b""
    for chunk in response.iter_bytes():
        read += chunk
        if len(read) >= limit:
            break
    return read[:limit]


def post(url: str, what: str, timeout: float, *, deduplicated: bool = False, **request) -> None:  # noqa: ANN003 - httpx.post's arguments
    """POST to an HTTP endpoint: only a 2xx is delivered. Unreachable, 429 and 5xx are transient;
    a URL that is not one (a host IDNA refuses too, `xn--a.example` or a label over 63 characters:
    httpx lets that out as a UnicodeError; a port over 65535), a redirect (not followed: the
    endpoint did not take the POST) and other 4xx are permanent. `what` names the endpoint in errors (never its secret: its
    URL masked at most, never a redirect's Location).

    A post sent whole that got no answer (read timeout, connection dropped) may have been taken:
    it is transient only when the endpoint is `deduplicated` (it drops a second copy by a key the
    request carries); otherwise it fails permanently, once (a Slack channel showed it twice)."""
    import httpx

    try:
        target = httpx.URL(url)
        if target.port is not None and not 0 < target.port < 65536:  # as `Port`: it would reach another port
            raise httpx.InvalidURL("port out of range")
        # the whole request within `timeout`: a head sent a line at a time, each within the read
        # timeout, held the report's run (and the sinks after it) as long as the receiver went on
        with within(timeout) as deadline, httpx.Client(timeout=timeout) as client, \
                client.stream("POST", target, extensions={"trace": deadline.trace}, **request) as response:  # the status is the answer:
            # a body is read only for a refusal's reason, and at most 1 kB of it (one that never ended held the run)
            reason = "" if response.status_code < 400 else _first_bytes(response).decode(errors="replace")
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError):
        raise PermanentSinkError(f"{what}: the URL is not a valid http(s) URL") from None
    # raised before the endpoint had the whole request: a retry cannot make it a second post
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteError, httpx.WriteTimeout) as exc:
        if refused := tls_refused(exc, what, "its URL"):  # no retry makes it trusted, as the email and FTP sinks say
            raise refused from None
        raise TransientSinkError(f"{what} unreachable: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        why = f"no answer within {timeout:g} s" if deadline.passed else type(exc).__name__
        if not deduplicated:
            raise MaybeDeliveredSinkError(f"{what}: no answer once the post was sent ({why}); "
                                          "the endpoint may have it, so it is not sent again") from None
        raise TransientSinkError(f"{what} unreachable: {why}") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientSinkError(f"{what} answered {response.status_code}")
    if 300 <= response.status_code < 400:
        raise PermanentSinkError(f"{what} answered {response.status_code}, a redirect (not followed)")
    if not 200 <= response.status_code < 300:
        raise PermanentSinkError(f"{what} answered {response.status_code}: {mask_text(reason)[:100]}")  # masked, then cut
