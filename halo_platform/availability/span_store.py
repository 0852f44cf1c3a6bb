"""Recompute stored spans for the dirty provider-dates of a feed (and for dates that
entered the horizon), computed all at once by `span_vector.py`, written back in bulk."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import itertools
import operator
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from halo_platform.availability.bulk_sql import Codec
from halo_platform.availability.span_vector import Calendars, day_spans, unique_inverse
from halo_platform.availability.spans import date_runs
from halo_platform.core.engine import make_engine
from halo_platform.core.models import utcnow

if TYPE_CHECKING:  # the span workers import this module: never Dagster, which core.store brings
    from halo_platform.core.store import StoreResource

_MARGIN = dt.timedelta(days=3)
_FEW_PROVIDERS = 500  # below this, fetch rows per provider; above, scan the feed once
# A whole feed's blocks are read along their key (feed, item_id), the order SQLite stores them in:
# with `feed = ?` alone it took the provider index and looked each row up (the 1M-event bench's
# 250k blocks of a feed: 0.70 CPU-s instead of 1.2-1.46). Every item id is >= ''.
_ALONG_THE_KEY = "AND item_id >= ''"


@dataclass
class SpansResult:
    provider_dates: int = 0
    spans: int = 0
    providers: int = 0


def window_change(codec: Codec, feed: str, as_of: dt.date, days: int) -> tuple[list[tuple[dt.date, dt.date]], bool]:
    """Date ranges that entered the window since the last computation; whether it moved."""
    end = as_of + dt.timedelta(days=days - 1)
    row = codec.select("SELECT as_of, horizon_days FROM emr_windows WHERE feed = ?", (feed,))
    if not row:
        return [(as_of, end)], True
    old_start = codec.read_date(row[0][0])
    old_end = old_start + dt.timedelta(days=int(row[0][1]) - 1)
    if (old_start, old_end) == (as_of, end):
        return [], False
    fresh = [(as_of, min(end, old_start - dt.timedelta(days=1))), (max(as_of, old_end + dt.timedelta(days=1)), end)]
    return [(a, b) for a, b in fresh if a <= b], True


def _rows_for(codec: Codec, sql: str, feed: str, providers: list[str], extra: tuple = (), column: str = "provider_id",
              whole_feed: str = "") -> list[tuple]:
    """`sql`'s rows for `providers` of `feed`; past a few hundred providers, for the whole feed,
    with `whole_feed` as the `{only}` condition."""
    if len(providers) > _FEW_PROVIDERS:
        return codec.select_plain(sql.replace("{only}", whole_feed), (*extra, feed))
    return list(codec.select_in(sql.replace("{only}", f"AND {column} IN ({{keys}})"), (*extra, feed), providers))


def load_hours(codec: Codec, feed: str, providers: list[str]) -> tuple[dict[str, list[tuple[int, int, int]]], dict[str, str]]:
    """Working hours of `providers`: the union of their hours items' rows (weekday, start, end
    minutes), and each provider's timezone, taken from its newest hours item (of two as new, the
    one with the greater item id: never the row the database happens to return first)."""
    hours: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    newest: dict[str, tuple] = {}
    wanted = set(providers)
    if providers:
        for provider, tz, version, item_id, weekday, start, end in _rows_for(codec, """
                SELECT h.provider_id, i.tz, i.version, i.item_id, h.weekday, h.start_minute, h.end_minute
                FROM scheduling_item_hours h JOIN scheduling_items i ON i.feed = h.feed AND i.item_id = h.item_id
                WHERE h.feed = ? {only}""", feed, providers, column="h.provider_id"):
            if provider in wanted:
                hours[provider].append((weekday, start, end))
                if tz and (provider not in newest or (str(version), item_id) > newest[provider][1]):
                    newest[provider] = (tz, (str(version), item_id))
    return hours, {p: tz for p, (tz, _) in newest.items()}


@dataclass
class SpanPlan:
    """Spans computed for the dirty provider-dates of a feed, ready to be written."""

    feed: str
    as_of: dt.date
    horizon_days: int
    moved: bool
    max_dirty_id: int
    dirty: dict[str, set[dt.date]]
    # the columns (provider, span_date, start_at, end_at) as the driver stores them, encoded
    # where the plan is computed (a worker, for big batches) rather than by the one process writing every feed;
    # columns, not a tuple per span: a worker pickled, and the writer unpickled, 250k tuples per feed
    spans: list[list]
    provider_dates: int
    computed_at: Any  # of every span, encoded as `spans`


def plan(conn: Connection, feed: str, as_of: dt.date, horizon_days: int) -> SpanPlan:
    """Read what the dirty provider-dates of `feed` need and compute their spans (no writes)."""
    codec = Codec(conn)
    window_end = as_of + dt.timedelta(days=horizon_days - 1)
    fresh, moved = window_change(codec, feed, as_of, horizon_days)
    dirty_rows = codec.select("SELECT id, provider_id, from_date, to_date FROM emr_dirty_dates WHERE feed = ?", (feed,))
    max_id = max((r[0] for r in dirty_rows), default=0)
    window = [as_of + dt.timedelta(days=i) for i in range(horizon_days)]  # slices of it: no date arithmetic per provider-date
    dirty: dict[str, set[dt.date]] = defaultdict(set)
    for _, provider, f, t in dirty_rows:
        lo, hi = max((codec.read_date(f) - as_of).days, 0), min((codec.read_date(t) - as_of).days + 1, horizon_days)
        if lo < hi:
            dirty[provider].update(window[lo:hi])
    if fresh:
        fresh_days = [d for a, b in fresh for d in window[(a - as_of).days:(b - as_of).days + 1]]
        for (provider,) in codec.select("SELECT DISTINCT provider_id FROM scheduling_item_hours WHERE feed = ?", (feed,)):
            dirty[provider].update(fresh_days)
    providers = sorted(dirty)

    hours, tz_of = load_hours(codec, feed, providers)
    with_hours = [p for p in providers if p in hours]
    lo_ts = codec.ts(dt.datetime.combine(as_of, dt.time()) - _MARGIN)
    hi_ts = codec.ts(dt.datetime.combine(window_end, dt.time()) + _MARGIN)
    epoch = codec.epoch_sql  # instants as integers straight from the database: no per-value datetime work
    block_rows = []
    if with_hours:
        block_rows = _rows_for(codec, f"""
                SELECT provider_id, {epoch('start_ts')}, {epoch('end_ts')}, is_local, end_elapsed FROM scheduling_item_blocks
                WHERE start_ts IS NOT NULL AND end_ts > ? AND start_ts < ? AND feed = ? {{only}}""",  # noqa: S608 - codec SQL
                               feed, with_hours, (lo_ts, hi_ts), whole_feed=_ALONG_THE_KEY)
        block_rows += _rows_for(codec, f"""
                SELECT m.provider_id, {epoch('s.start_ts')}, {epoch('s.end_ts')}, s.is_local, s.end_elapsed FROM scheduling_item_blocks s
                JOIN scheduling_item_blocks m ON m.feed = s.feed AND m.item_id = s.ref AND m.start_ts IS NULL
                WHERE s.ref IS NOT NULL AND s.end_ts > ? AND s.start_ts < ? AND s.feed = ? {{only}}""",  # noqa: S608 - codec SQL
                                feed, with_hours, (lo_ts, hi_ts), column="m.provider_id")

    provider_of, day_of = [], []
    for i, provider in enumerate(with_hours):
        days = sorted(d.toordinal() for d in dirty[provider])
        provider_of.extend([i] * len(days))
        day_of.extend(days)
    provider_of, day_of = np.array(provider_of, np.int64), np.array(day_of, np.int64)
    group, start, end = day_spans(calendars(with_hours, hours, tz_of, block_rows), provider_of, day_of)
    now = codec.ts(utcnow().replace(tzinfo=None))
    dates = np.array([codec.date(d) for d in window], dtype=object)  # every dirty date is in the window
    out = [np.array(with_hours, dtype=object)[provider_of[group]].tolist(), dates[day_of[group] - as_of.toordinal()].tolist(),
           _encoded(start, codec.epoch), _encoded(end, codec.epoch)]
    provider_dates = sum(len(days) for days in dirty.values())
    return SpanPlan(feed, as_of, horizon_days, moved, max_id, dirty, out, provider_dates, now)


def calendars(providers: list[str], hours: dict[str, list[tuple[int, int, int]]], tz_of: dict[str, str],
              block_rows: list[tuple]) -> Calendars:
    """`providers`' calendars as columns, from `load_hours` and block rows (provider, start, end, is_local,
    end_elapsed); rows of other providers drop."""
    index = {p: i for i, p in enumerate(providers)}
    rows = [(index[p], *row) for p in providers for row in hours[p]]
    hours_cols = np.array(rows, np.int64).reshape(-1, 4).T

    def column(k: int, dtype: type) -> np.ndarray:
        return np.fromiter(map(operator.itemgetter(k), block_rows), dtype, len(block_rows))

    # A column at a time, in C loops: `zip(*block_rows)` made an iterator per row, and the 250k of a
    # feed set off the cyclic garbage collector's full passes (fhir: 230 -> 60 ms).
    owner = np.fromiter(map(index.get, map(operator.itemgetter(0), block_rows), itertools.repeat(-1)), np.int64, len(block_rows))
    mine = owner >= 0
    return Calendars([tz_of.get(p) for p in providers], *hours_cols, owner[mine], column(1, np.int64)[mine],
                     column(2, np.int64)[mine], column(3, bool)[mine], column(4, bool)[mine])


def _encoded(values: np.ndarray, encode: Callable[[int], Any]) -> list:
    """`values` as the driver stores them, each distinct value encoded once (spans sit on a grid)."""
    distinct, where = unique_inverse(values)
    encoded = np.empty(len(distinct), dtype=object)
    encoded[:] = [encode(v) for v in distinct.tolist()]
    return encoded[where].tolist()


def plan_in_worker(db_url: str, feed: str, as_of: dt.date, horizon_days: int) -> SpanPlan:
    """`plan` in a worker process (big batches): the worker gets the store's URL (a resource
    does not cross processes) and opens its own engine. This module imports no Dagster, so
    neither does the worker. The worker's cyclic garbage collector stays off (the process is ours
    and short-lived, and a plan makes no cycles worth collecting): the rows read and the arrays
    built set off its full passes."""
    gc.disable()
    with _worker_engine(db_url).connect() as conn, conn.begin():
        return plan(conn, feed, as_of, horizon_days)


@functools.lru_cache(maxsize=1)
def _worker_engine(db_url: str) -> Engine:
    """One engine per worker process, reused by the feeds it computes (the parent migrated the store)."""
    return make_engine(db_url)


def write(conn: Connection, computed: SpanPlan) -> SpansResult:
    """Replace the spans of the plan's provider-dates and consume the dirty rows it covered
    (rows added since stay for the next run)."""
    codec = Codec(conn)
    feed = computed.feed
    window_end = computed.as_of + dt.timedelta(days=computed.horizon_days - 1)
    codec.execute_many("DELETE FROM available_spans WHERE feed = ? AND provider_id = ? AND span_date BETWEEN ? AND ?",
                       ((feed, p, codec.date(a), codec.date(b)) for p, days in computed.dirty.items() for a, b in date_runs(days)))
    if computed.moved:
        codec.execute_many("DELETE FROM available_spans WHERE feed = ? AND (span_date < ? OR span_date > ?)",
                           [(feed, codec.date(computed.as_of), codec.date(window_end))])
        codec.execute_many("DELETE FROM emr_windows WHERE feed = ?", [(feed,)])
        codec.insert("emr_windows", ("feed", "as_of", "horizon_days"), [(feed, codec.date(computed.as_of), computed.horizon_days)])
    # the feed and the time, the same in every row, are bound once per statement (the 545k spans of 300k
    # bench events: 0.83 -> 0.73 CPU-s written)
    spans = codec.insert_columns("available_spans", ("provider_id", "span_date", "start_at", "end_at"), [computed.spans],
                                 shared=(("feed", feed), ("computed_at", computed.computed_at)))
    codec.execute_many("DELETE FROM emr_dirty_dates WHERE feed = ? AND id <= ?", [(feed, computed.max_dirty_id)])
    return SpansResult(provider_dates=computed.provider_dates, spans=spans, providers=len(computed.dirty))


SPANS_LOCK_SECONDS = 3600  # MariaDB's named lock is waited for this long (PostgreSQL's advisory lock, for good)


@contextlib.contextmanager
def spans_transaction(store: StoreResource, feed: str) -> Iterator[Connection]:
    """A write transaction holding the lock of `feed`'s spans (one writer at a time: two runs at
    once each deleted and wrote the same provider-dates). SQLite's BEGIN IMMEDIATE serializes
    writers already; PostgreSQL's advisory lock belongs to the transaction; MariaDB's named lock
    belongs to the session, so it is taken before the transaction begins and released after it
    ends, once the spans are committed (on MariaDB the second of two runs failed with a duplicate
    span or window: 1062)."""
    name = f"halo-emr-spans-{feed}"
    if store.engine.dialect.name not in ("mysql", "mariadb"):
        with store.write() as conn:
            if conn.dialect.name == "postgresql":
                Codec(conn).select("SELECT pg_advisory_xact_lock(hashtext(?))", (name,))
            yield conn
        return
    name = name[:64]  # MariaDB's limit; feeds sharing a longer prefix only wait for each other
    with store.engine.connect() as conn:
        got = conn.exec_driver_sql("SELECT GET_LOCK(%s, %s)", (name, SPANS_LOCK_SECONDS)).scalar()
        conn.commit()
        if got != 1:
            raise sa_exc.OperationalError("GET_LOCK", None, TimeoutError(f"spans of feed {feed} locked by another run "
                                                                           f"for {SPANS_LOCK_SECONDS} s"))
        try:
            with conn.begin():
                yield conn
        finally:
            with contextlib.suppress(sa_exc.DBAPIError):  # a lost session released its lock
                conn.exec_driver_sql("SELECT RELEASE_LOCK(%s)", (name,))
                conn.commit()


def recompute(conn: Connection, feed: str, as_of: dt.date, horizon_days: int) -> SpansResult:
    """Recompute spans of every dirty provider-date of `feed` inside [as_of, as_of + horizon_days),
    read, computed and written in the caller's write transaction, which holds the feed's lock
    (`spans_transaction`)."""
    return write(conn, plan(conn, feed, as_of, horizon_days))
