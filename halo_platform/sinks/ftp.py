"""`ftp` sink (ftplib), optionally explicit FTPS (`tls: true`): STOR under a temporary
name, then RNFR/RNTO into place. A failed attempt removes its temporary file (through a new
connection when it was the connection that failed), and the file a previous delivery left stays
whole until the new one is in place."""

from __future__ import annotations

import contextlib
import datetime as dt
import ftplib
import functools
import select
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

from halo_platform.sinks.base import PermanentSinkError, TransientSinkError, UploadSink, safe_name, swap_in
from halo_platform.sinks.email import tls_context
from halo_platform.sinks.settings import CommandSetting, Host, LocalPath, PathSetting, Port, Timeout

# how long an upload cut off mid-transfer waits for the server to say why (it says so as it closes the data connection)
REPLY_SECONDS = 2.0


class FTPSink(UploadSink):
    """Writes into `remote_dir` (created if missing) on `host:port`."""

    kind = "ftp"
    host: Host
    port: Port = 21
    username: CommandSetting = "anonymous"
    password: CommandSetting = ""
    remote_dir: PathSetting = "/"
    tls: bool = False
    verify_tls: bool = True
    ca_file: LocalPath | None = None
    passive: bool = True
    timeout: Timeout = 30.0
    _absent = ftplib.error_perm  # no such file, or it may not be removed
    _lost = (ftplib.Error, EOFError, OSError)

    @contextlib.contextmanager
    def _session(self) -> Iterator[ftplib.FTP]:
        """A logged-in connection in `remote_dir`; the errors of its use as sink errors."""
        ftp = ftplib.FTP_TLS(context=tls_context(self.verify_tls, self.ca_file, f"FTP {self.host}")) if self.tls else ftplib.FTP()
        try:
            ftp.connect(self.host, self.port, timeout=self.timeout)
            if self.tls:
                ftp.auth()
            ftp.login(self.username, self.password)
            if self.tls:
                ftp.prot_p()
            ftp.set_pasv(self.passive)
            self._cwd(ftp, self.remote_dir)
            yield ftp
        except ftplib.error_perm as exc:
            raise PermanentSinkError(f"FTP {self.host}: {str(exc)[:200]}") from None
        except ssl.SSLCertVerificationError as exc:
            raise PermanentSinkError(f"FTP {self.host}: TLS certificate not trusted: {exc.verify_message}") from None
        except (ftplib.Error, EOFError, OSError) as exc:
            raise TransientSinkError(f"FTP {self.host}: {type(exc).__name__}: {str(exc)[:200]}") from None
        finally:
            try:
                ftp.quit()
            except (ftplib.Error, EOFError, OSError, AttributeError):
                ftp.close()

    def _put(self, ftp: ftplib.FTP, path: Path, temp: str) -> str:
        final = safe_name(path.name)
        with open(path, "rb") as body:  # streamed, a block at a time
            try:
                ftp.storbinary(f"STOR {temp}", body)
            except OSError:
                if body.tell():  # read from once the data connection was open: the server owes a reply
                    self._why_cut_off(ftp)
                raise
        self._confirm(ftp, temp, path)
        try:
            ftp.rename(temp, final)
        except ftplib.error_perm:  # a server that will not rename over a file
            swap_in(ftp.rename, ftp.delete, functools.partial(self._folder, ftp), temp, final,
                    f".{final}.{uuid.uuid4().hex[:8]}.old", ftplib.error_perm, self._lost)
        return self.file_uri("ftps" if self.tls else "ftp", self.host, f"{ftp.pwd().rstrip('/')}/{final}", self.port)

    def _confirm(self, ftp: ftplib.FTP, temp: str, path: Path) -> None:
        """The upload is whole on the server, as SFTP's `put(confirm=True)` checks: a server that kept a
        part (a quota, its storage) and answered 226 had the part renamed into place, DELIVERED. A server
        without SIZE (RFC 3659) has only its 226 to say it."""
        try:
            kept = ftp.size(temp)
        except ftplib.error_perm:
            return
        if kept is not None and kept != (size := path.stat().st_size):
            raise TransientSinkError(f"FTP {self.host}: the server kept {kept} of {size} bytes of {safe_name(path.name)}: not put in place")

    @staticmethod
    def _why_cut_off(ftp: ftplib.FTP) -> None:
        """An upload cut off mid-transfer: a server that closes the data connection (its disk full,
        its quota spent) says why on the control connection (`426 No space left on device`, `552`);
        that reply is raised, a 5xx being permanent. Unread, the sink said `ConnectionResetError`
        (what sending into the closed connection met), and the reply was read as the answer to the
        clean-up's DELE. No reply within `REPLY_SECONDS` (pyftpdlib's FTPS sends none; the control
        connection gone too): the connection's error stands. The wait is select's, not a read's: a
        read timed out leaves the connection's file unreadable (the clean-up's DELE failed on it)."""
        sock = ftp.sock
        if sock is None:  # closed
            return
        if (isinstance(sock, ssl.SSLSocket) and sock.pending()) or select.select([sock], [], [], REPLY_SECONDS)[0]:
            with contextlib.suppress(OSError, EOFError):
                ftp.voidresp()

    def _remove(self, ftp: ftplib.FTP, name: str) -> None:
        ftp.delete(name)

    def _names(self, ftp: ftplib.FTP) -> list[str]:
        """Dot files included, as the temporary files are: a plain NLST leaves them out on vsftpd, ProFTPD
        and Pure-FTPd. MLSD lists every entry; a server without it (vsftpd) takes `ls`'s `-a`."""
        try:
            return [name for name, _facts in ftp.mlsd()]
        except ftplib.error_perm:
            return ftp.nlst("-a")

    def _mtime(self, ftp: ftplib.FTP, name: str) -> float:
        modified = ftp.voidcmd(f"MDTM {name}").partition(" ")[2][:14]  # `213 YYYYMMDDHHMMSS[.sss]`, UTC (RFC 3659)
        return dt.datetime.strptime(modified, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC).timestamp()

    @staticmethod
    def _folder(ftp: ftplib.FTP, name: str) -> bool:
        """Whether `name` is a folder: one the server lets us change into (a plain FTP server has no other way to say)."""
        here = ftp.pwd()
        try:
            ftp.cwd(name)
        except ftplib.error_perm:
            return False
        ftp.cwd(here)
        return True

    @staticmethod
    def _cwd(ftp: ftplib.FTP, remote_dir: str) -> None:
        if remote_dir.startswith("/"):
            ftp.cwd("/")
        for part in [p for p in remote_dir.split("/") if p and p != "."]:
            try:
                ftp.cwd(part)
            except ftplib.error_perm:
                ftp.mkd(part)
                ftp.cwd(part)
