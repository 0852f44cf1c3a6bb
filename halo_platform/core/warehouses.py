"""Warehouses: named databases that report tasks query, loaded into an in-process DuckDB.

Queries are written once in SQLAlchemy's named-parameter style (`WHERE created_at >= :start`)
and always sent with bound parameters. Results stream as Arrow record batches into
DuckDB, so memory is bounded by the batch size, not the table (the generic path's: by its
first million rows, read to set the column types):

- PostgreSQL: ADBC (libpq, columnar in C) over COPY, which streams in batches. ADBC can only
  COPY a statement without bind parameters (with them it buffers the whole result), so the
  parameters are bound client-side with psycopg's own literal adaptation (what psycopg's
  `ClientCursor` does): typed, quoted literals, never string formatting of user input;
- DuckDB files: DuckDB itself, read-only;
- MySQL/MariaDB: connectorx (Rust, columnar). MySQL's text protocol has no server-side
  binding: drivers such as pymysql escape each parameter client-side and splice it into the
  statement. We do exactly that, with pymysql's own escaping, then let connectorx stream it
  (10x the rows/s of pymysql's row-by-row fetch; see `halo bench warehouses`);
- everything else SQLAlchemy speaks (SQLite, ...): a server-side cursor fetched in batches
  and turned into Arrow column by column.

Every value arrives as the warehouse holds it. A decimal is DuckDB's DECIMAL(p,s) when its declared
precision is at most 38 digits (DuckDB's widest); an unbounded PostgreSQL NUMERIC, a wider NUMERIC /
DECIMAL and PostgreSQL's NaN / Infinity are the warehouse's own text of the number (VARCHAR), never
a float. What the drivers cannot hand over as a plain Arrow value is asked for as the server's text
(PostgreSQL uuid, inet, timetz, money as its numeric, ranges, ...; MariaDB TIME, a duration of up to
+-838 hours); PostgreSQL's infinite timestamps and dates are DuckDB's infinity.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from halo_platform.core.errors import HaloError
from halo_platform.core.settings import Settings, expand_env, get_settings, read_yaml, refuse_unknown_keys
from halo_platform.core.text import echo

BATCH_ROWS = 100_000
# How long connecting to a PostgreSQL or MariaDB/MySQL warehouse may take: a server that accepts the
# connection and never answers (hung, or a proxy to one that is down) held the run, and the request,
# RUNNING for ever.
CONNECT_TIMEOUT_SECONDS = 30
# How long one query may run on a PostgreSQL (statement_timeout, unless the URL's `options` set one) or
# MariaDB (max_statement_time) warehouse: a query that never ended (a lock wait, a runaway join) held
# the run, and the request, RUNNING for ever, with no alert.
QUERY_TIMEOUT_SECONDS = 3600
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_DECIMAL_DIGITS = 38  # DuckDB's widest DECIMAL (and Arrow's decimal128)


def quote_identifier(name: str) -> str:
    """`name` as an SQL identifier in double quotes (PostgreSQL, DuckDB): a `"` in it doubled."""
    return '"' + name.replace('"', '""') + '"'


def decimal_type(precision: int, scale: int) -> pa.DataType:
    """A declared DECIMAL(precision, scale) as DuckDB holds it: itself up to 38 digits, else its text."""
    return pa.decimal128(precision, scale) if 0 < precision <= MAX_DECIMAL_DIGITS else pa.string()


class WarehouseError(Exception):
    """A warehouse's failure (unreachable, a query it refused), named: not the user's error, a run retries it."""


@dataclass(frozen=True)
class LoadResult:
    table: str
    rows: int
    seconds: float
    driver: str


def _positional(sql: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Named `:param` SQL -> (`$1, $2` SQL, positional params), for drivers that bind server-side."""
    from sqlalchemy.dialects import postgresql

    compiled = sa.text(sql).bindparams(**params).compile(dialect=postgresql.dialect(paramstyle="numeric_dollar"))
    return str(compiled), [compiled.params[n] for n in compiled.positiontup or []]


def _decimals(col: tuple) -> pa.Array:
    """Exact decimals: a decimal128(38, s) with the most places of the batch when every value
    fits 38 digits with them; else (NaN, infinity, more digits) each value's text."""
    values = [v for v in col if v is not None]
    if all(v.is_finite() for v in values):
        scale = max((max(0, -v.as_tuple().exponent) for v in values), default=0)
        whole = max([1, *(v.adjusted() + 1 for v in values if v)])  # digits before the point
        if whole + scale <= MAX_DECIMAL_DIGITS:
            return pa.array(col, type=pa.decimal128(MAX_DECIMAL_DIGITS, scale))
    return pa.array([None if v is None else str(v) for v in col], type=pa.string())


def _mixed_zones(name: str, kinds: set[bool]) -> None:
    """Timestamps with and without a UTC offset in one column: made one type, Arrow reads those
    without as UTC, a silent shift; refused instead."""
    if len(kinds) > 1:
        raise HaloError(f"column {name} holds timestamps with and without a UTC offset; give them all one (or none) in the query")


def _rows_to_batch(rows: list[tuple], names: list[str]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    arrays = []
    for name, col in zip(names, columns, strict=True):
        sample = next((v for v in col if v is not None), None)
        if isinstance(sample, dt.datetime):
            _mixed_zones(name, {v.tzinfo is None for v in col if isinstance(v, dt.datetime)})
        arrays.append(_decimals(col) if isinstance(sample, decimal.Decimal) else pa.array(col))
    return pa.RecordBatch.from_arrays(arrays, names=names)


def warehouse_urls(path: str | Path, settings: Settings | None = None) -> dict[str, str]:
    """The URL of each warehouse of the warehouses file `path`, `${NAME}`s expanded. An entry is
    `{url: ...}` and nothing else: `{URL: ...}` was a bare `KeyError: 'url'` failing the run of
    every task, whichever warehouse it queried; an error names the warehouse, never the URL."""
    data = read_yaml(Path(path))
    refuse_unknown_keys(data, ("warehouses",), str(path))
    entries = data.get("warehouses") or {}
    if not isinstance(entries, dict):
        raise HaloError(f"{path}: warehouses: expected a mapping of warehouse names to {{url: ...}}, not {type(entries).__name__}")
    urls = {}
    for name, cfg in entries.items():
        if not isinstance(cfg, dict):
            raise HaloError(f"{path}: warehouse {name!r}: expected a mapping of settings, {{url: ...}}, not {type(cfg).__name__}")
        refuse_unknown_keys(cfg, ("url",), f"{path}: warehouse {name!r}")
        if not isinstance(cfg.get("url"), str) or not cfg["url"]:
            raise HaloError(f"{path}: warehouse {name!r}: needs a url, the database URL as text")
        urls[str(name)] = expand_env(cfg["url"], settings)
    return urls


class WarehousesResource(dg.ConfigurableResource):
    """The warehouses of `HALO_WAREHOUSES_FILE`. Only the file path is configuration;
    URLs (which may hold secrets) are read and expanded at run time."""

    warehouses_file: str | None = None
    batch_rows: int = BATCH_ROWS

    def urls(self) -> dict[str, str]:
        return warehouse_urls(self.warehouses_file or get_settings().warehouses_file)

    def url(self, warehouse: str) -> str:
        urls = self.urls()
        if warehouse not in urls:
            raise HaloError(f"unknown warehouse {warehouse!r}; known: {', '.join(sorted(urls))}")
        try:
            sa.make_url(urls[warehouse])
        except ValueError:  # its text repeats the port: the password, when the URL has no `@host`
            raise HaloError(f"warehouse {warehouse!r}: its URL's port is not a number (is its @host missing?)") from None
        return urls[warehouse]

    def load(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        warehouse: str,
        sql: str,
        params: Mapping[str, Any] | None = None,
    ) -> LoadResult:
        """Run the query on `warehouse` and stream its rows into DuckDB table `table`."""
        if not _IDENT.match(table):
            raise HaloError(f"invalid table name {table!r}")
        url = self.url(warehouse)  # the warehouses file's errors name the warehouse already
        started = time.perf_counter()
        raised: list[Exception] = []  # what the stream raised while DuckDB read it
        try:
            reader, driver = stream_query(url, sql, params or {}, self.batch_rows)
            con.register("_halo_incoming", _watched(reader, raised))
            try:
                con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM _halo_incoming')  # noqa: S608 - table matched _IDENT
            finally:
                con.unregister("_halo_incoming")
        except Exception as caught:  # a driver's (or, mid-stream, DuckDB's) error named neither warehouse nor query
            where = f"warehouse {warehouse!r}, query {table}"
            # DuckDB hands a stream's error back as its own, `Unknown error: <it>. Detail: Python exception:
            # Traceback ...`, and a HaloError (a NaN no DECIMAL holds) was then no user error: the run was retried
            exc = raised[0] if raised else caught
            if isinstance(exc, HaloError | WarehouseError):  # ours (a column named twice, a value no type holds): which query?
                raise type(exc)(f"{where}: {exc}") from None
            if isinstance(exc, duckdb.Error):  # its kind kept: what failed in the stream (its traceback left out)
                raise type(exc)(f"{where}: {_first_line(exc)}") from exc
            raise WarehouseError(f"{where}: {type(exc).__name__}: {_first_line(exc)}") from exc
        # fetchall: DuckDB 2 refuses the next statement while a partly fetched result is open
        rows = con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]  # noqa: S608 - table matched _IDENT
        return LoadResult(table, rows, time.perf_counter() - started, driver)


def _watched(reader: pa.RecordBatchReader, raised: list[Exception]) -> pa.RecordBatchReader:
    """`reader`, with what it raises appended to `raised` (and raised on)."""
    def gen() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except Exception as exc:
            raised.append(exc)
            raise

    return pa.RecordBatchReader.from_batches(reader.schema, gen())


def stream_query(url: str, sql: str, params: Mapping[str, Any], batch_rows: int = BATCH_ROWS) -> tuple[pa.RecordBatchReader, str]:
    backend = sa.make_url(url).get_backend_name() if "://" in url else ""
    if backend == "duckdb":
        return _duckdb_batches(url, sql, params, batch_rows), "duckdb"
    if backend == "postgresql":
        return _adbc_postgres_batches(url, sql, params), "adbc-postgresql"
    if backend in ("mysql", "mariadb"):
        return _mysql_connectorx_batches(url, sql, params, batch_rows), "connectorx-mysql"
    return _sqlalchemy_batches(url, sql, params, batch_rows), "sqlalchemy"


def mysql_bound_sql(sql: str, params: Mapping[str, Any]) -> str:
    """`:name` SQL with each parameter a MySQL literal that means the same whatever the server's
    sql_mode: text and bytes as hex literals (`_utf8mb4 X'...'`, `X'...'`), which no quote or
    backslash can end (a backslash-escaped string is injectable on a server running
    NO_BACKSLASH_ESCAPES: `' OR 1=1 -- ` returned every row), anything else as pymysql writes it."""
    return _client_bound_sql(sql, params, _mysql_literal)


def _mysql_literal(value: Any) -> str:  # noqa: ANN401 - any parameter
    from pymysql.converters import escape_item

    if isinstance(value, str):
        return f"_utf8mb4 X'{value.encode('utf-8').hex()}'"
    if isinstance(value, bytes | bytearray):
        return f"X'{bytes(value).hex()}'"
    if isinstance(value, list | tuple | set | frozenset):
        return "(" + ",".join(_mysql_literal(v) for v in value) + ")"
    return escape_item(value, "utf8mb4")


def _client_bound_sql(sql: str, params: Mapping[str, Any], literal) -> str:  # noqa: ANN001
    """Compile `:name` SQL to `%(name)s` (literal `%` doubled) and fill in each driver-made literal."""
    from sqlalchemy.engine.default import DefaultDialect

    compiled = sa.text(sql).bindparams(**params).compile(dialect=DefaultDialect(paramstyle="pyformat"))
    return str(compiled) % {k: literal(v) for k, v in compiled.params.items()}


# MySQL column types (and flag) the driver gets wrong: it reads every DECIMAL as decimal128(38, 10)
# (1e-30 in a DECIMAL(65,30) came out 0; 12345678901234567.89 in a DECIMAL(30,2) failed the load; more
# than 28 digits panicked it) and a TIME as a time of day (a negative or 100-hour TIME panicked it).
_MYSQL_DECIMALS, _MYSQL_TIME, _MYSQL_UNSIGNED = (0, 246), 11, 32


def _mysql_targets(url: str, sql: str) -> tuple[list[pa.DataType | None], list[str]]:
    """Per column of the query's result (from the server's column definitions, the query not run:
    LIMIT 0), the type it is fetched as text and made into, or None where the driver reads it right;
    and the columns' names."""
    import pymysql

    # the read timeout bounds the handshake too (pymysql's connect timeout is the TCP connect's alone),
    # and the probe, which the server answers without running the query
    connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, "read_timeout": CONNECT_TIMEOUT_SECONDS}
    u = sa.make_url(url).set(drivername="mysql+pymysql")
    if u.password is not None:  # pymysql sends a text password as latin-1, connectorx (and the mysql client) as UTF-8
        connect_args["password"] = u.password.encode()
    engine = sa.create_engine(u, poolclass=sa.pool.NullPool, connect_args=connect_args)
    try:
        conn = engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(f"SELECT * FROM ({sql}\n) AS _halo_probe LIMIT 0")  # noqa: S608 - the bound query
            except pymysql.err.MySQLError as exc:
                if exc.args and exc.args[0] == 1060:  # ER_DUP_FIELDNAME
                    raise HaloError(f"the query names a column twice ({exc.args[1]}): give each column its own name") from None
                raise
            # pymysql's column definitions: DB-API's `description` has no UNSIGNED flag (which changes the precision)
            fields = cursor._result.fields  # noqa: SLF001
        finally:
            conn.close()
    finally:
        engine.dispose()
    targets: list[pa.DataType | None] = []
    for f in fields:
        if f.type_code in _MYSQL_DECIMALS:  # length = precision + a point if scaled + a sign if signed
            targets.append(decimal_type(f.length - (f.scale > 0) - (0 if f.flags & _MYSQL_UNSIGNED else 1), f.scale))
        else:
            targets.append(pa.string() if f.type_code == _MYSQL_TIME else None)
    return targets, [f.name for f in fields]


def _mysql_as_text(sql: str, names: list[str], targets: list[pa.DataType | None]) -> str:
    """The query with the columns that have a target fetched as the server's text."""
    def item(name: str, target: pa.DataType | None) -> str:
        quoted = "`" + name.replace("`", "``") + "`"
        return f"CAST({quoted} AS CHAR) AS {quoted}" if target is not None else quoted

    return f"SELECT {', '.join(map(item, names, targets))} FROM ({sql}\n) AS _halo_source"  # noqa: S608 - the bound query


def _is_panic(exc: BaseException) -> bool:
    """A Rust panic in connectorx: pyo3's PanicException derives from BaseException, so it went past
    every `except Exception` of a run (the request was left RUNNING)."""
    return type(exc).__name__ == "PanicException"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__


# the server's (or the connection's) error inside connectorx's debug text of it:
# `cx writer failed: Source(MySQLError(MySqlError { ERROR 1242 (21000): Subquery returns more than 1 row }))`
_MYSQL_SOURCE_ERROR = re.compile(r"Source\(MySQLError\(\w+ \{ (.+) \}\)\)")


def _driver_error(exc: BaseException) -> HaloError | WarehouseError:
    """A panic of connectorx's: the server's (or the connection's) failure, as PostgreSQL's is, a
    WarehouseError (a connection lost mid-query said `cannot read a value ...; cast the column in the
    query`); else a value it cannot read, the user's to cast."""
    if "max_statement_time exceeded" in str(exc):
        return WarehouseError(f"the query ran past the warehouse statement timeout of {QUERY_TIMEOUT_SECONDS} s and was cancelled")
    if "Source(MySQLError(" in str(exc):
        said = _MYSQL_SOURCE_ERROR.search(_first_line(exc))
        return WarehouseError(f"the MariaDB/MySQL server failed the query: {said.group(1) if said else _first_line(exc)}")
    return HaloError(f"the MariaDB/MySQL driver cannot read a value: {_first_line(exc)}; cast the column in the query")


# pymysql's connection options that connectorx (which reads text as UTF-8, never speaks TLS, and whose
# connection the probe's timeouts precede) has no use for: it refused the URL (`?charset=utf8mb4`:
# `RuntimeError: Unknown URL parameter `charset'`), failing every task querying the warehouse. TLS options
# are kept: connectorx refuses them, rather than reading the warehouse in clear.
_PYMYSQL_ONLY = frozenset({"charset", "use_unicode", "connect_timeout", "read_timeout", "write_timeout", "binary_prefix",
                           "autocommit", "local_infile", "program_name"})


def _pymysql_only(key: str, value: str | tuple[str, ...]) -> bool:
    if key == "ssl_disabled":  # TLS turned off: what connectorx does anyway
        return all(v.lower() in ("true", "1", "yes", "on") for v in ((value,) if isinstance(value, str) else value))
    return key in _PYMYSQL_ONLY


def _mysql_connectorx_batches(url: str, sql: str, params: Mapping[str, Any], batch_rows: int) -> pa.RecordBatchReader:
    import connectorx as cx

    u = sa.make_url(url)
    u = u.set(drivername="mysql", port=u.port or 3306, query={k: v for k, v in u.query.items() if not _pymysql_only(k, v)})
    cx_url = u.render_as_string(hide_password=False)
    bound = mysql_bound_sql(sql, params)
    targets, names = _mysql_targets(url, bound)
    if any(t is not None for t in targets):
        bound = _mysql_as_text(bound, names, targets)
    # MariaDB runs the comment's statement (MySQL reads a comment)
    bound = f"/*M!100301 SET STATEMENT max_statement_time={QUERY_TIMEOUT_SECONDS} FOR */ {bound}"
    try:
        reader = cx.read_sql(cx_url, bound, return_type="arrow_stream", batch_size=batch_rows)
    except BaseException as exc:
        if _is_panic(exc):
            raise _driver_error(exc) from None
        raise

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except BaseException as exc:
            if _is_panic(exc):
                raise _driver_error(exc) from None
            raise

    def plain(index: int, field: pa.Field) -> Fix | None:
        target = targets[index]
        return None if target is None else (target, lambda col: _exact(col, target, field.name))

    return _closing_reader(pa.RecordBatchReader.from_batches(reader.schema, batches()), lambda: None, plain)


def _duckdb_batches(url: str, sql: str, params: Mapping[str, Any], batch_rows: int) -> pa.RecordBatchReader:
    path = url.split("duckdb:///", 1)[1] if "duckdb:///" in url else ":memory:"
    query, args = _positional(sql, params)
    con = duckdb.connect(path, read_only=path != ":memory:")
    try:
        reader = con.sql(query, params=args).to_arrow_reader(batch_rows)
    except BaseException:  # a refused query: the file stays open for as long as its error lives otherwise
        con.close()
        raise
    return _closing_reader(reader, con.close)


def postgres_bound_sql(sql: str, params: Mapping[str, Any]) -> str:
    """`:name` SQL with each parameter as a typed psycopg literal (`'2026-01-01'::date`, `'it''s'`)."""
    from psycopg.sql import Literal

    return _client_bound_sql(sql, params, lambda v: Literal(v).as_string(None))


ADBC_BATCH_BYTES = 1 << 20  # the driver's default (16 MB) holds several such batches in flight


def _adbc_postgres_batches(url: str, sql: str, params: Mapping[str, Any]) -> pa.RecordBatchReader:
    # ADBC's low-level API: its DB-API module imports pandas and polars (+80 MB of RSS per process)
    import adbc_driver_manager
    import adbc_driver_postgresql

    u = sa.make_url(url).set(drivername="postgresql")
    if "connect_timeout" not in u.query:  # else libpq waits for ever on a server that takes the connection and never answers
        u = u.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})
    database = adbc_driver_postgresql.connect(u.render_as_string(hide_password=False))
    conn = adbc_driver_manager.AdbcConnection(database)
    stmt = adbc_driver_manager.AdbcStatement(conn)
    handles = [stmt, conn, database]

    def close() -> None:
        for handle in handles:
            handle.close()

    try:
        stmt.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(ADBC_BATCH_BYTES)})
        if "statement_timeout" not in str(u.query.get("options", "")):
            stmt.set_sql_query(f"SET statement_timeout = {QUERY_TIMEOUT_SECONDS * 1000}")
            stmt.execute_update()
        bound = postgres_bound_sql(sql, params)
        stmt.set_sql_query(bound)
        handle = stmt.execute_schema()  # the statement prepared and described, not run
        described = pa.Schema._import_from_c(handle.address)  # noqa: SLF001
        if any(_postgres_cast(f) for f in described):
            stmt.set_sql_query(_postgres_as_text(bound, described))
        stream, _ = stmt.execute_query()
        reader = pa.RecordBatchReader._import_from_c(stream.address)
    except BaseException:
        close()
        raise
    handles.insert(0, reader)
    return _closing_reader(reader, close, _postgres_plain)


def _has_extension(kind: pa.DataType) -> bool:
    return isinstance(kind, pa.BaseExtensionType) or any(_has_extension(kind.field(i).type) for i in range(kind.num_fields))


def _postgres_cast(field: pa.Field) -> str | None:
    """The type PostgreSQL should send a column as, where the driver would hand over its binary wire
    format (an opaque column: a uuid failed the load, an inet or a range was garbage text, a list of
    numerics opaque inside) or a number of cents (money): its own text; money as its exact numeric."""
    kind = (field.metadata or {}).get(b"POSTGRESQL:type")
    if kind == b"money":
        return "numeric"
    if kind == b"numeric" or not _has_extension(field.type):
        return None  # a numeric is text in the driver's hands already (`_postgres_plain`)
    return "text"


def _postgres_as_text(sql: str, schema: pa.Schema) -> str:
    """The query with the columns `_postgres_cast` names cast; the source's columns are renamed by
    position (`_halo_source(_c0, _c1, ...)`), so a name used twice stays two columns."""
    items = []
    for i, field in enumerate(schema):
        cast = _postgres_cast(field)
        quoted = quote_identifier(field.name)
        items.append(f"CAST(_c{i} AS {cast}) AS {quoted}" if cast else f"_c{i} AS {quoted}")
    aliases = ", ".join(f"_c{i}" for i in range(len(schema)))
    return f"SELECT {', '.join(items)} FROM ({sql}\n) AS _halo_source({aliases})"  # noqa: S608 - the bound query


# PostgreSQL's infinity is the largest (smallest) value of its type; the driver adds the 2000 epoch to
# it and wraps around, making it the year 290279 BC (dates: 5877612 BC), far below anything PostgreSQL
# holds (4713 BC). They become DuckDB's infinity, which is its type's largest (negated) value.
_WRAPPED_INFINITY = {
    pa.int64(): ((1 << 63) - 1 + 946_684_800_000_000 - (1 << 64), -(1 << 63) + 946_684_800_000_000, (1 << 63) - 1),
    pa.int32(): ((1 << 31) - 1 + 10_957 - (1 << 32), -(1 << 31) + 10_957, (1 << 31) - 1),
}


def _infinities(col: pa.Array, storage: pa.DataType) -> pa.Array:
    wrapped_up, wrapped_down, top = _WRAPPED_INFINITY[storage]
    raw = col.cast(storage)
    lowest = pc.min(raw).as_py()
    if lowest is None or lowest > wrapped_down:
        return col
    up, down = pa.scalar(top, storage), pa.scalar(-top, storage)
    fixed = pc.if_else(pc.equal(raw, wrapped_up), up, pc.if_else(pc.equal(raw, wrapped_down), down, raw))
    return fixed.cast(col.type)


def _numeric_text(text: pa.Array) -> pa.Array:
    """The driver's text of a NUMERIC with PostgreSQL's words for NaN and the infinities (it writes nan, inf)."""
    return pc.replace_substring_regex(pc.replace_substring_regex(text, "^nan$", "NaN"), "^(-?)inf$", r"\1Infinity")


def _postgres_plain(index: int, field: pa.Field) -> Fix | None:  # noqa: ARG001
    """What a column the driver hands over becomes (None: as it is)."""
    meta = field.metadata or {}
    if meta.get(b"POSTGRESQL:type") == b"numeric":  # text; its typmod tells precision and scale
        typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1"))
        target = decimal_type(((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF) if typmod >= 4 else pa.string()
        return target, lambda col: _exact(_numeric_text(col.storage), target, field.name)
    if pa.types.is_timestamp(field.type) or pa.types.is_date32(field.type):
        storage = pa.int64() if pa.types.is_timestamp(field.type) else pa.int32()
        return field.type, lambda col: _infinities(col, storage)
    if isinstance(field.type, pa.BaseExtensionType):  # an opaque column of text (what `_postgres_cast` leaves)
        return pa.string(), lambda col: col.storage.cast(pa.string())
    return None


def _sqlite_typed_connect_args() -> dict:
    """SQLite keeps no types; honour the declared ones so TIMESTAMP/DATE columns arrive as
    datetimes (DATE: dates) and NUMERIC/DECIMAL columns as exact decimals rather than text and floats. A
    timestamp is read as ISO 8601 (`T` or space, an offset kept: sqlite3's own converter failed on
    `2026-01-01 10:00:00+07:00`)."""
    import sqlite3

    for decl in ("NUMERIC", "DECIMAL"):
        sqlite3.register_converter(decl, _sqlite_converter(decl, decimal.Decimal))
    for decl in ("TIMESTAMP", "DATETIME"):
        sqlite3.register_converter(decl, _sqlite_converter(decl, dt.datetime.fromisoformat))
    sqlite3.register_converter("DATE", _sqlite_converter("DATE", dt.date.fromisoformat))
    return {"detect_types": sqlite3.PARSE_DECLTYPES}


def _sqlite_converter(decl: str, parse: Callable[[str], Any]) -> Callable[[bytes], Any]:
    """`parse` of a value's text; SQLite keeps any text in any column (a spreadsheet's 'N/A', a decimal
    comma), where `parse` alone said `InvalidOperation: [<class 'decimal.ConversionSyntax'>]`."""
    def convert(raw: bytes) -> Any:  # noqa: ANN401 - what `parse` makes
        text = raw.decode()
        try:
            return parse(text)
        except (ValueError, decimal.InvalidOperation):
            raise HaloError(f"SQLite warehouse: {echo(text)} in a column declared {decl} is no {decl} value;"
                            " CAST the column AS TEXT in the query to read it as text") from None

    return convert


# The generic path's column types are set by the rows read before its first batch goes out, up to
# this many: a batch's own types are an accident of where it starts (SQLite stores 100.00 in a
# NUMERIC column as 100: a batch of whole amounts is decimal(38, 0); a column NULL in every row of
# a batch has no type). A smaller result is read whole and typed exactly.
LOOKAHEAD_ROWS = 1_000_000


def _stream_schema(batches: list[pa.RecordBatch], names: list[str], complete: bool) -> pa.Schema:
    """The types that fit every batch: a decimal takes the most places seen; a column NULL in all
    rows read is text unless the result was read whole."""
    fields = []
    for i, name in enumerate(names):
        types = [b.schema.field(i).type for b in batches if b.schema.field(i).type != pa.null()]
        _mixed_zones(name, {t.tz is None for t in types if pa.types.is_timestamp(t)})
        if not types:
            kind = pa.null() if complete else pa.string()
        elif all(pa.types.is_decimal(t) for t in types):
            kind = pa.decimal128(MAX_DECIMAL_DIGITS, max(t.scale for t in types))
        elif all(pa.types.is_decimal(t) or t == pa.string() for t in types):
            kind = pa.string()  # a batch had a decimal no DECIMAL holds: the column is the numbers' text
        else:
            kind = pa.unify_schemas([pa.schema([(name, t)]) for t in types], promote_options="permissive").field(0).type
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _sqlalchemy_batches(url: str, sql: str, params: Mapping[str, Any], batch_rows: int) -> pa.RecordBatchReader:
    sqlite = sa.make_url(url).get_backend_name() == "sqlite"
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, hide_parameters=True, connect_args=_sqlite_typed_connect_args() if sqlite else {})
    conn = engine.connect().execution_options(stream_results=True, yield_per=batch_rows)

    def close() -> None:
        conn.close()
        engine.dispose()

    try:
        result = conn.execute(sa.text(sql), dict(params))
        names = list(result.keys())
        head, read, complete = [], 0, False
        while read < LOOKAHEAD_ROWS:
            rows = result.fetchmany(batch_rows)
            if not rows:
                complete = True
                break
            head.append(_rows_to_batch(rows, names))
            read += len(rows)
        schema = _stream_schema(head, names, complete)
    except BaseException:  # the connection was left to the garbage collector (on a server: a session held open)
        close()
        raise

    def fitted(batch: pa.RecordBatch) -> pa.RecordBatch:
        for field, kind in zip(batch.schema, schema.types, strict=True):
            if pa.types.is_timestamp(field.type) and pa.types.is_timestamp(kind):
                _mixed_zones(field.name, {field.type.tz is None, kind.tz is None})
        try:
            return batch.cast(schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise HaloError(f"a row after the first {read:,} does not fit the column types they set ({exc}); "
                            "cast the column in the query") from None

    def gen() -> Iterator[pa.RecordBatch]:
        try:
            while head:
                yield fitted(head.pop(0))
            while rows := result.fetchmany(batch_rows):
                yield fitted(_rows_to_batch(rows, names))
        finally:
            close()

    return pa.RecordBatchReader.from_batches(schema, gen())


def _exact(text: pa.Array, target: pa.DataType, name: str) -> pa.Array:
    """A column of numbers' text as `target` (a DECIMAL, or text); a value the DECIMAL cannot hold
    (PostgreSQL's NaN in a NUMERIC(12,2)) is an error naming the column and the values."""
    try:
        return text.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        unfit = []
        for value in text.to_pylist():
            try:
                if value is not None and not decimal.Decimal(value).is_finite():
                    unfit.append(value)
            except decimal.InvalidOperation:
                unfit.append(value)
        shown = ", ".join(sorted(set(unfit))[:5]) or str(exc)
        raise HaloError(f"column {name} holds {shown}, which DECIMAL({target.precision},{target.scale}) cannot hold; "
                        f"CAST({name} AS text) in the query reads it as text") from None


Fix = tuple[pa.DataType, Callable[[pa.Array], pa.Array]]  # a column's plain type, and how a batch's column becomes it
Plain = Callable[[int, pa.Field], Fix | None]


def _closing_reader(reader: pa.RecordBatchReader, close, plain: Plain | None = None) -> pa.RecordBatchReader:  # noqa: ANN001
    """The driver's batches with each column `plain` names turned into its plain type; `close` once read."""
    fixes = [plain(i, f) if plain else None for i, f in enumerate(reader.schema)]
    schema = pa.schema([pa.field(f.name, fix[0] if fix else f.type) for f, fix in zip(reader.schema, fixes, strict=True)])

    def convert(batch: pa.RecordBatch) -> pa.RecordBatch:
        if not any(fixes):
            return batch
        columns = [col if fix is None else fix[1](col) for col, fix in zip(batch.columns, fixes, strict=True)]
        return pa.RecordBatch.from_arrays(columns, schema=schema)

    def gen() -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                yield convert(batch)
        finally:
            close()

    return pa.RecordBatchReader.from_batches(schema, gen())
