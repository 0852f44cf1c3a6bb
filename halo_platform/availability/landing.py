"""The landing zone: `$HALO_HOME/landing/<feed>/`. Files are copied in atomically and
never modified; what was processed is recorded in `emr_processed_files` (path + sha256)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from halo_platform.availability.bulk_sql import Codec
from halo_platform.availability.feeds import Feed
from halo_platform.core.errors import HaloError
from halo_platform.core.settings import get_settings


@dataclass(frozen=True)
class PendingFile:
    feed: str
    path: Path
    sha256: str

    @property
    def relpath(self) -> str:
        return f"{self.feed}/{self.path.name}"


def feed_dir(feed: str) -> Path:
    return get_settings().landing_dir / feed


def sha256_of(path: Path) -> str:
    stat = path.stat()
    return _sha256(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)
def _sha256(path: str, _mtime_ns: int, _size: int) -> str:
    """Landed files never change, but a path could be replaced: keyed by mtime and size too."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def received_at(path: str) -> dt.datetime:
    """When a file landed, naive UTC: its modification time, which the copy into the landing
    zone sets and nothing changes afterwards."""
    return dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.UTC).replace(tzinfo=None)


def record_received(codec: Codec, feed: str, files: list[tuple[str, str, str]]) -> None:
    """Stamp the processed-file rows of `files` (relpath, sha256, landed path) with when they landed."""
    codec.execute_many("UPDATE emr_processed_files SET received_at = ? WHERE feed = ? AND path = ? AND sha256 = ?",
                       [(codec.ts(received_at(path)), feed, rel, sha) for rel, sha, path in files])


def ingest(feed: Feed, source: Path) -> Path:
    """Copy `source` into the feed's landing folder atomically (temp file + rename). A file
    of the same name but other content gets the content hash in its name; never overwritten."""
    if not source.is_file():
        raise HaloError(f"no such file: {source}")
    if not feed.matches(Path(source.name)):
        raise HaloError(f"{source.name}: feed {feed.name} ({feed.format}) takes {', '.join(feed.adapter.patterns)}")
    target_dir = feed_dir(feed.name)
    target_dir.mkdir(parents=True, exist_ok=True)
    sha = sha256_of(source)
    target = target_dir / source.name
    if target.exists():
        if sha256_of(target) == sha:
            return target
        target = target_dir / f"{source.stem}-{sha[:12]}{source.suffix}"
        if target.exists():
            return target
    fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".incoming-")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def landed(feed: Feed) -> list[Path]:
    folder = feed_dir(feed.name)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and feed.matches(p))


def pending(feed: Feed, processed: set[str]) -> list[PendingFile]:
    """Landed files of `feed` whose relative path is not in `processed` (feed/name)."""
    return [PendingFile(feed.name, p, sha256_of(p)) for p in landed(feed) if f"{feed.name}/{p.name}" not in processed]
