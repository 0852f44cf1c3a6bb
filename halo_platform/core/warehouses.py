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
"""

from __future__ import annotations

import decimal
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import sqlalchemy as sa

from halo_platform.core.errors import HaloError
from halo_platform.core.settings import expand_env, get_settings, read_yaml

BATCH_ROWS = 100_000
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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


def _rows_to_batch(rows: list[tuple], names: list[str]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    arrays = []
    for col in columns:
        sample = next((v for v in col if v is not None), None)
        if isinstance(sample, decimal.Decimal):
            # keep exact money: a decimal128 wide enough for every value in the batch
            arrays.append(pa.array(col, type=pa.decimal128(38, max(-v.as_tuple().exponent for v in col if v is not None))))
        else:
            arrays.append(pa.array(col))
    return pa.RecordBatch.from_arrays(arrays, names=names)


class WarehousesResource(dg.ConfigurableResource):
    """The warehouses of `HALO_WAREHOUSES_FILE`. Only the file path is configuration;
    URLs (which may hold secrets) are read and expanded at run time."""

    warehouses_file: str | None = None
    batch_rows: int = BATCH_ROWS

    def urls(self) -> dict[str, str]:
        path = self.warehouses_file or get_settings().warehouses_file
        entries = read_yaml(path).get("warehouses") or {}
        return {name: expand_env(cfg["url"]) for name, cfg in entries.items()}

    def url(self, warehouse: str) -> str:
        urls = self.urls()
        if warehouse not in urls:
            raise HaloError(f"unknown warehouse {warehouse!r}; known: {', '.join(sorted(urls))}")
        return urls[warehouse]

    def batches(self, warehouse: str, sql: str, params: Mapping[str, Any] | None = None) -> tuple[pa.RecordBatchReader, str]:
        """Stream a parameterized query's result as Arrow batches; returns (reader, driver)."""
        return stream_query(self.url(warehouse), sql, params or {}, self.batch_rows)

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
        started = time.perf_counter()
        reader, driver = self.batches(warehouse, sql, params)
        con.register("_halo_incoming", reader)
        try:
            con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM _halo_incoming')  # noqa: S608 - table matched _IDENT
        finally:
            con.unregister("_halo_incoming")
        # fetchall: DuckDB 2 refuses the next statement while a partly fetched result is open
        rows = con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]  # noqa: S608 - table matched _IDENT
        return LoadResult(table, rows, time.perf_counter() - started, driver)


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


def _mysql_connectorx_batches(url: str, sql: str, params: Mapping[str, Any], batch_rows: int) -> pa.RecordBatchReader:
    import connectorx as cx

    u = sa.make_url(url)
    cx_url = u.set(drivername="mysql").render_as_string(hide_password=False)
    if u.port is None:
        cx_url = u.set(drivername="mysql", port=3306).render_as_string(hide_password=False)
    reader = cx.read_sql(cx_url, mysql_bound_sql(sql, params), return_type="arrow_stream", batch_size=batch_rows)
    return _closing_reader(reader, lambda: None)


def _duckdb_batches(url: str, sql: str, params: Mapping[str, Any], batch_rows: int) -> pa.RecordBatchReader:
    path = url.split("duckdb:///", 1)[1] if "duckdb:///" in url else ":memory:"
    query, args = _positional(sql, params)
    con = duckdb.connect(path, read_only=path != ":memory:")
    reader = con.sql(query, params=args).to_arrow_reader(batch_rows)
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
    database = adbc_driver_postgresql.connect(u.render_as_string(hide_password=False))
    conn = adbc_driver_manager.AdbcConnection(database)
    stmt = adbc_driver_manager.AdbcStatement(conn)
    handles = [stmt, conn, database]

    def close() -> None:
        for handle in handles:
            handle.close()

    try:
        stmt.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(ADBC_BATCH_BYTES)})
        stmt.set_sql_query(postgres_bound_sql(sql, params))
        stream, _ = stmt.execute_query()
        reader = pa.RecordBatchReader._import_from_c(stream.address)
    except BaseException:
        close()
        raise
    handles.insert(0, reader)
    return _closing_reader(reader, close)


def _sqlite_typed_connect_args() -> dict:
    """SQLite keeps no types; honour the declared ones so TIMESTAMP/DATE columns arrive as
    datetimes and NUMERIC/DECIMAL columns as exact decimals rather than text and floats."""
    import sqlite3

    for decl in ("NUMERIC", "DECIMAL"):
        sqlite3.register_converter(decl, lambda b: decimal.Decimal(b.decode()))
    return {"detect_types": sqlite3.PARSE_DECLTYPES}


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
        if not types:
            kind = pa.null() if complete else pa.string()
        elif all(pa.types.is_decimal(t) for t in types):
            kind = pa.decimal128(38, max(t.scale for t in types))
        else:
            kind = pa.unify_schemas([pa.schema([(name, t)]) for t in types], promote_options="permissive").field(0).type
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _sqlalchemy_batches(url: str, sql: str, params: Mapping[str, Any], batch_rows: int) -> pa.RecordBatchReader:
    sqlite = sa.make_url(url).get_backend_name() == "sqlite"
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, hide_parameters=True, connect_args=_sqlite_typed_connect_args() if sqlite else {})
    conn = engine.connect().execution_options(stream_results=True, yield_per=batch_rows)
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

    def fitted(batch: pa.RecordBatch) -> pa.RecordBatch:
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
            conn.close()
            engine.dispose()

    return pa.RecordBatchReader.from_batches(schema, gen())


def _plain_type(field: pa.Field) -> pa.DataType | None:
    """The Arrow type to turn a driver's opaque column into (PostgreSQL NUMERIC arrives as
    text in an `arrow.opaque` extension; its typmod tells precision and scale)."""
    if not isinstance(field.type, pa.BaseExtensionType):
        return None
    meta = field.metadata or {}
    if meta.get(b"POSTGRESQL:type") == b"numeric":
        typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1"))
        if typmod >= 4:
            return pa.decimal128(((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF)
        return pa.float64()
    return pa.string()


def _closing_reader(reader: pa.RecordBatchReader, close) -> pa.RecordBatchReader:  # noqa: ANN001
    targets = [_plain_type(f) for f in reader.schema]
    schema = pa.schema(
        [pa.field(f.name, t or f.type) for f, t in zip(reader.schema, targets, strict=True)]
    )

    def convert(batch: pa.RecordBatch) -> pa.RecordBatch:
        if not any(targets):
            return batch
        columns = [
            col if t is None else col.storage.cast(t)
            for col, t in zip(batch.columns, targets, strict=True)
        ]
        return pa.RecordBatch.from_arrays(columns, schema=schema)

    def gen() -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                yield convert(batch)
        finally:
            close()

    return pa.RecordBatchReader.from_batches(schema, gen())
