"""`email` sink: smtplib with STARTTLS, implicit TLS (`ssl`) or plain; files attached while the
message as sent, whole, takes at most `max_file_bytes` (10 MiB: headers, text, MIME parts and the files
as base64, some 4/3 of a file's size): in order, each while it fits, the others sent as links through
the sink's `link_store` (with no link store, a file that does not fit fails the delivery): a relay's
size limit is on the message. Addresses are masked in logs and targets. A message the server
may have (no reply once DATA began) fails permanently (a retry would send it twice), and so does one
needing what the server does not offer (STARTTLS, AUTH, SMTPUTF8 for an address beyond ASCII)."""

from __future__ import annotations

import functools
import logging
import re
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from halo_platform.core.files import media_type
from halo_platform.core.redact import mask_text
from halo_platform.core.request_deadline import TimedDeadline, transfer_seconds
from halo_platform.core.text import control_character
from halo_platform.sinks.base import (
    Delivery,
    FileBytes,
    MaybeDeliveredSinkError,
    PartlyDeliveredSinkError,
    PermanentSinkError,
    Sink,
    TransientSinkError,
    answered_in_plain_text,
    answered_within,
    safe_name,
)
from halo_platform.sinks.settings import Host, LocalPath, Port, Timeout, setting_file

log = logging.getLogger("halo.sinks.email")

_ADDR_SPEC = re.compile(r"[^@\s]+@[^@\s]+")
_LINE_DOT = re.compile(rb"^\.", re.MULTILINE)  # a line SMTP's DATA sends with its '.' doubled


def _one_address(value: str) -> str:
    """An address setting: one address, with or without a name (`Finance <finance@example.com>`).
    Two in one entry (`a@example.com, b@example.com`) went to the first alone while the run said
    DELIVERED (smtplib's RCPT TO takes one), an empty sender sent the report with no From, and a
    line break failed every delivery as 'unexpected error: ValueError' (a header takes none)."""
    if control := control_character(value):
        raise ValueError(f"has a control character ({control})")
    parsed = getaddresses([value])
    if len(parsed) != 1 or not _ADDR_SPEC.fullmatch(parsed[0][1]):
        raise ValueError("each entry must be one email address (name@domain); list several addresses as several entries")
    return value


Address = Annotated[str, AfterValidator(_one_address)]


def _address(value: str) -> str:
    """The address of an `Address` setting, without its name: `Zoë Tan <zoe@example.com>` -> `zoe@example.com`."""
    return getaddresses([value])[0][1]


def mask_email(address: str) -> str:
    """`finance@example.com` -> `f*****e@example.com` (enough to recognise, not to harvest)."""
    local, _, domain = address.partition("@")
    if len(local) <= 2:
        return f"{local[:1]}*@{domain}"
    return f"{local[0]}{'*' * (len(local) - 2)}{local[-1]}@{domain}"


def tls_context(verify: bool, ca_file: str | None, server: str) -> ssl.SSLContext:
    """The TLS context for `server` (named in errors, e.g. `FTP host`). A `ca_file` that is not
    there or holds no PEM certificate is bad configuration no retry fixes (its OSError or SSLError
    was retried as transient): named by its setting, never by the file's content."""
    with setting_file(server, "ca_file", "a PEM certificate file ssl reads", (ssl.SSLError,)):
        context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Sending:
    """An SMTP client that knows whether it has begun DATA: after that, a failure with no reply (a
    dropped connection, a timeout) leaves the message perhaps accepted, and a retry would send it
    again (a relay that dropped the line before its 250 had the report twice)."""

    data_begun = False

    def data(self, msg):  # noqa: ANN001, ANN201 - smtplib's signature
        self.data_begun = True
        return super().data(msg)


class _SMTP(_Sending, smtplib.SMTP):
    pass


class _SMTPSSL(_Sending, smtplib.SMTP_SSL):
    pass


def _quit(client: smtplib.SMTP) -> None:
    """Say QUIT and close. Its reply changes nothing: a message the server accepted (250 after
    DATA) is delivered, and a retry raised by a 4xx to QUIT would send it again."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


class EmailSink(Sink):
    """Sends one message to `to` (+ `cc`) from `sender` through `host:port`."""

    kind = "email"
    host: Host
    port: Port = 587
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    sender: Address
    to: Annotated[list[Address], Field(min_length=1)]
    cc: list[Address] = []
    max_file_bytes: FileBytes | None = 10 * 1024 * 1024
    verify_tls: bool = True
    ca_file: LocalPath | None = None
    timeout: Timeout = 30.0

    def size_sent(self, path: Path) -> int:
        """The file's base64 as the message carries it, which a relay's size limit counts: 4 characters
        for each 3 bytes, in lines of 76 characters (57 bytes) ending CRLF. Its raw size was compared
        with `max_file_bytes`, and a 9 MiB file made a message of over 12 MiB that a relay with a
        10 MiB limit refused (the report failed rather than go as a link)."""
        size = path.stat().st_size
        return 4 * -(-size // 3) + 2 * -(-size // 57)

    def too_large(self, delivery: Delivery) -> list[Path]:
        """The files left out of the message: taken in order, each is attached while the message with
        it takes at most `max_file_bytes` as sent (`message_size`). A relay's limit is on the message:
        two files, each under the limit, made one it refused (552: the report failed, not even sent as
        links), and so did files under it with the message's headers, text and MIME parts (some 400
        bytes, more with links' lines), which were not counted."""
        if self.max_file_bytes is None:
            return []
        paths = [Path(p) for p in delivery.files]
        # a file adds its part to the message: the message with it alone less what every such message has
        # (headers, text, the closing boundary); 1 + n messages measured, not one per file per file (20 files: 0.5 s)
        alone = [self.message_size(delivery, [path]) for path in paths]
        shared = sum(alone[:2]) - self.message_size(delivery, paths[:2]) if len(paths) > 1 else 0
        over, size = [], shared
        for path, whole in zip(paths, alone, strict=True):
            if size + whole - shared > self.max_file_bytes:
                over.append(path)
            else:
                size += whole - shared
        return over

    def message_size(self, delivery: Delivery, attached: list[Path]) -> int:
        """The bytes of the message of `delivery` carrying `attached`, as a relay counts them against
        its SIZE limit: the message flattened as smtplib sends it (CRLF; headers in UTF-8 for an address
        beyond ASCII), a '.' that starts a line doubled (DATA's transparency; never one in base64 or a
        header). Flattened with the files' parts empty, their base64 (`size_sent`, exactly as the email
        package writes it) added: a file is neither read nor encoded to be judged (a 100 MB one: 1 ms)."""
        skeleton = self._message(delivery, attached, lambda path: b"")
        flat = skeleton.as_bytes(policy=skeleton.policy.clone(linesep="\r\n", utf8=self._international))
        return len(flat) + len(_LINE_DOT.findall(flat)) + sum(map(self.size_sent, attached))

    @property
    def _international(self) -> bool:
        """Whether smtplib sends the message as SMTPUTF8 (headers in UTF-8): an envelope address beyond ASCII."""
        return not "".join(_address(a) for a in [self.sender, *self.to, *self.cc]).isascii()

    @field_validator("ssl")
    @classmethod
    def _one_tls(cls, value: bool, info: ValidationInfo) -> bool:
        # both: `ssl` won silently, and on port 587 each attempt failed as a transient SSLError
        if value and info.data.get("starttls"):
            raise ValueError("and starttls: set one (ssl: TLS from the start, port 465; starttls: TLS after the greeting, port 587)")
        return value

    @field_validator("username", "password")
    @classmethod
    def _ascii(cls, value: str | None) -> str | None:
        # smtplib sends AUTH credentials as ASCII: anything else failed at login as a UnicodeEncodeError
        if value is not None and not value.isascii():
            raise ValueError("has characters other than ASCII, which SMTP AUTH (smtplib) cannot send")
        return value

    def build_message(self, delivery: Delivery) -> EmailMessage:
        return self._message(delivery, self.carried(delivery), Path.read_bytes)

    def _message(self, delivery: Delivery, attached: list[Path], content: Callable[[Path], bytes]) -> EmailMessage:
        """The message of `delivery` carrying `attached`, each file's bytes `content(path)`."""
        message = EmailMessage()
        # on one line: a header takes no line break (one in an alert's title failed every attempt as
        # 'unexpected error: ValueError'), and a break must not start a header of its own
        message["Subject"] = " ".join(line.strip() for line in delivery.subject.splitlines() if line.strip())
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        if self.cc:
            message["Cc"] = ", ".join(self.cc)
        body = [delivery.text or delivery.subject]
        body += [f"{link.name} ({link.size} bytes) "
                 f"{'did not fit in this email beside the other attachments' if link.beside else 'is too large to attach'}: {link.url}"
                 for link in delivery.links]
        message.set_content("\n\n".join(body))
        for path in attached:
            maintype, _, subtype = media_type(path).partition("/")
            message.add_attachment(content(path), maintype=maintype, subtype=subtype, filename=safe_name(path.name),
                                   params={"charset": "utf-8"} if maintype == "text" else {})
        return message

    def deliver(self, delivery: Delivery) -> list[str]:
        message = self.build_message(delivery)
        # the envelope takes the address alone (its name stays in the header): a name beyond ASCII
        # made smtplib require SMTPUTF8 for an ASCII address, and a name was in the targets
        recipients = list(dict.fromkeys(_address(a) for a in [*self.to, *self.cc]))  # one copy for an address in to and cc
        return self._deliver(message, recipients)

    def _deliver(self, message: EmailMessage, recipients: list[str], gone: dict[str, int] | None = None) -> list[str]:
        """Send `message` to `recipients`. Those refused for now (4xx) while others took it are left to
        the retry (`PartlyDeliveredSinkError.resend`: the same message to them alone); those refused for
        good (5xx, `gone`, carried to the retry) fail the sink once the others have it."""
        context = tls_context(self.verify_tls, self.ca_file, f"SMTP {self.host}")
        with answered_within(f"SMTP {self.host}", self.timeout) as deadline:
            refused = {a: code for a, (code, _) in self._send(message, recipients, context, deadline).items()}
        delivered = [a for a in recipients if a not in refused]
        again = [a for a, code in refused.items() if 400 <= code < 500]
        gone = {**(gone or {}), **{a: code for a, code in refused.items() if a not in again}}
        if again or gone:
            error = (f"refused for {', '.join(f'{mask_email(a)} ({code})' for a, code in {**refused, **gone}.items())}; "
                     f"sent to {', '.join(mask_email(a) for a in delivered)}")
            if again:
                raise PartlyDeliveredSinkError(error, self._targets(delivered), functools.partial(self._deliver, message, again, gone))
            raise MaybeDeliveredSinkError(error)  # the others have it: a retry would send it to them twice
        log.info("email %r sent to %s", message["Subject"], ", ".join(mask_email(a) for a in recipients))
        return self._targets(delivered)

    @staticmethod
    def _targets(addresses: list[str]) -> list[str]:
        return [f"mailto:{mask_email(a)}" for a in addresses]

    def _send(self, message: EmailMessage, recipients: list[str], context: ssl.SSLContext,
              deadline: TimedDeadline) -> dict[str, tuple[int, bytes]]:
        """Connect and log in within the sink's timeout, send within a time of the message's size
        (`deadline`: `answered_within`'s, which watches each socket the client makes, TLS too); the
        recipients refused."""
        client: _SMTP | _SMTPSSL | None = None
        try:
            if self.ssl:
                client = _SMTPSSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                client = _SMTP(self.host, self.port, timeout=self.timeout)
            try:
                if self.starttls and not self.ssl:
                    client.starttls(context=context)
                if self.username:
                    client.login(self.username, self.password or "")
                # the parts as sent (base64 for a file), without flattening the message a second time
                size = sum(len(part.get_payload()) for part in message.walk() if not part.is_multipart())
                deadline.renew(transfer_seconds(self.timeout, size))
                return client.send_message(message, from_addr=_address(self.sender), to_addrs=recipients)
            finally:
                _quit(client)
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentSinkError(f"SMTP login refused ({exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = TransientSinkError if any(400 <= c < 500 for c in codes) else PermanentSinkError
            raise error(f"every recipient refused: {', '.join(f'{mask_email(a)} {c}' for a, (c, _) in exc.recipients.items())}") from None
        except smtplib.SMTPResponseException as exc:
            error = TransientSinkError if 400 <= exc.smtp_code < 500 else PermanentSinkError
            # masked before it is cut: a cut address is none for the masks
            raise error(f"SMTP {exc.smtp_code} {mask_text(exc.smtp_error.decode(errors='replace'))[:200]}") from None
        except ssl.SSLCertVerificationError as exc:
            raise PermanentSinkError(f"TLS certificate of {self.host} not trusted: {exc.verify_message}") from None
        except smtplib.SMTPNotSupportedError as exc:  # STARTTLS, AUTH or SMTPUTF8 the server does not offer:
            # nor will it on the next attempt (it was retried, then the run with it); raised before any MAIL
            raise PermanentSinkError(f"SMTP {self.host}: {exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            if client is not None and client.data_begun:  # no reply to the message: a permanent failure, never resent
                raise MaybeDeliveredSinkError(f"SMTP {self.host}: no reply once the message was sent ({type(exc).__name__}); "
                                              "the server may have it, so it is not sent again") from None
            if self.ssl and answered_in_plain_text(exc):  # it was retried, naming neither the setting nor what to set
                raise PermanentSinkError(f"SMTP {self.host}:{self.port}: ssl: true, but the server answers in plain text (implicit "
                                         "TLS is port 465; a port such as 587 or 25 takes starttls: true instead)") from None
            raise TransientSinkError(f"SMTP {self.host}: {type(exc).__name__}: {exc}") from None
