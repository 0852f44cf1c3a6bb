"""The processing steps the Dagster assets, the CLI and the benchmark share:
parse pending files, apply them, recompute spans, refresh next available slots."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from halo_platform.availability.bulk_sql import Codec, bulk_cache
from halo_platform.availability.feeds import Feed, name_matches
from halo_platform.availability.feeds.base import HOURS, ROLE, SCHEDULE, Parsed
from halo_platform.availability.items import ApplyResult, LandedFile, apply_files, storable
from halo_platform.availability.landing import (
    LandingReadError,
    PendingFile,
    Processed,
    S3Object,
    read_head,
    record_identities,
    record_received,
    scan,
)
from halo_platform.availability.slots import joined
from halo_platform.availability.span_store import (
    SpansResult,
    plan_in_worker,
    recompute,
    spans_transaction,
    window_change,
    write,
)
from halo_platform.availability.tables import ProcessedFile, became_current
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource

log = logging.getLogger(__name__)
DEFAULT_HORIZON_DAYS = 60


# UTC-12 and UTC+14, the offsets whose dates are the earliest and the latest on Earth
_EARLIEST_OFFSET, _LATEST_OFFSET = dt.timedelta(hours=-12), dt.timedelta(hours=14)


def today() -> dt.date:
    """The spans' default `as_of`: today where it is earliest (UTC-12). A window from the UTC date
    cut the rest of the day of every provider west of UTC after their evening."""
    return (utcnow() + _EARLIEST_OFFSET).date()


def local_today(zone: dt.tzinfo) -> dt.date:
    """Today's date in `zone` (a provider's: the week its calendar opens on)."""
    return utcnow().astimezone(zone).date()


def first_instant(day: dt.date) -> dt.datetime:
    """The first instant of local date `day` anywhere: its midnight where it is latest (UTC+14).
    From its midnight in UTC, the first 14 hours of `day` east of UTC were left out."""
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone(_LATEST_OFFSET))


def processed_files(store: StoreResource, feed: str) -> dict[str, Processed]:
    """What was processed of each landed path of `feed` (`feed/name`): its contents' sha256s, the
    identities the local file was seen with holding them, and its current content (`became_current` last)."""
    sha256s: dict[str, set[str]] = {}
    identities: dict[str, set[str]] = {}
    current: dict[str, str] = {}
    files = ProcessedFile.__table__
    with store.read() as conn:
        for path, sha, identity in conn.execute(sa.select(files.c.path, files.c.sha256, files.c.file_identity)
                                                .where(files.c.feed == feed).order_by(became_current(files).desc())):
            key = f"{feed}/{path.rsplit('/', 1)[-1]}"
            sha256s.setdefault(key, set()).add(sha)
            identities.setdefault(key, set()).update([identity] if identity else [])
            current.setdefault(key, sha)
    return {key: Processed(frozenset(shas), frozenset(identities[key]), current[key]) for key, shas in sha256s.items()}


def pending_files(store: StoreResource, feed: Feed, only: list[str] | None = None) -> list[PendingFile]:
    processed = processed_files(store, feed.name)
    files, known = scan(feed, processed)
    if known:
        back = [f for f in known if f.sha256 != processed[f.relpath].current]  # a content landed again: now the current one
        with store.write() as conn:
            record_identities(Codec(conn), [f for f in known if f not in back])
            record_received(Codec(conn), feed.name, [(f.relpath, f.sha256, f.path) for f in back], utcnow().replace(tzinfo=None))
    return [f for f in files if only is None or f.relpath in only]


PARSING_NICENESS = 10  # of the threads or processes parsing files while the main thread applies parsed ones
PARALLEL_PARSE_BYTES = 16 << 20  # of files parsed record by record: below this, worker start-up costs more than it saves


def parse_file(feed: Feed, file: PendingFile) -> Parsed:
    return feed.adapter.parse(file.path.read_bytes(), file.path.name)


QUARANTINED_HEAD_BYTES = 4096  # of a file quarantined whole: enough to recognise it, the file itself stays landed


def file_head(path: Path | S3Object) -> bytes:
    return read_head(path, QUARANTINED_HEAD_BYTES)


# Reading a file column-wise costs about 50 ms whatever its size (DuckDB set-up), and saves
# about 10 us per record: below this size, record by record is quicker.
COLUMNAR_MIN_BYTES = 1 << 20


def load_file(fmt: str, path: Path | S3Object, relpath: str, sha256: str, threads: int | None = None) -> LandedFile:
    """Parse one landed file into columns (runs in a worker process for big batches): column-wise
    where the format can, with at most `threads` DuckDB threads, else record by record. A file
    that cannot be parsed at all becomes one quarantine record instead of stopping the batch.
    A file that cannot be read raises: that is no fault of the file (S3 throttling, a share gone
    away, an S3 object read short of its listed size or replaced since it was listed), which stays
    pending for the retried run; quarantined, it was recorded as processed. An S3 object is read
    at the landing it was listed from (another feed may land at its URL in another store)."""
    from halo_platform.availability.feeds import adapter

    feed_format = adapter(fmt)
    data, name = path.read_bytes(), path.name  # a local file, or an S3 object read in place
    sha256 = sha256 or hashlib.sha256(data).hexdigest()  # a file not readable while listed (UNREAD): what was read
    try:
        templates = name_matches(name, feed_format.template_patterns)
        columns = feed_format.columns(data, name, threads) if feed_format.columns and len(data) >= COLUMNAR_MIN_BYTES else None
        landed = ((LandedFile.from_columns(relpath, sha256, columns) if columns else None)
                  or LandedFile.from_parsed(relpath, sha256, feed_format.parse(data, name), templates))
    except Exception as exc:  # noqa: BLE001 - whatever a parser does with a file, the other files still go through
        log.warning("emr: %s not parsed, quarantined whole: %s", relpath, type(exc).__name__)
        landed = LandedFile.unprocessable(relpath, sha256, exc, file_head(path))
    return landed


# Errors of the store itself (connection lost, lock timeout, serialization failure), and of the
# landing zone while a file is read or stat'ed (S3 throttling, a local I/O error): retrying later can
# succeed, so they fail the run; quarantining the file would record it as processed and drop good data.
TRANSIENT_STORE_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
TRANSIENT_ERRORS = (*TRANSIENT_STORE_ERRORS, LandingReadError, OSError)


def apply_batch(store: StoreResource, feed: str, parsed: list[LandedFile], paths: dict[str, Path | S3Object]) -> ApplyResult:
    """Apply the parsed files of one feed in one transaction. When that fails on their data,
    each file is applied in its own, and a file that fails alone is quarantined whole and
    recorded as processed: one bad file never holds back the others."""

    def apply(files: list[LandedFile]) -> ApplyResult:
        with store.write() as conn, bulk_cache(conn):
            done = set(Codec(conn).select("SELECT path, sha256 FROM emr_processed_files WHERE feed = ?", (feed,)))
            todo = [f for f in files if (f.path, f.sha256) not in done]
            result = apply_files(conn, feed, todo)
            record_received(Codec(conn), feed, [(f.path, f.sha256, paths[f.path]) for f in todo])
            return result

    def apply_or_quarantine(file: LandedFile) -> ApplyResult:
        try:
            return apply([file])
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - the file is quarantined with the error as its reason
            log.warning("emr: %s not applied, quarantined whole: %s", file.path, type(exc).__name__)
            return apply([LandedFile.unprocessable(file.path, file.sha256, exc, file_head(paths[file.path]))])

    if len(parsed) == 1:
        return apply_or_quarantine(parsed[0])
    try:
        return apply(parsed)
    except TRANSIENT_ERRORS:
        raise
    except Exception:  # noqa: BLE001 - which file is at fault is found below
        log.warning("emr %s: applying %d files together failed; applying them one by one", feed, len(parsed))
    result = ApplyResult()
    for file in parsed:
        result.add(apply_or_quarantine(file))
    return result


def yield_to_applying() -> None:
    """Lower the priority of the calling thread (on Linux a thread has its own; elsewhere the whole
    process's is lowered, so only worker processes call this there): the parsing of the next feeds
    takes what the applying of a parsed feed leaves of the cores. Applying is the critical path: at
    one priority, two parsing threads and the applying thread shared 2 cores, and the 1M-event
    bench's ingestion took 17.1-18.6 s; 14.3-14.5 s with parsing at niceness 10."""
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id() if sys.platform == "linux" else 0, PARSING_NICENESS)


def _size(file: PendingFile) -> int:
    """A pending file's size; 0 when it cannot be stat'ed (its read then fails and names it)."""
    try:
        return file.path.stat().st_size
    except OSError:
        return 0


def ingest_feeds(store: StoreResource, batches: list[tuple[Feed, list[PendingFile]]]) -> dict[str, ApplyResult]:
    """Parse and apply the pending files of several feeds, one transaction per feed (the newest
    event of an item wins across all of a feed's files, so each item is written once). Files are
    parsed in the background while the main thread applies the feeds already parsed: by threads
    (reading column-wise runs in DuckDB, outside the GIL: 1M events parsed in 8.7 s with two
    threads, 12.3 s with one, load 4), or by worker processes when many small files are parsed
    record by record (CPU-bound Python). Files parsed side by side share the cores: each file's
    DuckDB gets its share of them, not one thread per core (1M events: 12.7 -> 11.6 CPU-s of
    parsing, two threads, load 5-6)."""
    from concurrent.futures import Executor, ThreadPoolExecutor

    args = {feed.name: [(feed.format, f.path, f.relpath, f.sha256) for f in files] for feed, files in batches}
    size = sum(size for _, files in batches for f in files if (size := _size(f)) < COLUMNAR_MIN_BYTES)
    workers = max(1, min(sum(len(a) for a in args.values()), os.cpu_count() or 1))
    pool: Executor
    if workers >= 2 and size >= PARALLEL_PARSE_BYTES:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"), initializer=yield_to_applying)
    else:
        pool = ThreadPoolExecutor(workers, initializer=yield_to_applying if sys.platform == "linux" else None)
    results = {}
    unread: list[tuple[str, BaseException]] = []
    try:
        threads = max(1, (os.cpu_count() or 1) // workers)
        futures = {name: [pool.submit(load_file, *a, threads) for a in todo] for name, todo in args.items()}
        for feed, _ in batches:
            parsed = []
            for (_, _, relpath, *_), future in zip(args[feed.name], futures[feed.name], strict=True):
                try:
                    parsed.append(future.result())  # load_file raises only when the file could not be read
                except FileNotFoundError:  # deleted since it was listed: nothing is left to read, nor to retry
                    log.warning("emr: %s gone since it was listed, skipped", relpath)
                except Exception as exc:  # noqa: BLE001 - the file stays pending; the run fails below
                    log.warning("emr: %s not read, left pending: %s", relpath, exc)
                    unread.append((relpath, exc))
            try:
                results[feed.name] = apply_batch(store, feed.name, parsed, {a[2]: a[1] for a in args[feed.name]})
            except (LandingReadError, OSError) as exc:  # stamping when they landed: the feed's files stay pending
                log.warning("emr %s: files not applied, left pending: %s", feed.name, exc)
                unread.extend((f.path, exc) for f in parsed)
    finally:
        pool.shutdown(cancel_futures=True)
    if unread:
        # the run fails, so that it is retried; every other file went through
        raise UnreadFiles(unread, results) from unread[0][1]
    return results


class UnreadFiles(LandingReadError):
    """Landed files `ingest_feeds` could not read, left pending, with what it applied of the
    others (`results`): their spans are still to be recomputed."""

    def __init__(self, unread: list[tuple[str, BaseException]], results: dict[str, ApplyResult]) -> None:
        super().__init__(f"{len(unread)} landed file(s) not read, left pending: "
                         + "; ".join(f"{relpath}: {exc}" for relpath, exc in unread))
        self.results = results


PARALLEL_SPANS_DIRTY_ROWS = 2000  # below this many dirty ranges, one transaction per feed is quicker than workers


def recompute_spans(store: StoreResource, feeds: list[str], as_of: dt.date, horizon_days: int) -> dict[str, SpansResult]:
    """Recompute the dirty provider-dates of `feeds`. A big batch computes the feeds in parallel
    worker processes (reads only), then writes each feed's spans in its own transaction; a small
    one reads, computes and writes each feed in one transaction."""
    with store.read() as conn:
        codec = Codec(conn)
        pending = sum(codec.select("SELECT COUNT(*) FROM emr_dirty_dates WHERE feed = ?", (f,))[0][0] for f in feeds)
    results = {}
    if len(feeds) < 2 or pending < PARALLEL_SPANS_DIRTY_ROWS or (os.cpu_count() or 1) < 2:
        for feed in feeds:
            with spans_transaction(store, feed) as conn:
                results[feed] = recompute(conn, feed, as_of, horizon_days)
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("forkserver")
    # The fork server loads the workers' module (NumPy, SQLAlchemy: 0.45 CPU-s) once and each worker starts as
    # a fork of it, where each loaded it again. Its default preload, "__main__", loads nothing in Python 3.11
    # (the preparation data names the script under another key), and each worker runs the main script's
    # imports again as `__mp_main__` (0.18-0.21 CPU-s under `halo`, 0.67 under `dagster`).
    context.set_forkserver_preload([plan_in_worker.__module__])
    with ProcessPoolExecutor(min(len(feeds), os.cpu_count() or 1), mp_context=context) as pool:
        futures = {feed: pool.submit(plan_in_worker, store.url, feed, as_of, horizon_days) for feed in feeds}
        for feed, future in futures.items():
            computed = future.result()
            with spans_transaction(store, feed) as conn:
                results[feed] = write(conn, computed)
    return results


def earliest_slots(spans: list[tuple[dt.datetime, dt.datetime]], after: dt.datetime, minutes: int) -> tuple[dt.datetime, dt.datetime] | None:
    """The first `minutes`-long free slot starting at or after `after` in `spans`, touching ones
    joined as /v1/slots joins them (a provider free 18:00-06:00 has two spans meeting at midnight)."""
    need = dt.timedelta(minutes=minutes)
    for start, end in joined(spans):
        begin = max(start, after)
        if end - begin >= need:
            return begin, begin + need
    return None


@dataclass(frozen=True)
class Impact:
    """What a parsed file can change, for planning: the whole window (working hours, a role, a
    Schedule), else the dates around what its events block and the stored facts of their items."""

    whole: bool
    ranges: frozenset[tuple[dt.date, dt.date]] = frozenset()  # first and last date, both included
    item_ids: tuple[str, ...] = ()


def _around(start: dt.datetime, end: dt.datetime) -> tuple[dt.date, dt.date]:
    """The local dates an interval can touch, whatever the provider's timezone."""
    return start.date() - dt.timedelta(days=2), end.date() + dt.timedelta(days=1)


def impact(parsed: Parsed) -> Impact:
    events = storable(parsed).events  # what the store will not take dirties nothing (and may not be steppable)
    if any(e.kind in (HOURS, ROLE, SCHEDULE) for e in events):
        return Impact(whole=True)
    return Impact(False, frozenset(_around(b.start, b.end) for e in events for b in e.blocks if b.start),
                  tuple(e.item_id for e in events))


def impacted_dates(store: StoreResource, feed: str, found: Impact, as_of: dt.date, horizon_days: int) -> list[dt.date]:
    """Local dates of `feed` a parsed file of impact `found` can change (its new facts and the
    stored facts of the same items), within the window."""
    window = [as_of + dt.timedelta(days=i) for i in range(horizon_days)]
    if found.whole:
        return window
    ranges = set(found.ranges)
    with store.read() as conn:
        codec = Codec(conn)
        ranges.update(_around(codec.read_ts(s), codec.read_ts(e)) for s, e in codec.select_in(
            "SELECT start_ts, end_ts FROM scheduling_item_blocks WHERE feed = ? AND start_ts IS NOT NULL AND item_id IN ({keys})",
            (feed,), list(found.item_ids)))
    dates = set()
    for first, last in ranges:
        d = max(first, as_of)
        while d <= min(last, window[-1]):
            dates.add(d)
            d += dt.timedelta(days=1)
    return sorted(dates)


# A bigger file is taken to impact the whole window unparsed: its thousands of events touch nearly
# every date of it anyway, and parsing it twice (here and when processing) cost seconds per run.
PARSE_FOR_DATES_LIMIT_BYTES = 1 << 20


@functools.lru_cache(maxsize=4096)
def file_impact(feed: Feed, file: PendingFile) -> Impact:
    """The impact of a pending file, parsed once per content (`file` holds its sha256): the sensor
    plans the same pending files at every tick until their run has processed them, and parsed
    them all again at each tick, every 10 s, for nothing new."""
    return impact(parse_file(feed, file))


def file_dates(store: StoreResource, feed: Feed, file: PendingFile, as_of: dt.date, horizon_days: int) -> list[dt.date]:
    if _size(file) > PARSE_FOR_DATES_LIMIT_BYTES:
        return [as_of + dt.timedelta(days=i) for i in range(horizon_days)]
    try:
        found = file_impact(feed, file)
    except Exception as exc:  # noqa: BLE001 - planning must not stop on a file that processing will quarantine whole
        log.warning("emr: %s not parsed while planning: %s", file.relpath, type(exc).__name__)
        return []
    return impacted_dates(store, feed.name, found, as_of, horizon_days)


def planned_dates(store: StoreResource, feed: Feed, as_of: dt.date, horizon_days: int) -> set[dt.date]:
    """Dates of the window a processing run of `feed` will recompute: those its pending files
    impact, those already dirty, and those newly inside a moved window."""
    dates: set[dt.date] = set()
    for file in pending_files(store, feed):
        if len(dates) == horizon_days:
            break  # the whole window already: the other files cannot add a date, parsing them would cost seconds
        dates.update(file_dates(store, feed, file, as_of, horizon_days))
    return dates | stored_work_dates(store, feed.name, as_of, horizon_days)


def stored_work_dates(store: StoreResource, feed: str, as_of: dt.date, horizon_days: int) -> set[dt.date]:
    """Dates of the window a processing run of `feed` recomputes whatever lands: those already
    dirty, and those newly inside a moved window (a new day moves it with no file landing)."""
    last = as_of + dt.timedelta(days=horizon_days - 1)
    dates: set[dt.date] = set()
    with store.read() as conn:
        codec = Codec(conn)
        ranges = [(codec.read_date(a), codec.read_date(b)) for a, b in codec.select(
            "SELECT from_date, to_date FROM emr_dirty_dates WHERE feed = ?", (feed,))]
        if codec.select("SELECT 1 FROM scheduling_item_hours WHERE feed = ? LIMIT 1", (feed,)):
            fresh, moved = window_change(codec, feed, as_of, horizon_days)
            ranges += fresh
            if moved and not fresh:  # the window only shrank: the run removes the spans left outside it
                dates.add(as_of)
    for a, b in ranges:
        d = max(a, as_of)
        while d <= min(b, last):
            dates.add(d)
            d += dt.timedelta(days=1)
    return dates


@dataclass
class ProcessSummary:
    files: int = 0
    events: int = 0
    quarantined: int = 0
    items_changed: int = 0
    provider_dates: int = 0

    def add(self, other: ProcessSummary) -> None:
        for name in ("files", "events", "quarantined", "items_changed", "provider_dates"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
