"""A paramiko SSH server with the SFTP subsystem over a real directory: password (and key)
auth, one thread per client, records of writes/renames/removes, switches for auth failures
a connection that dies right after authentication, one that dies in the middle of an upload or on a
removal, a server without posix-rename, and a server gone."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.sftp import SFTP_FAILURE, SFTP_OK, SFTP_OP_UNSUPPORTED, SFTP_PERMISSION_DENIED

from halo_platform_tests.servers.common import HOST, Recorder, listening_socket


@dataclass
class SFTPSwitches:
    """Failure switches; all off after `reset()`.

    - refuse_auth: refuse every password/key even when right.
    - drop_after_auth: accept the login, then cut the connection when the client opens a channel.
    - drops_mid_write: the next this many uploads have their connection cut once their first block is
      written: the part written stays, as on a real server.
    - down: every new connection is closed as it arrives (the server went away).
    - down_after_drop: a drop (drops_mid_write) turns `down` on.
    - drops_on_remove: the next this many removals have their connection cut instead (nothing removed).
    - no_posix_rename: the posix-rename extension is unsupported (a server whose rename never overwrites).
    """

    refuse_auth: bool = False
    drop_after_auth: bool = False
    drops_mid_write: int = 0
    down: bool = False
    down_after_drop: bool = False
    drops_on_remove: int = 0
    no_posix_rename: bool = False


@dataclass(frozen=True)
class SFTPEvent:
    """One change a client made: `op` is "write" (a file opened for writing was closed), "rename",
    "posix_rename", "remove", "mkdir" or "rmdir"; `path` (and `target` for renames) are posix
    paths relative to `root`; `size` is the file size after a write."""

    op: str
    path: str
    target: str | None = None
    size: int | None = None


def _status(error: OSError) -> int:
    return paramiko.SFTPServer.convert_errno(error.errno)


class _Handle(paramiko.SFTPHandle):
    def __init__(self, server: SFTPServer, relative: str, flags: int, file, sock: socket.socket) -> None:  # noqa: ANN001
        super().__init__(flags)
        self._server = server
        self._sock = sock
        self._relative = relative
        self._writing = bool(flags & (os.O_WRONLY | os.O_RDWR))
        self.readfile = file
        self.writefile = file if self._writing else None
        self.filename = str(server.root / relative)
        self._first_block = True  # only an upload's first block may drop it (drops_mid_write)

    def stat(self):  # noqa: ANN201
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as error:
            return _status(error)

    def chattr(self, attr):  # noqa: ANN001, ANN201
        try:
            paramiko.SFTPServer.set_file_attr(self.filename, attr)
        except OSError as error:
            return _status(error)
        return SFTP_OK

    def write(self, offset: int, data: bytes) -> int:
        written = super().write(offset, data)
        # a block of an upload already dropped, that the server reads after the drop (the client sent
        # several ahead), is no new upload: it took the switch a test had set again for the next one
        first, self._first_block = self._first_block, False
        if first and self._server.switches.drops_mid_write:
            self._server.switches.drops_mid_write -= 1
            self._server.switches.down = self._server.switches.down_after_drop
            self._sock.shutdown(socket.SHUT_RDWR)
        return written

    def close(self) -> None:
        super().close()
        if self._writing:
            size = (self._server.root / self._relative).stat().st_size
            self._server.events.append(SFTPEvent("write", self._relative, size=size))


class _SFTPInterface(paramiko.SFTPServerInterface):
    """The client's "/" is the server's `root`; nothing outside it can be reached. A relative
    path is from the login folder (`home`), as on an OpenSSH server."""

    def __init__(self, server: paramiko.ServerInterface, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(server, *args, **kwargs)
        self._server: SFTPServer = server.halo_server  # type: ignore[attr-defined]
        self._sock: socket.socket = server.sock  # type: ignore[attr-defined]

    def _relative(self, path: str) -> str:
        path = path.replace("\\", "/")
        if not path.startswith("/"):
            path = f"{self._server.home}/{path}"
        parts: list[str] = []
        for part in path.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if parts:
                    parts.pop()
                continue
            parts.append(part)
        return "/".join(parts)

    def _local(self, path: str) -> Path:
        return self._server.root / self._relative(path)

    def canonicalize(self, path: str) -> str:
        return "/" + self._relative(path)

    def list_folder(self, path: str):  # noqa: ANN201
        local = self._local(path)
        try:
            out = []
            for name in sorted(os.listdir(local)):
                attr = paramiko.SFTPAttributes.from_stat(os.lstat(local / name))
                attr.filename = name
                out.append(attr)
            return out
        except OSError as error:
            return _status(error)

    def stat(self, path: str):  # noqa: ANN201
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._local(path)))
        except OSError as error:
            return _status(error)

    def lstat(self, path: str):  # noqa: ANN201
        try:
            return paramiko.SFTPAttributes.from_stat(os.lstat(self._local(path)))
        except OSError as error:
            return _status(error)

    def open(self, path: str, flags: int, attr):  # noqa: ANN001, ANN201
        local = self._local(path)
        try:
            fd = os.open(local, flags | getattr(os, "O_BINARY", 0), 0o644)
        except OSError as error:
            return _status(error)
        if flags & os.O_WRONLY:
            mode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            mode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            mode = "rb"
        return _Handle(self._server, self._relative(path), flags, os.fdopen(fd, mode), self._sock)

    def remove(self, path: str) -> int:
        if self._server.switches.drops_on_remove:
            self._server.switches.drops_on_remove -= 1
            self._sock.shutdown(socket.SHUT_RDWR)
            return SFTP_FAILURE
        try:
            os.remove(self._local(path))
        except OSError as error:
            return _status(error)
        self._server.events.append(SFTPEvent("remove", self._relative(path)))
        return SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        # SFTP v3 rename must fail when the target exists (what OpenSSH does without posix-rename).
        if self._local(newpath).exists():
            return SFTP_FAILURE
        return self._rename("rename", oldpath, newpath)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        if self._server.switches.no_posix_rename:
            return SFTP_OP_UNSUPPORTED
        return self._rename("posix_rename", oldpath, newpath)

    def _rename(self, op: str, oldpath: str, newpath: str) -> int:
        try:
            os.replace(self._local(oldpath), self._local(newpath))
        except OSError as error:
            return _status(error)
        self._server.events.append(SFTPEvent(op, self._relative(oldpath), target=self._relative(newpath)))
        return SFTP_OK

    def mkdir(self, path: str, attr) -> int:  # noqa: ANN001
        try:
            os.mkdir(self._local(path))
        except OSError as error:
            return _status(error)
        self._server.events.append(SFTPEvent("mkdir", self._relative(path)))
        return SFTP_OK

    def rmdir(self, path: str) -> int:
        if not self._relative(path):
            return SFTP_PERMISSION_DENIED
        try:
            os.rmdir(self._local(path))
        except OSError as error:
            return _status(error)
        self._server.events.append(SFTPEvent("rmdir", self._relative(path)))
        return SFTP_OK

    def chattr(self, path: str, attr) -> int:  # noqa: ANN001
        try:
            paramiko.SFTPServer.set_file_attr(str(self._local(path)), attr)
        except OSError as error:
            return _status(error)
        return SFTP_OK

    def symlink(self, target_path: str, path: str) -> int:
        return SFTP_OP_UNSUPPORTED

    def readlink(self, path: str):  # noqa: ANN201
        return SFTP_OP_UNSUPPORTED


class _ServerInterface(paramiko.ServerInterface):
    def __init__(self, server: SFTPServer, sock: socket.socket) -> None:
        self.halo_server = server
        self.sock = sock

    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey"

    def check_auth_password(self, username: str, password: str) -> int:
        ok = username == self.halo_server.username and password == self.halo_server.password
        return self._decide(username, ok)

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = username == self.halo_server.username and key == self.halo_server.client_key
        return self._decide(username, ok)

    def _decide(self, username: str, ok: bool) -> int:
        ok = ok and not self.halo_server.switches.refuse_auth
        self.halo_server.auth_attempts.append((username, ok))
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if self.halo_server.switches.drop_after_auth:
            self.sock.shutdown(socket.SHUT_RDWR)
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class SFTPServer:
    """SFTP (paramiko) on `host` (127.0.0.1, or another address such as ::1):`port`. Log in as
    `username` with `password`, or with the private key at `client_key_path` (`client_key` is the
    paramiko key). The client's "/" is `root` (a real directory, emptied by `reset()`); its login
    folder is `home` (a posix path under `root`, "" for `root` itself, the default again after
    `reset()`). The server's host key is `host_key`; `known_hosts_path` is a known_hosts file
    listing it for [host]:port, for clients that verify host keys. Each client connection runs in
    its own paramiko Transport thread."""

    username = "halo"
    password = "sftp-secret"

    def __init__(self, root: Path, keys_dir: Path, host: str = HOST) -> None:
        self.host = host
        self.root = root
        self.home = ""
        self.switches = SFTPSwitches()
        self.events: Recorder[SFTPEvent] = Recorder()
        self.auth_attempts: Recorder[tuple[str, bool]] = Recorder()
        keys_dir.mkdir(parents=True, exist_ok=True)
        self.host_key = paramiko.RSAKey.generate(2048)
        self.client_key = paramiko.RSAKey.generate(2048)
        self.client_key_path = keys_dir / "id_rsa"
        self.client_key.write_private_key_file(str(self.client_key_path))
        self._sock = listening_socket(host)
        self.port: int = self._sock.getsockname()[1]
        self.known_hosts_path = keys_dir / "known_hosts"
        self.known_hosts_path.write_text(
            f"[{self.host}]:{self.port} {self.host_key.get_name()} {self.host_key.get_base64()}\n"
        )
        self._transports: list[paramiko.Transport] = []
        self._lock = threading.Lock()
        self._running = False
        self._thread = threading.Thread(target=self._accept, name=f"sftpd-{self.port}", daemon=True)

    @property
    def credentials(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}

    def _accept(self) -> None:
        while self._running:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            if not self._running:
                client.close()
                return
            # The SSH handshake blocks; do it off the accept loop so a slow client never holds up others.
            threading.Thread(target=self._serve, args=(client,), name=f"sftpd-{self.port}-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if self.switches.down:
            client.close()
            return
        transport = paramiko.Transport(client)
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _SFTPInterface)
        with self._lock:
            self._transports = [t for t in self._transports if t.is_active()]
            self._transports.append(transport)
        try:
            transport.start_server(server=_ServerInterface(self, client))
        except (paramiko.SSHException, EOFError, OSError):
            transport.close()

    def start(self) -> SFTPServer:
        self._running = True
        self._thread.start()
        self.reset()
        return self

    def stop(self) -> None:
        self._running = False
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError as error:
            if error.errno != errno.ENOTCONN:
                raise
        self._sock.close()
        self._thread.join(5)
        with self._lock:
            for transport in self._transports:
                transport.close()
            self._transports.clear()

    def reset(self) -> None:
        self.switches = SFTPSwitches()
        self.home = ""
        self.events.clear()
        self.auth_attempts.clear()
        for child in self.root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
