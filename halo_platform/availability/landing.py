"""The landing zone: `$HALO_HOME/landing/<feed>/`, or an S3 prefix when the feed sets
`landing: s3://bucket/prefix/` (and `endpoint_url` for an S3-compatible store; credentials
from the standard AWS environment). Files are put there atomically and never modified by
processing; what was processed is recorded in `emr_processed_files` (path + sha256, an object's
ETag on S3), so a file is processed once per content: one replaced with new content is processed again.

An S3 object is read in place: `S3Object` stands where a landed file's `Path` does (name,
`read_bytes`, `stat`, `match`), and `read_head`/`received_at`/`record_received` take either. The
object carries the landing it was listed from: two feeds may land at the same `s3://bucket/prefix/`
of two stores (endpoint_url), and its URL alone read one feed's object from the other's store."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import errno
import functools
import hashlib
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from halo_platform.availability.bulk_sql import Codec
from halo_platform.availability.feeds import Feed
from halo_platform.availability.feeds.base import storable_text
from halo_platform.availability.tables import ProcessedFile
from halo_platform.core.errors import HaloError
from halo_platform.core.files import fsync_folder, replaced_whole
from halo_platform.core.request_deadline import TimedDeadline, transfer_seconds, watching_new_sockets
from halo_platform.core.s3 import stored_etag
from halo_platform.core.settings import get_settings
from halo_platform.core.text import http_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class S3Landing:
    bucket: str
    prefix: str
    endpoint_url: str | None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def s3_landing(feed: Feed) -> S3Landing | None:
    """The feed's S3 landing prefix, None for a feed landing under $HALO_HOME."""
    landing = feed.options.get("landing")
    if landing is None:
        return None
    try:
        parts = urlsplit(str(landing))
    except ValueError:  # `s3://[emr/in/`: a bracket not closed
        parts = None
    if parts is None or parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise HaloError(f"feed {feed.name}: landing must be s3://bucket/prefix/, got {landing!r}")
    prefix = parts.path.lstrip("/")
    endpoint = feed.options.get("endpoint_url")
    # as botocore takes one: `http://`, `http:///emr` or a space in the host were its ValueError at every call,
    # out of the sensor's tick and `halo emr process` for every feed (`http://minio:port` its EndpointResolutionError)
    if endpoint is not None and (http_url(str(endpoint)) is None or any(c.isspace() for c in str(endpoint))):
        raise HaloError(f"feed {feed.name}: endpoint_url must be an http(s) URL")
    return S3Landing(parts.netloc, prefix if not prefix or prefix.endswith("/") else prefix + "/", endpoint and str(endpoint))


# The time of an S3 landing's call (to connect, for each read, and as a whole), and a second more per
# 32 kB of an object read or put: botocore's timeouts hold for each read, and an endpoint answering a
# byte at a time held the sensor's tick, the run or `halo emr ingest` as long as it went on.
S3_TIMEOUT = 30.0


class LandingReadError(HaloError):
    """The landing zone could not be read (S3 throttling or unreachable). No fault of the files:
    what was not read stays pending, and the run or tick fails so that it is retried."""


class LandingTimeSpent(LandingReadError):
    """An S3 call not made, or given up, as the time of the block it was in (`s3_within`) ran out:
    a sensor tick's, which Dagster gives up at 60 s, losing the whole tick."""


_s3_end: contextvars.ContextVar[float | None] = contextvars.ContextVar("s3_end", default=None)


@contextlib.contextmanager
def s3_within(seconds: float) -> Iterator[None]:
    """The S3 calls of this block end within `seconds` from now as a whole: each call has its own
    time (`S3_TIMEOUT`), so a tick listing several slow feeds took that time for each of them."""
    token = _s3_end.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _s3_end.reset(token)


class _S3Deadline(TimedDeadline):
    """A call's deadline, cut short at `until` (`time.monotonic()`) when there is one; `cut` says it was."""

    def __init__(self, seconds: float, until: float | None) -> None:
        self.until, self.cut = until, False
        super().__init__(seconds)

    def renew(self, seconds: float) -> None:
        left = seconds if self.until is None else self.until - time.monotonic()
        self.cut = left < seconds
        super().renew(max(0.0, min(seconds, left)))
        if left <= 0:
            self.expire()  # now, before any attempt is made, not when the timer's thread gets to it


@contextlib.contextmanager
def _call_deadline(seconds: float) -> Iterator[_S3Deadline]:
    """`within(seconds)`, cut short at the end of the enclosing `s3_within` block."""
    deadline = _S3Deadline(seconds, _s3_end.get())
    try:
        yield deadline
    finally:
        deadline.end()


@contextlib.contextmanager
def _s3(landing: S3Landing, what: str, size: int = 0) -> Iterator[tuple[Any, TimedDeadline]]:
    """A client of `landing` for one call (`what`, as errors name it) within `S3_TIMEOUT` and the time
    of `size` bytes; `renew` the deadline for the call's next phase (an object's body, a listing's next
    page). A client of its own: a cached one's pooled socket, made in another call, was not watched.
    At the deadline its sockets are shut and no attempt is made again (botocore retries a dropped
    connection). A failed S3 read is a failure (never "nothing landed"), named without credentials; an
    object not there (deleted since it was listed) is a FileNotFoundError, as a local file gone is."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    with _call_deadline(transfer_seconds(S3_TIMEOUT, size)) as deadline, watching_new_sockets(deadline):

        def late(**_: Any) -> None:  # noqa: ANN401 - botocore's event arguments
            if deadline.passed and deadline.cut:
                raise LandingTimeSpent(f"S3 landing {what}: not done within the time left to the sensor tick's S3 calls")
            if deadline.passed:
                raise LandingReadError(f"S3 landing {what}: no answer within {round(deadline.seconds, 1):g} s")

        client = boto3.client("s3", endpoint_url=landing.endpoint_url,
                              config=Config(connect_timeout=S3_TIMEOUT, read_timeout=S3_TIMEOUT))
        for event in ("needs-retry.s3", "before-send.s3"):  # asked whether to retry, and before each attempt
            client.meta.events.register(event, late)
        try:
            yield client, deadline
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            if code in ("NoSuchKey", "404"):  # a GET's code, a HEAD's (it has no body to name one)
                raise FileNotFoundError(errno.ENOENT, f"S3 landing {what}: {code}") from None
            if code == "PreconditionFailed":  # a GET's If-Match: the object is no longer the one listed
                raise LandingReadError(f"S3 landing {what}: {code} (replaced since it was listed)") from None
            raise LandingReadError(f"S3 landing {what}: {code}") from None
        except BotoCoreError as exc:
            late()  # the connection the deadline shut, whatever botocore made of it
            raise LandingReadError(f"S3 landing {what}: {type(exc).__name__}") from None
        finally:
            client.close()  # its connections now, not when the client is collected
        late()  # an answer read as the deadline shut its connection may be cut off


@dataclass(frozen=True)
class S3Object:
    """A landed object, where a landed file's Path would be."""

    landing: S3Landing
    key: str
    etag: str | None  # None: the listing gave none (some S3-compatible stores and proxies omit it)
    size: int
    last_modified: dt.datetime

    @property
    def content_key(self) -> str:
        """What stands for its content where a local file's sha256 does (emr_processed_files, run
        keys): its ETag; without one, a digest of its size and LastModified, which its upload sets (a
        content of the same size uploaded in the same second is not told apart: the listing says no more)."""
        return self.etag or hashlib.sha256(f"{self.size}@{self.last_modified.isoformat()}".encode()).hexdigest()

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name

    def match(self, pattern: str) -> bool:
        return PurePosixPath(self.key).match(pattern)

    def stat(self) -> SimpleNamespace:
        return SimpleNamespace(st_size=self.size, st_mtime=self.last_modified.timestamp())

    def read_bytes(self) -> bytes:
        """The listed content: its `size` bytes, of its listed `etag` (when it has one).
        botocore checks a body against its Content-Length only: an answer without one (in chunks, or
        ended by closing the connection) cut off was handed over as the whole object, processed and
        recorded as done. Fewer bytes (or more) than listed is a LandingReadError: the object stays pending.
        So is an object replaced since it was listed (S3 answers the GET's If-Match with 412): its new
        content, of the same size, was processed and recorded under the listed ETag."""
        # the body streams after the call answered: its read fails like the call (a timeout, a reset), within a time of its size
        with _s3(self.landing, f"get {self}") as (client, deadline):
            answer = client.get_object(Bucket=self.landing.bucket, Key=self.key, **({"IfMatch": f'"{self.etag}"'} if self.etag else {}))
            deadline.renew(transfer_seconds(S3_TIMEOUT, answer.get("ContentLength", self.size)))  # an answer in chunks has none
            data = answer["Body"].read()
        if len(data) != self.size:
            raise LandingReadError(f"S3 landing get {self}: {len(data)} bytes read, {self.size} listed")
        return data

    def __str__(self) -> str:
        return f"s3://{self.landing.bucket}/{self.key}"


@dataclass(frozen=True)
class Processed:
    """What was processed of one landed path: the sha256 of each of its contents (an object's
    ETags), each `identity` the local file was seen with holding one of them, and the `current`
    one, last processed or last seen landing again (`service.quarantined`'s `superseded`)."""

    sha256s: frozenset[str]
    identities: frozenset[str] = frozenset()
    current: str | None = None


@dataclass(frozen=True)
class PendingFile:
    feed: str
    path: Path | S3Object
    sha256: str  # of the file; an S3 object's ETag
    identity: str | None = None  # a local file's, when it was hashed

    @property
    def relpath(self) -> str:
        return relpath(self.feed, self.path)


RECORDED_PATH_LENGTH = ProcessedFile.path.type.length


def relpath(feed: str, path: Path | S3Object) -> str:
    """A landed file's path `feed/name` as it is recorded and shown: a local name whose bytes are
    not UTF-8 (a Latin-1 client's `caf\xe9.hl7`, held by Python as lone surrogates, which no store
    can take) has them escaped (`caf\\xe9.hl7`), as a quarantined record's text has. A path longer
    than the store's column (escaped, a 255-byte name takes 1,020 characters; an S3 key up to 1,024)
    keeps its beginning and ends with a hash of the whole: PostgreSQL and MariaDB refused it, and
    every run failed on that file while SQLite took it."""
    whole = f"{feed}/{storable_text(path.name)}"
    if len(whole) <= RECORDED_PATH_LENGTH:
        return whole
    digest = hashlib.sha256(whole.encode()).hexdigest()[:16]
    return f"{whole[:RECORDED_PATH_LENGTH - len(digest) - 1]}~{digest}"


def feed_dir(feed: str) -> Path:
    return get_settings().landing_dir / feed


def identity(stat: os.stat_result) -> str:
    """What changes whenever a local file's content does: its device and inode (a file replaced by
    a rename: an atomic copy, rsync) and its status-change time, which every write sets and nothing
    sets back. Its modification time and size do not tell: `rsync -t` of a corrected file of the
    same size, or a rewrite then `touch -d`, keeps both, and the new content was never processed."""
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_ctime_ns}"


def sha256_of(path: Path) -> str:
    return _sha256(str(path), identity(path.stat()))


@functools.lru_cache(maxsize=4096)
def _sha256(path: str, _identity: str) -> str:
    """Landed files never change, but a path could be replaced: keyed by the file's `identity` too."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_head(path: Path | S3Object, size: int) -> bytes:
    """The first `size` bytes (b"" when unreadable: it only illustrates a quarantined file)."""
    try:
        if not isinstance(path, S3Object):
            with open(path, "rb") as fh:
                return fh.read(size)
        with _s3(path.landing, f"get {path}", size) as (client, _):
            return client.get_object(Bucket=path.landing.bucket, Key=path.key, Range=f"bytes=0-{size - 1}")["Body"].read()
    except (OSError, HaloError):
        return b""


def _naive_utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(tzinfo=None)


def arrived(stat: os.stat_result) -> dt.datetime:
    """When a local file came into the landing zone, naive UTC: its status-change time, which its
    coming there set (a write, a link, a rename) and processing never changes. Not its modification
    time: a file copied in with `cp -p` or `rsync -t`, or moved in with `mv`, keeps the one it had
    where it was written, and its feed's lag read that age right after its events were applied."""
    return _naive_utc(stat.st_ctime)


def received_at(path: Path | S3Object) -> dt.datetime:
    """When a file landed, naive UTC: a local file's `arrived`; an S3 object's listed LastModified,
    which its upload sets and nothing else can. Not asked again (a HEAD per object, each able to
    fail the feed's run): of an object replaced since it was read, that gave the new content's."""
    if not isinstance(path, S3Object):
        return arrived(os.stat(path))
    return path.last_modified.astimezone(dt.UTC).replace(tzinfo=None)


def record_received(codec: Codec, feed: str, files: list[tuple[str, str, Path | S3Object]], seen_at: dt.datetime | None = None) -> None:
    """Stamp the processed-file rows of `files` (relpath, sha256, landed path) with when they landed
    and a local file's `identity`. `seen_at` (naive UTC): when a content landing again was seen,
    the earliest it became current (`tables.became_current`): an S3 object's LastModified is in
    whole seconds, and A uploaded again in the second B was processed read as older than B."""
    rows = []
    for rel, sha, path in files:
        when, state = _received_if_unchanged(path, sha)
        if when is not None and seen_at is not None:
            when = max(when, seen_at)
        rows.append((codec.ts(when), state, feed, rel, sha))
    codec.execute_many("UPDATE emr_processed_files SET received_at = ?, file_identity = ? WHERE feed = ? AND path = ? AND sha256 = ?", rows)


def _received_if_unchanged(path: Path | S3Object, sha: str) -> tuple[dt.datetime | None, str | None]:
    """When the processed content landed and the local file's `identity`, read before the content is
    hashed again; NULLs for a local file whose content changed since it was hashed (still being
    written): they are then a later content's, and recorded they would make that content look
    processed (`scan`), so it would never be; NULLs too for a file deleted since it was read (its
    content was processed). An S3 object has no identity (its ETag is its sha256)."""
    try:
        if isinstance(path, S3Object):
            return received_at(path), None
        stat = os.stat(path)
        state = identity(stat)
        if _sha256(str(path), state) != sha:
            return None, None
    except FileNotFoundError:
        return None, None
    return arrived(stat), state


def _ingest_s3(feed: Feed, landing: S3Landing, source: Path) -> str:
    """One PUT (atomic: the object appears whole or not at all), landed only on a 200 with the ETag
    S3 gives what it stored (a head cut off parsed as a whole 200); an object of the same name but
    other content gets the content hash in its name; never overwritten."""
    data = source.read_bytes()
    md5, sha = hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()  # noqa: S324 - compared with the ETag
    for name in (source.name, f"{source.stem}-{sha[:12]}{source.suffix}"):
        key = landing.prefix + name
        etag = _etag_at(landing, key)
        if etag is None and _put_new(landing, key, data):
            return f"s3://{landing.bucket}/{key}"
        if (etag if etag is not None else _etag_at(landing, key)) == md5:  # put refused: the winner's; "" when listed without one
            return f"s3://{landing.bucket}/{key}"
    return f"s3://{landing.bucket}/{key}"


def _etag_at(landing: S3Landing, key: str) -> str | None:
    """The ETag of the object at `key` ("" when the listing gives none: its content is not known),
    None when there is none."""
    with _s3(landing, f"list {landing.url}") as (client, _):
        found = [o for o in client.list_objects_v2(Bucket=landing.bucket, Prefix=key).get("Contents", []) if o["Key"] == key]
    return (_listed_etag(found[0]) or "") if found else None


def _listed_etag(entry: Mapping[str, Any]) -> str | None:
    """An object's ETag as a listing gives it, without its quotes or a proxy's weak mark (W/"..."):
    sent back as If-Match `"W/"..."`, it matched no object. None when the listing gives none: that
    was a KeyError out of every sensor tick and `halo emr process`, for every feed."""
    etag = entry.get("ETag")
    return etag.removeprefix("W/").strip('"') if etag else None


def _put_new(landing: S3Landing, key: str, data: bytes) -> bool:
    """PUT `data` at `key` if no object is there (If-None-Match: *); False when one is. Looked for
    first, then put whatever was there: another `halo emr ingest` of that name landing in between
    was overwritten, its content never processed. A store that does not take the condition (501
    NotImplemented: older S3-compatible stores) failed every ingest: there the name, found free
    by the caller just before, is put plainly, and that window is said in a warning."""
    from botocore.exceptions import ClientError

    with _s3(landing, f"put {key}", len(data)) as (client, _):
        try:
            answer = client.put_object(Bucket=landing.bucket, Key=key, Body=data, IfNoneMatch="*")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "PreconditionFailed":
                return False
            if code != "NotImplemented":
                raise
            log.warning("S3 landing %s does not take If-None-Match on a PUT: %s put without it (an ingest of that name "
                        "at the same moment could overwrite it)", landing.url, key)
            answer = client.put_object(Bucket=landing.bucket, Key=key, Body=data)
    if stored_etag(answer) is None:
        raise LandingReadError(f"S3 landing put {key}: the answer was not a whole 200 with an ETag")
    return True


def check_landable(feed: Feed, source: Path) -> None:
    """HaloError (one line) unless `source` is a file `feed` takes under a name its processing
    sees: a name starting with "." is never processed (the landing zone's files in the making
    have such names)."""
    try:
        is_file = source.is_file()
    except OSError as exc:  # a name too long for the system: the OSError's number and stack, exit 1
        raise HaloError(f"cannot read {source}: {exc.strerror or exc}") from None
    if not is_file:
        raise HaloError(f"not a file: {source}" if source.exists() else f"no such file: {source}")
    if source.name.startswith("."):
        raise HaloError(f"{source.name}: a landed file's name never starts with '.' (processing skips such names); rename it")
    if not feed.matches(Path(source.name)):
        raise HaloError(f"{source.name}: feed {feed.name} ({feed.format}) takes {', '.join(feed.adapter.patterns)}")


def ingest(feed: Feed, source: Path) -> Path | str:
    """Copy `source` into the feed's landing folder atomically (temp file + link), or put it
    under its S3 prefix. A file of the same name but other content gets the content hash in its
    name; never overwritten."""
    check_landable(feed, source)
    if landing := s3_landing(feed):
        return _ingest_s3(feed, landing, source)
    target_dir = feed_dir(feed.name)
    target_dir.mkdir(parents=True, exist_ok=True)
    sha = sha256_of(source)
    target, hashed = target_dir / source.name, target_dir / f"{source.stem}-{sha[:12]}{source.suffix}"
    if target.exists():
        if sha256_of(target) == sha:
            return target
        target = hashed
        if target.exists():
            return target
    copy = target_dir / f".incoming-{secrets.token_hex(8)}"
    with replaced_whole(copy, prefix=".incoming-") as fh, open(source, "rb") as src:
        shutil.copyfileobj(src, fh, 1 << 20)
    try:
        return _link_free_name(copy, target, hashed, sha)
    finally:
        copy.unlink(missing_ok=True)


def _link_free_name(copy: Path, target: Path, hashed: Path, sha: str) -> Path:
    """Give the whole `copy` the name `target` if it is free or holds the same content, else the
    name `hashed` (its content's). A link takes a name only if it is free: the rename it replaces
    put the copy over a file another `halo emr ingest` landed under that name meanwhile."""
    for name in (target, hashed):
        if not _take(copy, name):
            if name == hashed or sha256_of(name) == sha:
                return name
            continue
        fsync_folder(name.parent)
        return name
    return hashed


# what link(2) answers on a file system without hard links (an SMB or FAT share)
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK})


def _take(copy: Path, name: Path) -> bool:
    """Give `copy` the name `name` if it is free: a hard link takes a name only then. On a file
    system without hard links, the name is checked, then taken by a rename (racy there, as before)."""
    try:
        os.link(copy, name)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
    if name.exists():
        return False
    os.replace(copy, name)
    return True


def _landed_s3(feed: Feed, landing: S3Landing) -> list[S3Object]:
    """The objects directly under the prefix that the feed's format takes, by key."""
    found = []
    with _s3(landing, f"list {landing.url}") as (client, deadline):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=landing.bucket, Prefix=landing.prefix, Delimiter="/"):
            deadline.renew(S3_TIMEOUT)  # the next page's
            for obj in page.get("Contents", []):
                item = S3Object(landing, obj["Key"], _listed_etag(obj), obj["Size"], obj["LastModified"])
                if item.name and not item.name.startswith(".") and feed.matches(Path(item.name)):
                    found.append(item)
    return sorted(found, key=lambda o: o.key)


def landed(feed: Feed) -> list[Path | S3Object]:
    if landing := s3_landing(feed):
        return list(_landed_s3(feed, landing))
    folder = feed_dir(feed.name)
    if not folder.is_dir():
        return []
    zone = get_settings().landing_dir.resolve()
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and feed.matches(p) and _landed_file(feed, p, zone))


def _landed_file(feed: Feed, path: Path, zone: Path) -> bool:
    """Whether `path` is a file to read: a regular file, or a link to one in the landing `zone`. A
    drop user (SFTP) can make links: one to `$HALO_HOME/.env` was read, and its text quarantined
    where `halo emr quarantine` and the Control Center list it."""
    if not path.is_file():
        return False
    if path.is_symlink() and not path.resolve().is_relative_to(zone):
        log.warning("emr %s: %s is a link to a file outside the landing zone: not read", feed.name, relpath(feed.name, path))
        return False
    return True


def pending(feed: Feed, processed: Mapping[str, Processed]) -> list[PendingFile]:
    """Landed files of `feed` whose content was not processed (`processed`: by path `feed/name`):
    new paths, and paths whose content changed since (a file replaced in place, an object uploaded
    again: a new sha256 or ETag). A file is processed once per content, and a changed one is
    processed again like any new file (its events are versioned: what is older changes nothing)."""
    return scan(feed, processed)[0]


UNREAD = ""  # the sha256 of a pending local file that could not be read while listing


def scan(feed: Feed, processed: Mapping[str, Processed]) -> tuple[list[PendingFile], list[PendingFile]]:
    """`pending(feed, processed)`, and the local files holding a processed content under an
    `identity` not recorded with it (copied to another disk, changed mode, processed before
    identities were recorded): theirs is to be recorded (`record_identities`); and the files holding
    a processed content that is not their `current` one (content A landed again after B): it is
    not processed again, its landing is to be recorded (`record_received`). A processed file
    seen with a recorded identity is not read again: listing the zone costs a stat per file.
    A file that cannot be read (a drop user's file of mode 0600) is pending with sha256 `UNREAD`:
    processing fails on it and names it, after the other files. Its OSError stopped the listing:
    every sensor tick failed and `halo emr process` processed nothing, of any feed."""
    found, known = [], []
    for path in landed(feed):
        done = processed.get(relpath(feed.name, path))
        if isinstance(path, S3Object):
            sha, state = path.content_key, None
        else:
            try:
                state = identity(path.stat())
                if done is not None and state in done.identities:
                    continue
                sha = sha256_of(path)
            except OSError as exc:  # a drop user's file mode 0600: processing reads it, fails and names it, leaving it pending
                log.warning("emr %s: %s not read while listing: %s", feed.name, relpath(feed.name, path), exc.strerror or exc)
                found.append(PendingFile(feed.name, path, UNREAD))
                continue
        if done is None or sha not in done.sha256s:
            found.append(PendingFile(feed.name, path, sha, state))
        elif state is not None or sha != done.current:
            known.append(PendingFile(feed.name, path, sha, state))
    return found, known


def record_identities(codec: Codec, files: list[PendingFile]) -> None:
    """Record the `identity` each of `files` was seen with holding its processed content."""
    codec.execute_many("UPDATE emr_processed_files SET file_identity = ? WHERE feed = ? AND path = ? AND sha256 = ?",
                       [(f.identity, f.feed, f.relpath, f.sha256) for f in files])

