"""`smtp`: any SMTP relay. `250` after DATA acknowledges; 4yz retries (at login too); 5yz is
permanent, but for a login refused (535, bad credentials): a configuration error, the relay's
and not the message's, which another provider of the route takes."""

from __future__ import annotations

import queue
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from email.utils import make_msgid

from pydantic import PrivateAttr

from halo_platform.core.lookup import connection
from halo_platform.core.redact import mask_text
from halo_platform.delivery.providers.base import (
    ACKNOWLEDGED,
    PERMANENT,
    RETRYABLE,
    UNKNOWN,
    Outgoing,
    Provider,
    SendResult,
)
from halo_platform.delivery.providers.wire import closed_by_peer


def smtp_outcome(code: int) -> str:
    return RETRYABLE if 400 <= code < 500 else PERMANENT


class _Session:
    """An SMTP connection that tells whether its message reached DATA: before it (EHLO, MAIL
    FROM, RCPT TO) the relay holds nothing of the message, so a connection lost there is a plain retry."""

    in_data = False

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        self.in_data = True
        return super().data(msg)  # type: ignore[misc]

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # smtplib's `socket.create_connection` looks the relay's name up with no time limit
        return self._secured(connection(host, port, time.monotonic() + timeout))

    def _secured(self, sock: socket.socket) -> socket.socket:
        return sock


class _SMTP(_Session, smtplib.SMTP):
    pass


class _SMTPS(_Session, smtplib.SMTP_SSL):
    def _secured(self, sock: socket.socket) -> socket.socket:
        return self.context.wrap_socket(sock, server_hostname=self._host)


class SmtpProvider(Provider):
    """Sends email through an SMTP relay over a small pool of kept-open connections."""

    kind = "smtp"
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    use_ssl: bool = False  # implicit TLS (SMTPS, port 465)
    username: str | None = None
    password: str | None = None
    sender: str = "noreply@example.com"
    ca_file: str | None = None  # trust this CA (a private relay's certificate) besides the system's
    max_concurrency: int = 4

    _pool: queue.LifoQueue = PrivateAttr(default_factory=queue.LifoQueue)

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def _connect(self, timeout: float) -> _SMTP | _SMTPS:
        if self.use_ssl:
            conn: _SMTP | _SMTPS = _SMTPS(self.host, self.port, timeout=timeout, context=self._tls())
        else:
            conn = _SMTP(self.host, self.port, timeout=timeout)
        try:
            if self.starttls and not self.use_ssl:  # implicit TLS is encrypted from the start: no relay offers STARTTLS on it
                conn.starttls(context=self._tls())
            if self.username:
                conn.login(self.username, self.password or "")
        except BaseException:
            # closed now: smtplib's login error holds the connection in a reference cycle, open
            # on the relay until the garbage collector runs
            conn.close()
            raise
        return conn

    def _checkout(self, timeout: float) -> _SMTP | _SMTPS:
        """A kept-open connection the server has not closed meanwhile, else a new one: a
        connection that fails once the message is on its way leaves its outcome unknown, so
        none is sent on a connection known to be closed."""
        while True:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                return self._connect(timeout)
            if conn.sock is not None and not closed_by_peer(conn.sock):
                conn.sock.settimeout(timeout)
                return conn
            conn.close()

    def _checkin(self, conn: smtplib.SMTP) -> None:
        if self._pool.qsize() < self.max_concurrency:
            self._pool.put(conn)
        else:
            _quit(conn)

    def close(self) -> None:
        while not self._pool.empty():
            _quit(self._pool.get_nowait())

    def _email(self, message: Outgoing) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.recipient
        email["Subject"] = message.subject or ""
        email["Message-ID"] = make_msgid(idstring=message.id.replace("-", ""), domain=self.sender.rpartition("@")[2] or None)
        email["X-Halo-Message-Id"] = message.id
        email.set_content(message.body)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        return email

    def send_one(self, message: Outgoing, timeout: float | None = None) -> SendResult:
        timeout = min(timeout or self.timeout_seconds, self.timeout_seconds)
        return self._send(message, self._email(message), timeout)

    def _send(self, message: Outgoing, email: EmailMessage, timeout: float) -> SendResult:
        try:
            conn = self._checkout(timeout)
        except smtplib.SMTPResponseException as exc:
            # a login refused (535) is a configuration error: nothing of the message was sent, and
            # only this provider cannot take it, so it is retried (at once elsewhere for a HIGH one)
            # and counted against the relay; one answered 4yz (454: the relay's authentication is
            # down a moment, 421) is retried as any 4yz
            if isinstance(exc, smtplib.SMTPAuthenticationError) and smtp_outcome(exc.smtp_code) == PERMANENT:
                return SendResult(message.id, RETRYABLE, detail=f"configuration error: SMTP login refused ({exc.smtp_code})")
            return SendResult(message.id, smtp_outcome(exc.smtp_code), detail=f"{exc.smtp_code} on connect")
        except smtplib.SMTPNotSupportedError as exc:
            # STARTTLS or AUTH that the settings ask for and this relay does not offer: the setting to
            # look at is named; a retry, as another provider may take the message
            return SendResult(message.id, RETRYABLE, detail=f"configuration error: {exc}")
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult(message.id, RETRYABLE, detail=f"not sent: {type(exc).__name__}")
        conn.in_data = False
        try:
            refused = conn.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0]
            _reset(conn)
            self._checkin(conn)
            return SendResult(message.id, smtp_outcome(code), detail=f"{code} recipient refused")
        except smtplib.SMTPNotSupportedError:  # refused before MAIL FROM: nothing left, and this relay never will take it
            self._checkin(conn)
            return SendResult(message.id, PERMANENT, detail="not sent: the relay does not offer SMTPUTF8, which an address "
                                                            "with other than ASCII letters before its @ needs")
        except smtplib.SMTPResponseException as exc:
            _reset(conn)
            self._checkin(conn)
            # masked before it is cut: a cut address is none for the masks (`SendResult` masks again)
            reply = mask_text(exc.smtp_error.decode("utf-8", "replace"))[:100]
            return SendResult(message.id, smtp_outcome(exc.smtp_code), detail=f"{exc.smtp_code} {reply!r}")
        except (OSError, smtplib.SMTPException) as exc:  # the connection dropped, or no answer in time
            _quit(conn)
            what = "connection dropped" if isinstance(exc, smtplib.SMTPServerDisconnected) else None
            if not conn.in_data:
                return SendResult(message.id, RETRYABLE, detail=f"not sent: {what or type(exc).__name__} before DATA")
            # after DATA the relay may have the message: never sent again
            return SendResult(message.id, UNKNOWN, detail=what or f"no answer: {type(exc).__name__}")
        self._checkin(conn)
        if refused:
            code = next(iter(refused.values()))[0]
            return SendResult(message.id, smtp_outcome(code), detail=f"{code} recipient refused")
        return SendResult(message.id, ACKNOWLEDGED, email["Message-ID"].strip("<>"))

    def health(self) -> bool:
        try:
            conn = self._connect(min(self.timeout_seconds, 5.0))
            code, _ = conn.noop()
            _quit(conn)
        except (OSError, smtplib.SMTPException):
            return False
        return code == 250


def _reset(conn: smtplib.SMTP) -> None:
    try:
        conn.rset()
    except (OSError, smtplib.SMTPException):
        pass


def _quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (OSError, smtplib.SMTPException):
        conn.close()


