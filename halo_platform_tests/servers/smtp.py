"""An aiosmtpd SMTP server: plain with optional STARTTLS on `port`, implicit TLS on `ssl_port`,
AUTH PLAIN/LOGIN, every accepted message recorded, and switches for the failures a relay shows."""

from __future__ import annotations

import asyncio
import email.policy
import logging
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from halo_platform_tests.servers.common import HOST, Recorder, listening_socket
from halo_platform_tests.servers.tls import TLSFiles

# aiosmtpd warns on every login that a legacy attribute is deprecated; keep test output readable.
logging.getLogger("mail.log").setLevel(logging.ERROR)


@dataclass
class ReceivedMail:
    """One message the server accepted (250 after DATA). `message` is parsed with
    email.policy.default from `raw` (as received, CRLF line ends) with LF line ends;
    `tls` is true for STARTTLS and implicit TLS; `port` is the port it arrived on."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    tls: bool
    auth_user: str | None
    port: int

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def attachments(self) -> dict[str, bytes]:
        """Attachment file name -> decoded content."""
        return {part.get_filename() or "": _decoded(part) for part in self.message.iter_attachments()}

    def text(self) -> str:
        """The plain-text body (the text/plain part of a multipart message)."""
        body = self.message.get_body(preferencelist=("plain", "html"))
        return body.get_content() if body is not None else ""


def _decoded(part: EmailMessage) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else str(part.get_content()).encode()


@dataclass
class SMTPSwitches:
    """Failure switches; all off after `reset()`.

    - rcpt_reply: reply every RCPT TO with this line instead of 250 (e.g. "451 4.3.0 Try again later",
      "550 5.1.1 No such user").
    - rcpt_replies: per-recipient reply lines (address -> line), for a partial refusal.
    - rcpt_replies_once: the same, each line replied once, the address accepted after it (greylisting).
    - mail_reply: reply MAIL FROM with this line instead of 250 (e.g. Postfix's "553 5.7.1 <a@b>: Sender address rejected").
    - data_reply: reply the end of DATA with this line instead of 250 (the message is then not recorded).
    - drop_after_data: record the next message, then close its connection before the 250 (an unknown outcome).
    - drop_at: "MAIL" or "RCPT": close the connection of the next such command instead of answering
      it (before DATA: nothing was sent).
    - data_reply_delay: record each message, then wait this many seconds before its 250 (a slow relay:
      a client with a shorter timeout gives up on a message the server has).
    - drop_on_connect: close every new connection before the greeting.
    - reject_auth: answer every AUTH with 535 5.7.8 even with the right credentials.
    - auth_reply: answer every AUTH with this line instead (e.g. RFC 4954's "454 4.7.0 Temporary authentication failure").
    - offer_starttls: advertise STARTTLS on the plain port (True by default).
    - require_auth: refuse MAIL FROM with 530 5.7.0 until the client has authenticated.
    - offer_smtputf8: advertise SMTPUTF8 (RFC 6531, internationalized addresses; True by default,
      as aiosmtpd does; many relays do not).
    - size_limit: advertise SIZE with this many bytes (RFC 1870) and refuse a larger message with 552,
      as a relay with a message size limit does (None: no limit).
    """

    rcpt_reply: str | None = None
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    rcpt_replies_once: dict[str, str] = field(default_factory=dict)
    mail_reply: str | None = None
    data_reply: str | None = None
    drop_after_data: bool = False
    drop_at: str | None = None
    data_reply_delay: float = 0.0
    drop_on_connect: bool = False
    reject_auth: bool = False
    auth_reply: str | None = None
    offer_starttls: bool = True
    require_auth: bool = False
    offer_smtputf8: bool = True
    size_limit: int | None = None


class _Handler:
    def __init__(self, server: SMTPServer) -> None:
        self.server = server

    def dropped_at(self, smtp: SMTP, command: str) -> bool:
        """Whether the `drop_at` switch closed the connection on `command` (once)."""
        if self.server.switches.drop_at != command:
            return False
        self.server.switches.drop_at = None
        smtp.transport.close()
        return True

    async def handle_MAIL(self, smtp, session: Session, envelope: Envelope, address: str, mail_options) -> str:  # noqa: ANN001
        if self.dropped_at(smtp, "MAIL"):
            return "421 4.3.0 closing"  # never reaches the client: its connection is closed
        if self.server.switches.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if self.server.switches.mail_reply:
            return self.server.switches.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, smtp, session, envelope: Envelope, address: str, rcpt_options) -> str:  # noqa: ANN001
        if self.dropped_at(smtp, "RCPT"):
            return "421 4.3.0 closing"  # never reaches the client: its connection is closed
        switches = self.server.switches
        reply = switches.rcpt_replies_once.pop(address, None) or switches.rcpt_replies.get(address) or switches.rcpt_reply
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if self.server.switches.data_reply:
            return self.server.switches.data_reply
        raw = envelope.original_content or b""
        message = BytesParser(policy=email.policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
        auth_user = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.server.messages.append(
            ReceivedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                message=message,  # type: ignore[arg-type]
                raw=raw,
                tls=smtp.transport is not None and smtp.transport.get_extra_info("ssl_object") is not None,
                auth_user=auth_user,
                port=smtp.transport.get_extra_info("sockname")[1] if smtp.transport else 0,
            )
        )
        if self.server.switches.drop_after_data:
            self.server.switches.drop_after_data = False
            smtp.transport.close()
        await asyncio.sleep(self.server.switches.data_reply_delay)
        return "250 2.0.0 Message accepted for delivery"


class _SMTP(SMTP):
    """aiosmtpd's SMTP with the per-connection switches (drop before greeting, STARTTLS on/off)."""

    def __init__(self, handler: _Handler, **kwargs) -> None:  # noqa: ANN003
        self._halo_server = handler.server
        super().__init__(handler, **kwargs)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._halo_server.switches.drop_on_connect and self._original_transport is None:
            transport.abort()  # type: ignore[attr-defined]


class _Controller(Controller):
    """A threaded controller serving on a socket we bound ourselves (port 0, no race)."""

    def __init__(self, handler: _Handler, *, implicit_tls: bool, **kwargs) -> None:  # noqa: ANN003
        self._sock = listening_socket()
        self._implicit_tls = implicit_tls
        tls = handler.server.tls
        super().__init__(
            handler,
            hostname=HOST,
            port=self._sock.getsockname()[1],
            ssl_context=tls.server_context() if implicit_tls else None,
            **kwargs,
        )

    def factory(self) -> SMTP:
        server = self.handler.server
        tls_context = None
        if not self._implicit_tls and server.switches.offer_starttls:
            tls_context = server.tls.server_context()
        return _SMTP(self.handler, tls_context=tls_context, **{**self.SMTP_kwargs, "enable_SMTPUTF8": server.switches.offer_smtputf8,
                                                               "data_size_limit": server.switches.size_limit})

    def _create_server(self):  # noqa: ANN202
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class SMTPServer:
    """SMTP on 127.0.0.1. `port`: plain, STARTTLS offered (switch `offer_starttls`); `ssl_port`:
    implicit TLS (SMTPS). Both accept AUTH PLAIN/LOGIN with `username`/`password`, also without
    TLS, and accept unauthenticated mail unless the `require_auth` switch is on (who logged in
    is `messages[i].auth_user`). The certificate is `tls.cert_path` (trust it, or do not verify)."""

    username = "halo"
    password = "smtp-secret"

    def __init__(self, tls: TLSFiles) -> None:
        self.host = HOST
        self.tls = tls
        self.messages: Recorder[ReceivedMail] = Recorder()
        self.auth_attempts: Recorder[tuple[str, bool]] = Recorder()
        self.switches = SMTPSwitches()
        common = dict(
            auth_require_tls=False,
            authenticator=self._authenticate,
            server_hostname="localhost",
            ready_timeout=10.0,
        )
        self._plain = _Controller(_Handler(self), implicit_tls=False, **common)
        self._implicit = _Controller(_Handler(self), implicit_tls=True, **common)
        self.port = self._plain.port
        self.ssl_port = self._implicit.port

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
        ok = (
            not self.switches.reject_auth
            and isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        login = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else ""
        self.auth_attempts.append((login, ok))
        if self.switches.auth_reply:
            return AuthResult(success=False, handled=False, message=self.switches.auth_reply)
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    @property
    def credentials(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}

    def start(self) -> SMTPServer:
        self._plain.start()
        self._implicit.start()
        self.reset()
        return self

    def stop(self) -> None:
        self._plain.stop()
        self._implicit.stop()

    def reset(self) -> None:
        self.switches = SMTPSwitches()
        self.messages.clear()
        self.auth_attempts.clear()

    def client_context(self, verify: bool = True) -> ssl.SSLContext:
        return self.tls.client_context(verify)
