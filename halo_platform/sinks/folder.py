"""`folder` sink: copies files into a local folder atomically (temp name, then rename)."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path, PurePosixPath
from typing import Annotated
from urllib.parse import quote, unquote, urlsplit

from pydantic import AfterValidator

from halo_platform.core.files import replaced_whole
from halo_platform.sinks.base import Delivery, PermanentSinkError, Sink, folder_in_the_way, safe_name
from halo_platform.sinks.settings import FILLED, LocalPath


def _served_at(url: str) -> str:
    # the links are in emails and Slack posts: `files.example.com/reports` (no scheme, no host) made links no
    # reader opens, and `javascript:` one that runs a script
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host, where the folder is served (https://files.example.com/reports/)")
    return url


class FolderSink(Sink):
    """Writes into `path`; a delivery with no file writes its text as `<subject>.txt`."""

    kind = "folder"
    path: Annotated[LocalPath, FILLED]
    url: Annotated[str, AfterValidator(_served_at)] | None = None  # where the folder is served (e.g. https://files.example.com/reports/): links

    def links_refused(self) -> str | None:
        return None if self.url else "folder sink has no url: it cannot serve links"

    def link(self, target: str) -> str:
        if not self.url:
            return super().link(target)
        return f"{self.url.rstrip('/')}/{quote(unquote(PurePosixPath(urlsplit(target).path).name))}"

    def deliver(self, delivery: Delivery) -> list[str]:
        folder = Path(self.path)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PermanentSinkError(f"cannot create folder {folder}: {exc.strerror}") from None
        with self.stored(delivery) as files:
            return [self._write(folder, src) for src in files]

    @staticmethod
    def _write(folder: Path, src: Path) -> str:
        target = folder / safe_name(src.name)
        if target.is_dir() and not target.is_symlink():  # no attempt can rename over it (a link is replaced)
            raise folder_in_the_way(target.name)
        try:
            source = open(src, "rb")
        except PermissionError as exc:  # the report's own file: no retry grants reading it
            raise PermanentSinkError(f"no permission to read {src.name}: {exc.strerror}") from None
        with source:
            try:
                with replaced_whole(target) as fh:
                    shutil.copyfileobj(source, fh, 1 << 20)
            except OSError as exc:
                # a folder its user may not write in, or on a file system mounted read-only: no retry
                # changes either (a full disk may be freed: that one is retried)
                if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise PermanentSinkError(f"no permission to write in folder {folder}: {exc.strerror}") from None
                raise
        return target.resolve().as_uri()
