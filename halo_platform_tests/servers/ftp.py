"""pyftpdlib FTP servers over one home directory: plain FTP on `port`, explicit FTPS (AUTH TLS)
on `tls_port`; uploads recorded; switches for a refused login and a connection that dies on STOR
or in the middle of one, a server gone, and listings as vsftpd or ProFTPD give them."""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from pyftpdlib.authorizers import AuthenticationFailed, DummyAuthorizer
from pyftpdlib.filesystems import AbstractedFS
from pyftpdlib.handlers import DTPHandler, FTPHandler, TLS_DTPHandler, TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import ThreadedFTPServer

from halo_platform_tests.servers.common import HOST, Recorder, listening_socket
from halo_platform_tests.servers.tls import TLSFiles

# A handler of our own stops pyftpdlib from configuring logging itself (it would add a stderr
# handler at INFO and switch off thread/source info in every log record of the test process).
_log = logging.getLogger("pyftpdlib")
_log.setLevel(logging.WARNING)
_log.addHandler(logging.NullHandler())


@dataclass
class FTPSwitches:
    """Failure switches; all off after `reset()`.

    - refuse_login: answer every PASS with 530 even with the right credentials.
    - close_on_stor: drop the control connection when a STOR/APPE arrives (nothing is written).
    - stor_reply: answer STOR/APPE with this line instead of storing (e.g. "452 Insufficient storage").
    - drops_mid_stor: the next this many uploads lose their control connection (and their data
      connection) once their first bytes arrived: the part received stays, as on a real server.
    - down: every new connection is closed as it arrives (the server went away).
    - down_after_drop: a drop (drops_mid_stor) turns `down` on.
    - hide_dot_files: NLST and LIST leave out names starting with "." unless given `-a` (vsftpd,
      ProFTPD and Pure-FTPd by default).
    - refuse_mlsd: MLSD is answered "500 Unknown command." (vsftpd has none).
    """

    refuse_login: bool = False
    close_on_stor: bool = False
    stor_reply: str | None = None
    drops_mid_stor: int = 0
    down: bool = False
    down_after_drop: bool = False
    hide_dot_files: bool = False
    refuse_mlsd: bool = False


@dataclass(frozen=True)
class FTPUpload:
    """A file the server finished receiving: `path` relative to `home` (posix), `size` in bytes,
    `tls` whether the control connection was secured."""

    path: str
    size: int
    tls: bool


class _Authorizer(DummyAuthorizer):
    def __init__(self, server: FTPServer) -> None:
        super().__init__()
        self.halo_server = server

    def validate_authentication(self, username, password, handler) -> None:  # noqa: ANN001
        if self.halo_server.switches.refuse_login:
            raise AuthenticationFailed("Login refused.")
        super().validate_authentication(username, password, handler)


class _FS(AbstractedFS):
    dot_files_hidden = False  # set by the handler for each command

    def listdir(self, path: str) -> list[str]:
        names = super().listdir(path)
        return [n for n in names if not n.startswith(".")] if self.dot_files_hidden else names


class _HandlerMixin:
    halo_server: FTPServer
    auth_failed_timeout = 0  # pyftpdlib waits 3 s after a failed login by default
    banner = "halo test FTP ready."
    abstracted_fs = _FS

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        switches = self.halo_server.switches
        if cmd == "MLSD" and switches.refuse_mlsd:
            self.respond("500 Unknown command.")  # type: ignore[attr-defined]
            return
        hidden = False
        if switches.hide_dot_files and cmd in ("NLST", "LIST"):
            # `ls` options come first (`NLST -a`), as vsftpd takes them
            options, _, arg = arg[1:].partition(" ") if arg.startswith("-") else ("", "", arg)
            hidden = "a" not in options
        if self.fs is not None:  # type: ignore[attr-defined]  # None until the login
            self.fs.dot_files_hidden = hidden  # type: ignore[attr-defined]
        super().pre_process_command(line, cmd, arg)  # type: ignore[misc]

    def handle(self) -> None:
        if self.halo_server.switches.down:
            self.close()  # type: ignore[attr-defined]
            return
        super().handle()  # type: ignore[misc]

    def ftp_STOR(self, file, mode="w"):  # noqa: ANN001, ANN201
        switches = self.halo_server.switches
        if switches.close_on_stor:
            self.close()
            return None
        if switches.stor_reply:
            self.respond(switches.stor_reply)
            return None
        return super().ftp_STOR(file, mode)

    def on_file_received(self, file: str) -> None:
        path = Path(file)
        secured = bool(getattr(self, "_ssl_established", False))
        self.halo_server.uploads.append(
            FTPUpload(path=path.relative_to(self.halo_server.home).as_posix(), size=path.stat().st_size, tls=secured)
        )


class _DTPMixin:
    cmd_channel: _HandlerMixin

    def handle_read_event(self) -> None:  # DTPHandler's name for its handle_read
        super().handle_read_event()  # type: ignore[misc]
        switches = self.cmd_channel.halo_server.switches
        if switches.drops_mid_stor and self.tot_bytes_received:  # type: ignore[attr-defined]
            switches.drops_mid_stor -= 1
            switches.down = switches.down_after_drop
            self.cmd_channel.close()  # type: ignore[attr-defined]


class _ServerThread:
    def __init__(self, handler: type[FTPHandler], host: str) -> None:
        # An IOLoop of its own: the default is a process-wide singleton, unsafe for two servers.
        self._server = ThreadedFTPServer(listening_socket(host), handler, ioloop=IOLoop())
        # pyftpdlib keeps the stop event on the class; give each server its own.
        self._server._exit = threading.Event()
        self.port: int = self._server.socket.getsockname()[1]
        self._running = True
        self._thread = threading.Thread(target=self._run, name=f"ftpd-{self.port}", daemon=True)

    def _run(self) -> None:
        while self._running:
            self._server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        self._server.close_all()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._running = False
        self._thread.join(10)


class FTPServer:
    """FTP on `host` (127.0.0.1, or another address such as ::1) with one user (`username`/`password`,
    full rights) whose root is `home` (a real directory, emptied by `reset()`). `port`: plain FTP;
    `tls_port`: explicit FTPS (AUTH TLS, certificate `tls.cert_path`; TLS optional for control and
    data). Passive mode on `host`. `uploads` records each completed upload."""

    username = "halo"
    password = "ftp-secret"

    def __init__(self, home: Path, tls: TLSFiles, host: str = HOST) -> None:
        self.host = host
        self.home = home
        self.tls = tls
        self.switches = FTPSwitches()
        self.uploads: Recorder[FTPUpload] = Recorder()
        authorizer = _Authorizer(self)
        authorizer.add_user(self.username, self.password, str(home), perm="elradfmwMT")
        plain = type("HaloFTPHandler", (_HandlerMixin, FTPHandler), {
            "halo_server": self, "authorizer": authorizer, "dtp_handler": type("HaloDTPHandler", (_DTPMixin, DTPHandler), {})})
        secure = type(
            "HaloFTPSHandler",
            (_HandlerMixin, TLS_FTPHandler),
            {"halo_server": self, "authorizer": authorizer, "certfile": str(tls.cert_path), "keyfile": str(tls.key_path),
             "dtp_handler": type("HaloTLSDTPHandler", (_DTPMixin, TLS_DTPHandler), {})},
        )
        self._plain = _ServerThread(plain, host)
        self._secure = _ServerThread(secure, host)
        self.port = self._plain.port
        self.tls_port = self._secure.port

    @property
    def credentials(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}

    def start(self) -> FTPServer:
        self._plain.start()
        self._secure.start()
        self.reset()
        return self

    def stop(self) -> None:
        self._plain.stop()
        self._secure.stop()

    def reset(self) -> None:
        self.switches = FTPSwitches()
        self.uploads.clear()
        for child in self.home.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
