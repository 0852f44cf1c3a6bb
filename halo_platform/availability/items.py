"""Scheduling items: versioned, set-based upserts of a batch of parsed events.

One batch (any number of files of one feed) is one pass: events go to Arrow, DuckDB
picks each item's newest event and compares it with the stored version, and the
winners are written back in bulk together with the provider-date ranges they dirty
(old and new facts alike), the quarantine and the processed-file records, in one
transaction. Order and duplication of events never matter: the winner is the
highest (version, tombstone, fingerprint), so a replay or an older upsert is a no-op.
Working-hours templates of a format that spreads them over files (hl7 CSV) are the
exception: rows of the same version add up, a higher version replaces, a lower one is ignored.

Before any of it, an event the store cannot hold (an id longer than its column, an instant
outside the store's range) is quarantined with its reason, whatever the parser let through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy.engine import Connection

from halo_platform.availability.bulk_sql import Codec, indexes_rebuilt
from halo_platform.availability.feeds.base import HOURS, NOT_STORABLE, ROLE, SCHEDULE, Event, Parsed, Rejected
from halo_platform.availability.feeds.columns import Columns, connect, to_arrow
from halo_platform.availability.tables import SchedulingItem, SchedulingItemBlock, SchedulingItemHours
from halo_platform.core.models import utcnow
from halo_platform.core.redact import error_line

# A block can change the spans of local dates from the day before its UTC date (overnight
# shifts, timezones east of UTC) to the day after; dirtying this wider range is cheap and safe.
DIRTY_BEFORE_DAYS, DIRTY_AFTER_DAYS = 2, 1
ALL_FROM, ALL_TO = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
_WHOLE_HORIZON_KINDS = (HOURS, ROLE, SCHEDULE)  # their change moves every date of their providers


# The instants the store and the planning can take, whatever a parser let through: MariaDB's
# DATETIME (years 1000..9999) is the narrowest store, and a year of margin keeps the dirty-range
# and timezone arithmetic (days either side of an instant) inside Python's calendar.
STORABLE_FROM, STORABLE_TO = dt.datetime(1000, 1, 1), dt.datetime(9999, 1, 1)
# String column sizes of tables.py, read once (an attribute lookup per value would cost more than the rest of the check)
_LONGEST = {what: column.type.length for what, column in (
    ("item id", SchedulingItem.item_id), ("kind", SchedulingItem.kind), ("status", SchedulingItem.status),
    ("timezone", SchedulingItem.tz), ("provider id", SchedulingItemBlock.provider_id), ("reference", SchedulingItemBlock.ref),
    ("hours provider id", SchedulingItemHours.provider_id))}
WHOLE_FILE = 0  # quarantine position of a file that could not be processed at all
STREAM_ROWS = 50_000  # rows fetched from DuckDB at a time to be written


def _text_problem(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if len(value) > _LONGEST[what]:
        return f"{what} longer than {_LONGEST[what]} characters"
    bad = NOT_STORABLE.search(value)
    if bad:
        return f"{what} contains NUL" if bad.group() == "\x00" else f"{what} is not valid UTF-8"
    return None


def _instant_problem(value: dt.datetime | None, what: str) -> str | None:
    if value is None or STORABLE_FROM <= value < STORABLE_TO:
        return None
    return f"{what} {value.isoformat()} outside the store's range {STORABLE_FROM.year}..{STORABLE_TO.year - 1}"


def unstorable(event: Event) -> str | None:
    """Why the store (or the date planning) cannot take `event`; None when it can."""
    problem = (_text_problem(event.item_id, "item id") or _text_problem(event.kind, "kind") or _text_problem(event.status, "status")
               or _text_problem(event.tz, "timezone") or _instant_problem(event.version, "version"))
    for b in event.blocks:
        problem = (problem or _text_problem(b.provider_id, "provider id") or _text_problem(b.ref, "reference")
                   or _instant_problem(b.start, "start") or _instant_problem(b.end, "end"))
    for h in event.hours:
        problem = problem or _text_problem(h.provider_id, "hours provider id")
    return problem


def _all_storable(events: pa.Table, blocks: pa.Table, hours: pa.Table) -> bool:
    """The columnar twin of `unstorable` over a whole file, as a fast path: only a file with
    a suspect value goes through the per-event check that names the reason."""
    import pyarrow.compute as pc

    def strings_ok(table: pa.Table, column: str, what: str) -> bool:
        values = table.column(column)
        return not (pc.any(pc.greater(pc.utf8_length(values), _LONGEST[what])).as_py()
                    or pc.any(pc.match_substring(values, "\x00")).as_py())

    def instants_ok(table: pa.Table, column: str) -> bool:
        values = table.column(column)
        return not (pc.any(pc.less(values, pa.scalar(STORABLE_FROM, pa.timestamp("us")))).as_py()
                    or pc.any(pc.greater_equal(values, pa.scalar(STORABLE_TO, pa.timestamp("us")))).as_py())

    return (all(strings_ok(events, c, w) for c, w in (("item_id", "item id"), ("kind", "kind"), ("status", "status"), ("tz", "timezone")))
            and all(strings_ok(blocks, c, w) for c, w in (("provider_id", "provider id"), ("ref", "reference")))
            and strings_ok(hours, "provider_id", "hours provider id")
            and instants_ok(events, "version") and instants_ok(blocks, "start_ts") and instants_ok(blocks, "end_ts"))


def storable(parsed: Parsed) -> Parsed:
    """`parsed` with every event the store cannot hold moved to its rejects, with the reason."""
    out = Parsed(rejected=list(parsed.rejected))
    for event in parsed.events:
        problem = unstorable(event)
        if problem:
            out.rejected.append(Rejected(event.position, problem, event.raw))
        else:
            out.events.append(event)
    return out


@dataclass
class LandedFile:
    """One parsed file as columns: events (seq from 1), their blocks and hours rows, the rejects."""

    path: str
    sha256: str
    events: pa.Table
    blocks: pa.Table
    hours: pa.Table
    rejected: list[Rejected]

    @classmethod
    def from_parsed(cls, path: str, sha256: str, parsed: Parsed, templates: bool = False) -> LandedFile:
        """`templates`: the file's working-hours rows add up with the rows of the same version
        from other files (see `apply_files`) instead of replacing them."""
        try:
            tables = to_arrow(parsed.events, templates)
        except (pa.ArrowException, UnicodeError):  # a lone surrogate: the per-event check names it
            tables = None
        if tables is not None and _all_storable(*tables):
            return cls(path, sha256, *tables, parsed.rejected)
        checked = storable(parsed)
        return cls(path, sha256, *to_arrow(checked.events, templates), checked.rejected)

    @classmethod
    def from_columns(cls, path: str, sha256: str, columns: Columns) -> LandedFile | None:
        """The file read column-wise; None when a value is one the store cannot hold (the file is
        then parsed record by record, which names the reason)."""
        if not _all_storable(columns.events, columns.blocks, columns.hours):
            return None
        return cls(path, sha256, columns.events, columns.blocks, columns.hours, columns.rejected)

    @classmethod
    def unprocessable(cls, path: str, sha256: str, error: BaseException, head: bytes) -> LandedFile:
        """A file whose processing failed: no events, one quarantine record for the whole file
        (the error as its reason, the beginning of the file as its raw text)."""
        message, _ = error_line(str(error))  # masked; a database error's next lines carry the SQL and values
        reason = f"file not processed: {type(error).__name__}: {message}"
        raw = head.decode("utf-8", "backslashreplace") or "(empty file)"
        return cls(path, sha256, *to_arrow([]), [Rejected(WHOLE_FILE, reason, raw)])


@dataclass
class ApplyResult:
    files: int = 0
    events: int = 0
    quarantined: int = 0
    items_changed: int = 0
    dirty_ranges: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, other: ApplyResult) -> None:
        for name in ("files", "events", "quarantined", "items_changed", "dirty_ranges"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for kind, count in other.by_kind.items():
            self.by_kind[kind] = self.by_kind.get(kind, 0) + count


_STORED_SCHEMA = pa.schema([("item_id", pa.string()), ("version", pa.timestamp("us")), ("deleted", pa.bool_()),
                            ("fp", pa.int64()), ("kind", pa.string()), ("tz", pa.string())])
_HOURS_SCHEMA = pa.schema([("item_id", pa.string()), ("provider_id", pa.string()), ("weekday", pa.int16()),
                           ("start_minute", pa.int16()), ("end_minute", pa.int16())])
_OLD_BLOCKS_SCHEMA = pa.schema([("item_id", pa.string()), ("provider_id", pa.string()), ("ref", pa.string()),
                                ("start_ts", pa.timestamp("us")), ("end_ts", pa.timestamp("us"))])


def _instants(codec: Codec, values: Sequence[Any]) -> pa.Array:
    """Stored naive instants as an Arrow column (`Codec.read_ts` of each): SQLite's texts parsed by
    Arrow at once (211k stored block starts: 72 -> 11 ms)."""
    return pa.array(values, pa.string()).cast(pa.timestamp("us")) if codec.sqlite else pa.array(values, pa.timestamp("us"))


def _stored(codec: Codec, feed: str, item_ids: list[str]) -> pa.Table:
    rows = list(codec.select_in(
        "SELECT item_id, version, deleted, fingerprint, kind, tz FROM scheduling_items WHERE feed = ? AND item_id IN ({keys})",
        (feed,), item_ids))
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(6)]
    return pa.table([pa.array(cols[0], pa.string()), _instants(codec, cols[1]),
                     pa.array([bool(v) for v in cols[2]], pa.bool_()), pa.array(cols[3], pa.int64()),
                     pa.array(cols[4], pa.string()), pa.array(cols[5], pa.string())], schema=_STORED_SCHEMA)


def _stored_hours(codec: Codec, feed: str, item_ids: list[str]) -> pa.Table:
    rows = list(codec.select_in(
        "SELECT item_id, provider_id, weekday, start_minute, end_minute FROM scheduling_item_hours WHERE feed = ? AND item_id IN ({keys})",
        (feed,), item_ids))
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(5)]
    return pa.table(cols, schema=_HOURS_SCHEMA)


def _old_facts(codec: Codec, feed: str, item_ids: list[str]) -> pa.Table:
    rows = list(codec.select_in(
        "SELECT item_id, provider_id, ref, start_ts, end_ts FROM scheduling_item_blocks WHERE feed = ? AND item_id IN ({keys})",
        (feed,), item_ids))
    rows.extend(codec.select_in(
        "SELECT DISTINCT item_id, provider_id, NULL, NULL, NULL FROM scheduling_item_hours WHERE feed = ? AND item_id IN ({keys})",
        (feed,), item_ids))
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(5)]
    return pa.table([pa.array(cols[0], pa.string()), pa.array(cols[1], pa.string()), pa.array(cols[2], pa.string()),
                     _instants(codec, cols[3]), _instants(codec, cols[4])], schema=_OLD_BLOCKS_SCHEMA)


def _concat(files: list[LandedFile]) -> tuple[pa.Table, pa.Table, pa.Table]:
    """One table of each kind over all files, `seq` made unique across files."""
    import pyarrow.compute as pc

    if not files:
        return to_arrow([])
    parts: tuple[list, list, list] = ([], [], [])
    offset = 0
    for f in files:
        for i, table in enumerate((f.events, f.blocks, f.hours)):
            seq = pc.add(table.column("seq"), pa.scalar(offset, pa.int64()))
            parts[i].append(table.set_column(table.schema.get_field_index("seq"), "seq", seq))
        offset += f.events.num_rows
    return tuple(pa.concat_tables(p) for p in parts)  # type: ignore[return-value]


def _streamed(db: duckdb.DuckDBPyConnection, sql: str) -> Iterator[list[list]]:
    """The columns of a query's rows, fetched a slice at a time: a million-row load never holds all
    its values as Python objects at once (about 0.5 kB a row). The slices come as Arrow columns,
    made Python values a column at a time: a third of the CPU of DuckDB's row by row fetch."""
    for batch in db.sql(sql).to_arrow_reader(STREAM_ROWS):
        yield [column.to_pylist() for column in batch.columns]


def apply_files(conn: Connection, feed: str, files: list[LandedFile]) -> ApplyResult:
    """Apply every event of `files` (one feed) to the store in one set-based pass."""
    codec = Codec(conn)
    result = ApplyResult(files=len(files))
    events, blocks, hours = _concat(files)
    result.events = events.num_rows
    result.quarantined = sum(len(f.rejected) for f in files)
    db = connect()
    try:
        db.register("events", events)
        db.register("new_blocks", blocks)
        db.register("new_hours", hours)
        # each item's newest event: the highest (version, deleted, fp), the first of equal ones (-seq);
        # picked by its seq (an aggregate, not a window over the events: 0.23 -> 0.19 CPU-s for 300k events)
        db.execute("""
            CREATE TEMP TABLE latest AS SELECT e.* FROM events e SEMI JOIN (
                SELECT arg_max(seq, (version, deleted, fp, -seq)) AS seq FROM events GROUP BY item_id) USING (seq)""")
        # a feed's first batch has nothing stored to compare with: its item ids are not even listed
        stored_any = codec.select("SELECT 1 FROM scheduling_items WHERE feed = ? LIMIT 1", (feed,))
        candidates = [r[0] for r in db.execute("SELECT item_id FROM latest").fetchall()] if stored_any else []
        db.register("stored", _stored(codec, feed, candidates))
        templates = [r[0] for r in db.execute("SELECT item_id FROM latest WHERE adds_up").fetchall()]
        db.register("stored_hours", _stored_hours(codec, feed, templates))
        # A template is every row of its newest version, whichever files they came in: the
        # batch's rows of that version, plus the stored ones when the store holds that version.
        db.execute("""
            CREATE TEMP TABLE template_rows AS
            SELECT DISTINCT l.item_id, h.provider_id, h.weekday, h.start_minute, h.end_minute
            FROM latest l JOIN events e ON e.item_id = l.item_id AND e.version = l.version AND NOT e.deleted
            JOIN new_hours h ON h.seq = e.seq WHERE l.adds_up""")
        # Each newest event beside its stored version, kept where it wins (the comparison is no table
        # of its own: copying its rows cost as much as comparing them). An added template keeps the
        # fingerprint and timezone of its highest-fingerprint part, so the outcome never depends on
        # which file came first.
        db.execute("""
            CREATE TEMP TABLE winners AS
            SELECT * REPLACE (CASE WHEN adds AND old_fp > fp THEN old_fp ELSE fp END AS fp,
                              CASE WHEN adds AND old_fp > fp THEN old_tz ELSE tz END AS tz)
            FROM (SELECT l.*, s.item_id IS NOT NULL AS existed, s.kind AS old_kind, s.version AS old_version, s.deleted AS old_deleted,
                         s.fp AS old_fp, s.tz AS old_tz, coalesce(l.adds_up AND l.version = s.version AND NOT s.deleted, false) AS adds
                  FROM latest l LEFT JOIN stored s USING (item_id)) c
            WHERE NOT existed OR version > old_version
               OR (adds AND (fp > old_fp OR EXISTS (
                   SELECT 1 FROM template_rows t WHERE t.item_id = c.item_id AND NOT EXISTS (
                       SELECT 1 FROM stored_hours o WHERE o.item_id = t.item_id AND o.provider_id = t.provider_id
                       AND o.weekday = t.weekday AND o.start_minute = t.start_minute AND o.end_minute = t.end_minute))))
               OR (NOT adds AND version = old_version AND (deleted::INT > old_deleted::INT
                   OR (deleted = old_deleted AND fp > old_fp)))""")
        db.execute("""
            CREATE TEMP TABLE winner_hours AS
            SELECT w.item_id, h.n, h.provider_id, h.weekday, h.start_minute, h.end_minute
            FROM winners w JOIN new_hours h USING (seq) WHERE NOT w.adds_up AND NOT w.deleted
            UNION ALL
            SELECT item_id, (row_number() OVER (PARTITION BY item_id ORDER BY weekday, start_minute, end_minute, provider_id) - 1)::INT,
                   provider_id, weekday, start_minute, end_minute FROM (
                SELECT t.* FROM template_rows t JOIN winners w USING (item_id)
                UNION
                SELECT o.* FROM stored_hours o JOIN winners w USING (item_id) WHERE w.adds)""")
        replaced = [r[0] for r in db.execute("SELECT item_id FROM winners WHERE existed").fetchall()]
        db.register("old_facts", _old_facts(codec, feed, replaced))
        result.items_changed = db.execute("SELECT count(*) FROM winners").fetchall()[0][0]
        result.by_kind = dict(db.execute("SELECT kind, count(*) FROM winners GROUP BY kind").fetchall())

        # provider-date ranges to recompute: old facts and new facts alike
        db.execute("""
            CREATE TEMP TABLE touched AS
            SELECT w.item_id, w.kind, b.provider_id, b.ref, b.start_ts, b.end_ts FROM winners w JOIN new_blocks b USING (seq)
            UNION ALL
            SELECT w.item_id, w.kind, h.provider_id, NULL, NULL, NULL FROM winners w JOIN winner_hours h USING (item_id)
            UNION ALL
            SELECT o.item_id, w.old_kind, o.provider_id, o.ref, o.start_ts, o.end_ts FROM old_facts o JOIN winners w USING (item_id)""")
        ts = (lambda c: f"strftime({c}, '%Y-%m-%d %H:%M:%S.%f')") if codec.sqlite else (lambda c: c)
        # SQLite stores a boolean as 0/1 (as SQLAlchemy does); the driver binds a bool through a slow adapter lookup
        flag = (lambda c: f"{c}::INT") if codec.sqlite else (lambda c: c)
        now = codec.ts(utcnow().replace(tzinfo=None))
        for table in ("scheduling_item_blocks", "scheduling_item_hours", "scheduling_items"):
            codec.execute_in(f"DELETE FROM {table} WHERE feed = ? AND item_id IN ({{keys}})", (feed,), replaced)  # noqa: S608 - fixed names
        # values come out of DuckDB in the shape the driver takes, rows in primary-key order
        shared = (("feed", feed),)
        codec.insert_columns("scheduling_items", ("item_id", "kind", "version", "deleted", "fingerprint", "status", "tz"),
                             _streamed(db, f"SELECT item_id, kind, {ts('version')}, {flag('deleted')}, fp, status, tz "  # noqa: S608
                                           "FROM winners ORDER BY item_id"), (*shared, ("updated_at", now)))
        new_blocks = "FROM winners w JOIN new_blocks b USING (seq) WHERE NOT w.deleted"
        with indexes_rebuilt(conn, SchedulingItemBlock.__table__, db.execute(f"SELECT count(*) {new_blocks}").fetchall()[0][0]):  # noqa: S608
            codec.insert_columns("scheduling_item_blocks", ("item_id", "n", "provider_id", "ref", "start_ts", "end_ts", "is_local", "end_elapsed"),
                                 _streamed(db, f"""SELECT w.item_id, b.n, b.provider_id, b.ref, {ts('b.start_ts')}, {ts('b.end_ts')},
                                               {flag('b.is_local')}, {flag('b.end_elapsed')} {new_blocks} ORDER BY w.item_id, b.n"""),  # noqa: S608
                                 shared)
        codec.insert_columns("scheduling_item_hours", ("item_id", "n", "provider_id", "weekday", "start_minute", "end_minute"),
                             _streamed(db, "SELECT item_id, n, provider_id, weekday, start_minute, end_minute FROM winner_hours ORDER BY item_id, n"),
                             shared)

        # Slots reach their providers through the Schedule's members, as stored now. A member without
        # a provider is left out here, not in the SQL: with `provider_id IS NOT NULL` there, SQLite
        # (no statistics) scanned the feed's every block through the provider index instead of
        # looking the Schedules up by key (1,667 Schedules among 211k blocks: 81 -> 1.6 ms).
        refs = [r[0] for r in db.execute("SELECT DISTINCT ref FROM touched WHERE ref IS NOT NULL").fetchall()]
        members = [m for m in codec.select_in(
            "SELECT item_id, provider_id FROM scheduling_item_blocks WHERE feed = ? AND start_ts IS NULL AND item_id IN ({keys})",
            (feed,), refs) if m[1] is not None]
        db.register("members", pa.table({"ref": pa.array([m[0] for m in members], pa.string()),
                                         "provider_id": pa.array([m[1] for m in members], pa.string())}))
        whole = ", ".join(f"'{k}'" for k in _WHOLE_HORIZON_KINDS)
        ranges = db.execute(f"""
            WITH r AS (
                SELECT provider_id, DATE '{ALL_FROM}' AS f, DATE '{ALL_TO}' AS t FROM touched
                WHERE provider_id IS NOT NULL AND kind IN ({whole})
                UNION ALL
                SELECT provider_id, CAST(start_ts AS DATE) - {DIRTY_BEFORE_DAYS}, CAST(end_ts AS DATE) + {DIRTY_AFTER_DAYS}
                FROM touched WHERE provider_id IS NOT NULL AND start_ts IS NOT NULL AND kind NOT IN ({whole})
                UNION ALL
                SELECT m.provider_id, CAST(t.start_ts AS DATE) - {DIRTY_BEFORE_DAYS}, CAST(t.end_ts AS DATE) + {DIRTY_AFTER_DAYS}
                FROM touched t JOIN members m USING (ref) WHERE t.start_ts IS NOT NULL
            ), whole AS (
                SELECT DISTINCT provider_id FROM r WHERE f = DATE '{ALL_FROM}' AND t = DATE '{ALL_TO}'
            ), kept AS (
                -- a range inside its provider's whole range changes nothing the merge gives: dropped
                -- before it (a first load dirties every provider whole: the merge sorted its 250k block ranges per feed)
                SELECT * FROM r WHERE (f = DATE '{ALL_FROM}' AND t = DATE '{ALL_TO}') OR f < DATE '{ALL_FROM}' OR t > DATE '{ALL_TO}'
                                   OR provider_id NOT IN (SELECT provider_id FROM whole)
            ), o AS (
                SELECT *, max(t) OVER (PARTITION BY provider_id ORDER BY f, t ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev
                FROM kept
            ), g AS (
                SELECT *, sum(CASE WHEN prev IS NULL OR f > prev + 1 THEN 1 ELSE 0 END)
                          OVER (PARTITION BY provider_id ORDER BY f, t ROWS UNBOUNDED PRECEDING) AS grp FROM o
            )
            SELECT provider_id, min(f), max(t) FROM g GROUP BY provider_id, grp""").fetchall()  # noqa: S608 - constants only
        result.dirty_ranges = codec.insert("emr_dirty_dates", ("feed", "provider_id", "from_date", "to_date"),
                                           ((feed, p, codec.date(f), codec.date(t)) for p, f, t in ranges))
    finally:
        db.close()
    codec.insert("emr_quarantine", ("feed", "file", "position", "reason", "raw", "created_at"),
                 ((feed, f.path, r.position, r.reason, r.raw, now) for f in files for r in f.rejected))  # Rejected keeps them storable
    codec.insert("emr_processed_files", ("feed", "path", "sha256", "events", "quarantined", "processed_at"),
                 ((feed, f.path, f.sha256, f.events.num_rows, len(f.rejected), now) for f in files))
    return result
