"""Files that appear whole or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def replaced_whole(target: Path, mode: str = "wb", prefix: str = ".tmp-", **open_args: Any) -> Iterator[IO]:
    """A file open for writing in `target`'s folder, under a temporary name starting with
    `prefix` (a name starting with "." is one no reader of the folder takes for its own): when
    the block ends without an error it replaces `target` at once, by a rename; on an error it is
    removed and `target` stays as it was. Errors are the OSError of the open, write, sync or rename.
    The file gets the mode a plain open gives, the umask's (mkstemp's 0600 let only its owner read
    an export, a folder sink's report or a landed feed file).

    It survives a power cut: the file's data is on disk before the rename, and the rename (the
    folder's entry) after it. Unsynced, ext4 and XFS may put the rename on disk before the data:
    `target` was then an empty file after the restart, the previous one lost as well."""
    tmp = target.parent / f"{prefix}{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, mode, **open_args) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)


def fsync_folder(folder: Path) -> None:
    """Make a name just given in `folder` (a rename, a link) survive a crash."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# The media type of each kind of file the platform hands out (reports, alert records): a mail client
# or a browser opens a file by it, where application/octet-stream is an unknown binary it offers only
# to save, and Python's mimetypes knows no parquet (Starlette served it as UTF-8 text). Text is UTF-8
# (DuckDB's csv); another kind stays octet-stream.
MEDIA_TYPES = {".csv": "text/csv", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               ".parquet": "application/vnd.apache.parquet", ".json": "application/json", ".html": "text/html",
               ".txt": "text/plain"}


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
