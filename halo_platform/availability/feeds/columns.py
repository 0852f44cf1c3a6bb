"""Events as Arrow columns, and the columnar reading of a whole landed file.

A format's `columns(data, file)` reads the records it can prove well formed in one DuckDB pass
(JSON parsed and checked with vectorized expressions) and hands every other record to its
per-record parser, which makes the event or names the quarantine reason exactly as it does
alone: a record is either taken by the vectorized checks, whose conditions imply the
per-record parser would make the very same event, or parsed one by one. So both paths give
the same columns (a test pins it over the golden, generated and hostile files).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from halo_platform.availability.feeds.base import BOM, EARLIEST, HOURS, LATEST, WHITESPACE, Event, Parsed, Rejected

EVENTS = pa.schema([("seq", pa.int64()), ("item_id", pa.string()), ("version", pa.timestamp("us")), ("deleted", pa.bool_()),
                    ("fp", pa.int64()), ("kind", pa.string()), ("status", pa.string()), ("tz", pa.string()), ("adds_up", pa.bool_())])
BLOCKS = pa.schema([("seq", pa.int64()), ("n", pa.int32()), ("provider_id", pa.string()), ("ref", pa.string()),
                    ("start_ts", pa.timestamp("us")), ("end_ts", pa.timestamp("us")), ("is_local", pa.bool_()),
                    ("end_elapsed", pa.bool_())])
HOURS_ROWS = pa.schema([("seq", pa.int64()), ("n", pa.int32()), ("provider_id", pa.string()), ("weekday", pa.int16()),
                        ("start_minute", pa.int16()), ("end_minute", pa.int16())])


@dataclass
class Columns:
    """A parsed file: its events (seq from 1, in file order), their blocks and hours rows, its rejects."""

    events: pa.Table
    blocks: pa.Table
    hours: pa.Table
    rejected: list[Rejected]

    @classmethod
    def of(cls, parsed: Parsed, templates: bool = False) -> Columns:
        return cls(*to_arrow(parsed.events, templates), list(parsed.rejected))


def to_arrow(parsed_events: list[Event], templates: bool = False) -> tuple[pa.Table, pa.Table, pa.Table]:
    """`templates`: the working-hours rows add up with rows of the same version from other files.
    Each column is one list comprehension: appending value by value to each column's list cost
    nearly 3 times as much (the bench's 16.8k template rows: 81 -> 29 ms)."""
    events = parsed_events
    ev = {"seq": range(1, len(events) + 1), "item_id": [e.item_id for e in events], "version": [e.version for e in events],
          "deleted": [e.deleted for e in events], "fp": [e.fingerprint for e in events], "kind": [e.kind for e in events],
          "status": [e.status for e in events], "tz": [e.tz for e in events],
          "adds_up": [templates and e.kind == HOURS for e in events]}
    blocks = [(seq, n, b) for seq, e in enumerate(events, start=1) if e.blocks for n, b in enumerate(e.blocks)]
    bl = {"seq": [seq for seq, _, _ in blocks], "n": [n for _, n, _ in blocks], "provider_id": [b.provider_id for _, _, b in blocks],
          "ref": [b.ref for _, _, b in blocks], "start_ts": [b.start for _, _, b in blocks], "end_ts": [b.end for _, _, b in blocks],
          "is_local": [b.local for _, _, b in blocks], "end_elapsed": [b.elapsed for _, _, b in blocks]}
    hours = [(seq, n, h) for seq, e in enumerate(events, start=1) if e.hours for n, h in enumerate(e.hours)]
    hr = {"seq": [seq for seq, _, _ in hours], "n": [n for _, n, _ in hours], "provider_id": [h.provider_id for _, _, h in hours],
          "weekday": [h.weekday for _, _, h in hours], "start_minute": [h.start_minute for _, _, h in hours],
          "end_minute": [h.end_minute for _, _, h in hours]}
    return (pa.Table.from_pydict(ev, EVENTS), pa.Table.from_pydict(bl, BLOCKS), pa.Table.from_pydict(hr, HOURS_ROWS))


# orjson (the per-record path) refuses arrays and objects nested deeper than this; DuckDB reads them.
_MAX_DEPTH = 1024

# An ISO-8601 timestamp in the one shape the vectorized path takes (`YYYY-MM-DDTHH:MM:SS[.f{1,6}]`,
# then `Z`, `+HH:MM`, `-HH:MM` or nothing) -> naive UTC; NULL for anything else (the per-record
# parser then decides). Python's `datetime.fromisoformat` reads that shape the same way. Once the
# shape matches, the fraction is the digits from character 21 up to the `Z` or offset, and an
# offset is there exactly when the sixth character from the end is a sign (the date's dashes are
# characters 5 and 8, and 19 characters come before any offset). `has_offset` (`Z` or an offset)
# holds only for a value in that shape.
_ISO = r"\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?"
MACROS = f"""
CREATE OR REPLACE MACRO iso_offset(s) AS substr(s, -6, 1) IN ('+', '-');
CREATE OR REPLACE MACRO has_offset(s) AS ends_with(s, 'Z') OR iso_offset(s);
CREATE OR REPLACE MACRO iso_utc(s) AS CASE WHEN regexp_full_match(s, '{_ISO}') THEN
    try_strptime(substr(s, 1, 19), '%Y-%m-%dT%H:%M:%S')
    + to_microseconds(CASE WHEN substr(s, 20, 1) = '.'
                           THEN CAST(rpad(substr(s, 21, length(s) - 20 - CASE WHEN iso_offset(s) THEN 6 WHEN ends_with(s, 'Z') THEN 1 ELSE 0 END),
                                          6, '0') AS BIGINT)
                           ELSE 0 END)
    - CASE WHEN iso_offset(s)
           THEN to_minutes((CASE WHEN substr(s, -6, 1) = '+' THEN 1 ELSE -1 END)
                           * (CAST(substr(s, -5, 2) AS BIGINT) * 60 + CAST(substr(s, -2, 2) AS BIGINT)))
           ELSE INTERVAL 0 MINUTE END
END;
CREATE OR REPLACE MACRO iso_date(s) AS CASE WHEN regexp_full_match(s, '\\d{{4}}-\\d{{2}}-\\d{{2}}') THEN TRY_CAST(s AS DATE) END;
CREATE OR REPLACE MACRO ascii_lower(s) AS CASE WHEN regexp_full_match(s, '[A-Za-z-]*') THEN lower(s) END;
CREATE OR REPLACE MACRO sane(t) AS t BETWEEN TIMESTAMP '{EARLIEST}' AND TIMESTAMP '{LATEST}';
-- each key found first at its own index: a quarter of list_distinct's time on the bench's records
CREATE OR REPLACE MACRO unique_keys(k) AS coalesce(list_bool_and(list_transform(k, lambda x, i: list_position(k, x) = i)), true);
CREATE OR REPLACE MACRO text_of(v) AS CASE WHEN starts_with(v, '"') AND NOT contains(v, '\\') THEN v[2:-2] END;
-- the string X of JSON text that is exactly `prefix` "X" `suffix` (X with no quote or escape), as `text_of` would read it
CREATE OR REPLACE MACRO text_between(v, prefix, suffix) AS CASE
    WHEN starts_with(v, prefix) AND ends_with(v, suffix) AND length(v) >= length(prefix) + length(suffix) AND NOT contains(v, '\\')
         AND NOT contains(v[length(prefix) + 1:-length(suffix) - 1], '"') THEN v[length(prefix) + 1:-length(suffix) - 1] END;
-- an id as `required_id` reads it (before it is checked not blank); trim() only when an end is
-- whitespace: its scan for the 30 characters cost 2 us an id, the test a tenth of that
CREATE OR REPLACE MACRO trimmed(v) AS CASE WHEN contains('{WHITESPACE}', left(v, 1)) OR contains('{WHITESPACE}', right(v, 1))
    THEN trim(v, '{WHITESPACE}') ELSE v END;
-- how deep a line's arrays and objects may nest, at most: how many [ and {{ it holds, strings included
-- (0 for a line too short to nest deeper than _MAX_DEPTH: it takes two characters a level)
CREATE OR REPLACE MACRO opened(v) AS CASE WHEN strlen(v) <= {2 * _MAX_DEPTH} THEN 0
    ELSE strlen(v) - strlen(replace(replace(v, '[', ''), '{{', '')) END;
CREATE OR REPLACE MACRO int_of(v) AS CASE WHEN regexp_full_match(v, '-?[0-9]+') THEN TRY_CAST(v AS BIGINT) END;
"""


# Lines DuckDB's JSON functions take but a strict parser (orjson, the per-record path) refuses:
# NaN/Infinity literals, numbers that overflow a double (an exponent, or 309 digits and more),
# trailing commas. Escapes are left to the per-record path too (a lone surrogate). A line matching
# this is parsed one by one.
_NOT_PLAIN = r"\\|[:,\[]\s*-?(?i:nan|inf)|[0-9][eE]|[0-9]{309}|,\s*[\]}]"


_DATABASES = threading.local()  # each thread's in-memory DuckDBs, by their `threads`, holding our macros


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A connection for one file or batch, with its own temp tables and registered tables, to
    this thread's in-memory DuckDB: no progress bar on the terminal, our macros; `threads` caps
    its worker threads (default: one per core). Opening a database and declaring the macros cost
    20 ms a file (a twelfth of reading 25,000 records), a connection to an open one nothing."""
    databases = _DATABASES.__dict__.setdefault("by_threads", {})
    if threads not in databases:
        databases[threads] = duckdb.connect(config={"threads": threads} if threads else {})
        databases[threads].execute(MACROS)
    db = databases[threads].cursor()
    db.execute("SET enable_progress_bar = false")
    return db


def json_lines(data: bytes, fields: tuple[str, ...], fast: Callable[[duckdb.DuckDBPyConnection], None],
               build: Callable[[object, int, str], Event], threads: int | None = None) -> Columns | None:
    """Columns of a JSON-lines file. DuckDB parses each plain line (see `_NOT_PLAIN`) holding a
    JSON object with no repeated key once, into table `records(pos, <fields>)`, the top-level
    `fields` as JSON text; `fast` turns it into tables `fast_events(pos, item_id, version, deleted,
    kind, status, tz)` and `fast_blocks(pos, n, provider_id, ref, start_ts, end_ts, is_local,
    end_elapsed)` for the records it takes; every other line goes through `build`, one by one, as in
    `parse_json_lines`. None for a file that is not UTF-8 as a whole (parsed record by record)."""
    import json

    from halo_platform.availability.feeds.base import json_line

    data = data.removeprefix(BOM)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    raw = data.split(b"\n")
    db = connect(threads)
    try:
        db.register("lines", pa.table({"pos": pa.array(range(1, len(raw) + 1), pa.int64()),
                                       "line": pa.array(raw, pa.string()),  # UTF-8 as a whole, so each line is
                                       "fp": pa.array([zlib.crc32(line.rstrip(b"\r")) for line in raw], pa.int64())}))
        shape = json.dumps(dict.fromkeys(fields, "JSON")).replace("'", "")
        db.execute(f"""
            CREATE TEMP TABLE records AS SELECT pos, unnest(json_transform(line, '{shape}'))
            FROM (SELECT pos, line, json_keys(line) AS keys FROM lines
                  -- a valid line whose first character is `{{` is an object (json_type parsed it once more to say so;
                  -- a line with blanks before it is read one by one)
                  WHERE CASE WHEN starts_with(line, '{{') AND NOT regexp_matches(line, '{_NOT_PLAIN}') AND opened(line) <= {_MAX_DEPTH}
                             THEN json_valid(line) ELSE false END)
            WHERE unique_keys(keys)""")  # noqa: S608 - constants
        fast(db)
        slow = Parsed()
        for (pos,) in db.execute("SELECT pos FROM lines ANTI JOIN fast_events USING (pos) ORDER BY pos").fetchall():
            json_line(slow, pos, raw[pos - 1], build)
        return merge_columns(db, slow)
    finally:
        db.close()


def merge_columns(db: duckdb.DuckDBPyConnection, slow: Parsed) -> Columns:
    """The vectorized events (tables `fast_events`, `fast_blocks`; `lines(pos, fp)`) and the ones
    parsed one by one, in file order, numbered from 1."""
    events, blocks, hours = to_arrow(slow.events)
    db.register("slow_pos", pa.table({"seq": pa.array(range(1, len(slow.events) + 1), pa.int64()),
                                      "pos": pa.array([e.position for e in slow.events], pa.int64())}))
    db.register("slow_events", events)
    db.register("slow_blocks", blocks)
    db.register("slow_hours", hours)
    db.execute("""
        CREATE TEMP TABLE numbered AS
        SELECT pos, row_number() OVER (ORDER BY pos) AS seq FROM (SELECT pos FROM fast_events UNION ALL SELECT pos FROM slow_pos)""")
    out_events = db.sql("""
        SELECT n.seq, f.item_id, f.version, f.deleted, l.fp, f.kind, f.status, f.tz, false AS adds_up
        FROM fast_events f JOIN numbered n USING (pos) JOIN lines l USING (pos)
        UNION ALL
        SELECT n.seq, s.item_id, s.version, s.deleted, s.fp, s.kind, s.status, s.tz, s.adds_up
        FROM slow_events s JOIN slow_pos p USING (seq) JOIN numbered n ON n.pos = p.pos
        ORDER BY 1""").to_arrow_table()
    out_blocks = db.sql("""
        SELECT n.seq, b.n, b.provider_id, b.ref, b.start_ts, b.end_ts, b.is_local, b.end_elapsed
        FROM fast_blocks b JOIN numbered n USING (pos)
        UNION ALL
        SELECT n.seq, b.n, b.provider_id, b.ref, b.start_ts, b.end_ts, b.is_local, b.end_elapsed
        FROM slow_blocks b JOIN slow_pos p USING (seq) JOIN numbered n ON n.pos = p.pos
        ORDER BY 1, 2""").to_arrow_table()
    out_hours = db.sql("""
        SELECT n.seq, h.n, h.provider_id, h.weekday, h.start_minute, h.end_minute
        FROM slow_hours h JOIN slow_pos p USING (seq) JOIN numbered n ON n.pos = p.pos ORDER BY 1, 2""").to_arrow_table()
    return Columns(out_events.cast(EVENTS), out_blocks.cast(BLOCKS), out_hours.cast(HOURS_ROWS), slow.rejected)
