"""`sftp` sink (paramiko): uploads under a temporary name, then renames into place. A failed attempt
removes its temporary file (through a new connection when it was the connection that failed)."""

from __future__ import annotations

import contextlib
import functools
import posixpath
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, ValidationInfo, field_validator

from halo_platform.sinks.base import PermanentSinkError, TransientSinkError, UploadSink, safe_name, swap_in
from halo_platform.sinks.settings import CommandSetting, Host, LocalPath, PathSetting, Port, Timeout, setting_file

if TYPE_CHECKING:
    import paramiko


class SFTPSink(UploadSink):
    """Writes into `remote_dir` (created if missing; one without a leading `/` is in the login
    folder). The host key is checked against `known_hosts_path` (or ~/.ssh/known_hosts); an
    unknown host is refused."""

    kind = "sftp"
    host: Host
    port: Port = 22
    # a line break (the last of a secret file `${SFTP_PASSWORD}` was read from) or another control
    # character failed every login as 'AuthenticationException', naming neither setting nor character
    username: CommandSetting
    password: CommandSetting | None = None
    private_key_path: Annotated[LocalPath | None, Field(validate_default=True)] = None
    remote_dir: PathSetting = "."
    known_hosts_path: LocalPath | None = None
    timeout: Timeout = 30.0
    _absent = FileNotFoundError

    @field_validator("private_key_path")
    @classmethod
    def _a_way_to_log_in(cls, path: str | None, info: ValidationInfo) -> str | None:
        # paramiko offers the server neither (no agent, no ~/.ssh keys): 'No authentication methods
        # available' at every attempt, retried as transient. A password that failed its own check is not in `data`.
        if path is None and info.data.get("password", "") is None:
            raise ValueError("neither it nor password is set: there is no way to log in")
        return path

    @property
    def _lost(self) -> tuple[type[BaseException], ...]:
        import paramiko

        return (OSError, EOFError, paramiko.SSHException)

    @contextlib.contextmanager
    def _session(self) -> Iterator[tuple[paramiko.SFTPClient, str]]:
        """An SFTP session and `remote_dir` (created if missing) as the server resolves it, from its
        root; the errors of their use as sink errors."""
        import paramiko

        client = paramiko.SSHClient()
        unread = (ValueError, paramiko.SSHException, paramiko.UnknownKeyType, paramiko.hostkeys.InvalidHostKey)
        with setting_file(f"SFTP {self.host}", "known_hosts_path", "a known_hosts file paramiko reads", unread):
            if self.known_hosts_path:
                client.load_host_keys(self.known_hosts_path)
            else:
                client.load_system_host_keys()
        with setting_file(f"SFTP {self.host}", "private_key_path", "a private key paramiko reads", unread):
            key = self._key() if self.private_key_path else None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            sock = socket.create_connection((self.host, self.port), self.timeout)
            client.connect(self.host, self.port, username=self.username, password=self.password, sock=sock,
                           pkey=key, timeout=self.timeout, banner_timeout=self.timeout,
                           auth_timeout=self.timeout, allow_agent=False, look_for_keys=False)
            with client.open_sftp() as sftp:
                sftp.get_channel().settimeout(self.timeout)
                self._makedirs(sftp, self.remote_dir)
                # `inbound` or the default `.` is in the login folder (/home/halo on OpenSSH), and a target
                # recorded as /inbound/x.csv or /./x.csv named no file (the FTP sink asks the server with PWD alike)
                yield sftp, sftp.normalize(self.remote_dir)
        except (paramiko.AuthenticationException, paramiko.BadHostKeyException) as exc:
            raise PermanentSinkError(f"SFTP {self.host}: {type(exc).__name__}") from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise PermanentSinkError(f"SFTP {self.host}: host key unknown") from None
            raise TransientSinkError(f"SFTP {self.host}: {exc}") from None
        except PermissionError as exc:
            raise PermanentSinkError(f"SFTP {self.host}: permission denied: {exc.filename or ''}") from None
        except (EOFError, OSError) as exc:
            raise TransientSinkError(f"SFTP {self.host}: {type(exc).__name__}: {exc}") from None
        finally:
            client.close()

    def _key(self) -> paramiko.PKey:
        """The key at `private_key_path`, decrypted with `password` when it is encrypted (the password
        is the login's when it is not). paramiko 5 hands the password to cryptography, which takes
        bytes (a str failed every delivery as a TypeError) and says by a TypeError that a key is or is
        not encrypted."""
        import paramiko

        passphrase = self.password.encode() if self.password else None
        try:
            return paramiko.PKey.from_path(self.private_key_path, passphrase)
        except TypeError:
            if passphrase is None:
                raise PermanentSinkError(f"SFTP {self.host}: private_key_path: the key is encrypted, "
                                         "and no password (its passphrase) is set") from None
            return paramiko.PKey.from_path(self.private_key_path)

    def _put(self, opened: tuple[paramiko.SFTPClient, str], path: Path, temp: str) -> str:
        sftp, folder = opened
        final, temp = posixpath.join(folder, safe_name(path.name)), posixpath.join(folder, temp)
        sftp.put(str(path), temp, confirm=True)
        try:
            sftp.posix_rename(temp, final)
        except OSError:  # no posix-rename extension: plain rename refuses to overwrite
            swap_in(sftp.rename, sftp.remove, functools.partial(self._folder, sftp), temp, final,
                    f"{temp.removesuffix('.part')}.old", OSError, self._lost)
        return self.file_uri("sftp", self.host, final, self.port)

    def _remove(self, opened: tuple[paramiko.SFTPClient, str], name: str) -> None:
        sftp, folder = opened
        sftp.remove(posixpath.join(folder, name))

    def _names(self, opened: tuple[paramiko.SFTPClient, str]) -> list[str]:
        sftp, folder = opened
        return sftp.listdir(folder)

    def _mtime(self, opened: tuple[paramiko.SFTPClient, str], name: str) -> float | None:
        sftp, folder = opened
        return sftp.stat(posixpath.join(folder, name)).st_mtime

    @staticmethod
    def _folder(sftp, path: str) -> bool:  # noqa: ANN001
        try:
            return stat.S_ISDIR(sftp.stat(path).st_mode)
        except FileNotFoundError:
            return False

    @staticmethod
    def _makedirs(sftp, remote_dir: str) -> None:  # noqa: ANN001
        current = "/" if remote_dir.startswith("/") else ""
        for part in [p for p in remote_dir.split("/") if p and p != "."]:
            current = posixpath.join(current, part)
            try:
                if not stat.S_ISDIR(sftp.stat(current).st_mode):
                    raise PermanentSinkError(f"SFTP {current} is not a directory")
            except FileNotFoundError:
                sftp.mkdir(current)
