"""Types of the sinks' connection settings, checked when a sink is built: a value no delivery
could work with is refused there, as that sink's one clear, permanent failure (never retried,
never sent somewhere else)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from halo_platform.core.text import control_character
from halo_platform.sinks.base import PermanentSinkError


def _filled(value: str) -> str:
    if not value.strip():
        raise ValueError("empty")
    return value


# of a setting that must say something (`Annotated[str, FILLED]`): a `${VAR}` set to nothing was a folder sink's Path(""), the
# process's current folder (the reports written wherever it runs), and a webhook's empty signing
# key (a signature anyone can compute, so the receiver's check passed forged posts)
FILLED = AfterValidator(_filled)

# a TCP port: getaddrinfo keeps 16 bits of a larger one, and 98931 reached the server on 33395
Port = Annotated[int, Field(ge=1, le=65535)]


def _url_port(url: str) -> str:
    try:
        port = urlsplit(url).port
    except ValueError:  # over 65535, or not a number
        port = 0
    if port == 0:
        raise ValueError("its port is not a TCP port (1-65535)")
    return url


# a server's URL (an S3 endpoint_url) with the port, if it has one, a `Port`: botocore failed 70000 or
# `:http` at every attempt (EndpointResolutionError), retried as transient, and 0 as unreachable
ServerURL = Annotated[str, AfterValidator(_url_port)]


# seconds a sink waits on its server: 0 made the socket non-blocking, a negative or NaN one raised a
# ValueError at the first connection (`unexpected error: ValueError`, naming neither setting nor server)
Timeout = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def _host_name(host: str) -> str:
    if host.startswith("["):  # a URL's form of an IPv6 address: getaddrinfo failed on it at every attempt, retried as transient
        raise ValueError("an IPv6 address is written without brackets (::1)")
    # socket encodes a host as IDNA: what that refuses failed every delivery as a UnicodeError
    try:
        host.encode("idna")
    except UnicodeError:
        raise ValueError("not a host name: a label is empty or over 63 characters, or has a character IDNA refuses") from None
    return host


# a host name or address a socket can be given (an empty one is none: smtplib would not even connect)
Host = Annotated[str, Field(min_length=1), AfterValidator(_host_name)]


def _no_control(path: str) -> str:
    # a line break ended ftplib's command (a ValueError), a NUL made the FTP and SFTP servers drop the
    # connection (retried as transient) and os calls raise; a tab or line break splits the target's log line
    if control := control_character(path):
        raise ValueError(f"has a control character ({control})")
    return path


# a path setting: a folder (local or on the server), an S3 key prefix, a CA, key or known_hosts file
PathSetting = Annotated[str, AfterValidator(_no_control)]


def _absolute(path: str) -> str:
    # read from the working folder of whichever process used it, a relative path put a CLI run's report
    # under the shell's folder and the daemon's under its own; `~` was a folder named `~`
    path = os.path.expanduser(path)
    if not os.path.isabs(path):
        raise ValueError("must be an absolute path (such as ${HALO_HOME}/outbox or ~/reports): a relative one "
                         "is read from the working folder of each process that uses it")
    return path


# a path on this machine (a folder sink's folder, a CA, key or known_hosts file): absolute, `~` its user's home
LocalPath = Annotated[PathSetting, AfterValidator(_absolute)]

# a setting a protocol sends in a line of its own (an FTP login, an S3 access key in a header): the line
# break a secret file ends with (`${FTP_PASSWORD}` mounted from one) made ftplib refuse the command,
# every delivery failing as 'unexpected error: ValueError', and http.client refuse the S3 request's
# header, every attempt failing as the transient 'HTTPClientError'; neither named the setting
CommandSetting = Annotated[str, AfterValidator(_no_control)]


@contextlib.contextmanager
def setting_file(server: str, setting: str, what: str, unread: tuple[type[Exception], ...]) -> Iterator[None]:
    """Reading the file a path setting names (a CA, a key, known_hosts) for `server`: one that is
    not there, or that raises one of `unread` (it is not `what`), is bad configuration no retry
    fixes (it was retried as transient). Named by its setting, never by the file's content.
    `unread` is caught first: ssl's SSLError is an OSError too."""
    try:
        yield
    except unread as exc:
        raise PermanentSinkError(f"{server}: {setting}: not {what} ({type(exc).__name__})") from None
    except OSError as exc:
        raise PermanentSinkError(f"{server}: {setting}: cannot be read: {exc.strerror or type(exc).__name__}") from None
