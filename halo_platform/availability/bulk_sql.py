"""Bulk access to the operational store, below the ORM: one `executemany` per batch with
values already in the driver's native shape (the per-value ORM type machinery costs
microseconds per cell, which is seconds per million rows)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from halo_platform.core.sqlite_rows import insert_flat, row_major

# pysqlite looks up an adapter for each None it binds, and finding none costs two failed attribute
# lookups (a microsecond; 4% of a million-row upsert's CPU); a registered one is a dict hit. NULL all the same.
sqlite3.register_adapter(type(None), lambda value: value)

_EPOCH = dt.datetime(1970, 1, 1)
CHUNK = 2000
# Rows to a statement of a bulk insert on SQLite: a quarter of the statements of `core.sqlite_rows`'
# 64 (300k events applied: 0.73 -> 0.66 CPU-s writing items and blocks); 512 cost more again (a
# statement's program grows with its rows). The widest (blocks: 8 values a row, and the feed) binds 2,049
# values, below the 32,766 of the SQLite the store requires (engine.SQLITE_AT_LEAST; 999 before 3.32).
ROWS_PER_STATEMENT = 256


class Codec:
    """Turns Python values into what the connection's driver stores for our column types,
    matching SQLAlchemy's own encoding so ORM and Core queries read them back."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        style = conn.dialect.paramstyle
        self.mark = "?" if style == "qmark" else "%s"

    def epoch_sql(self, column: str) -> str:
        """SQL turning a naive timestamp column into integer seconds since 1970-01-01 (read as UTC),
        a fraction of a second dropped as SQLite's and MariaDB's do (a cast alone rounds it on
        PostgreSQL: an appointment from 10:00:00.5 left 10:00:00-10:00:01 free there alone)."""
        dialect = self.conn.dialect.name
        if dialect == "sqlite":
            # unixepoch (SQLite 3.38) is the same integer without strftime's text and its cast
            # (planning the spans of 300k bench events: 0.88 -> 0.82 CPU-s)
            return f"unixepoch({column})" if sqlite3.sqlite_version_info >= (3, 38) else f"CAST(strftime('%s', {column}) AS INTEGER)"
        if dialect == "postgresql":
            return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT)"
        return f"TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', {column})"

    def ts(self, value: dt.datetime | None) -> Any:
        """A naive UTC (or naive local) datetime."""
        if value is None or not self.sqlite:
            return value
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")

    def epoch(self, seconds: int) -> Any:
        return _epoch_sqlite(seconds) if self.sqlite else _EPOCH + dt.timedelta(seconds=seconds)

    def date(self, value: dt.date) -> Any:
        return value.isoformat() if self.sqlite else value

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        total = 0
        for chunk in chunks(rows, 50_000):
            if self.sqlite:
                self._insert_flat(table, columns, len(columns), list(itertools.chain.from_iterable(chunk)))
            else:
                self.conn.exec_driver_sql(self._insert_sql(table, columns), chunk)
            total += len(chunk)
        return total

    def insert_columns(self, table: str, columns: Sequence[str], batches: Iterable[Sequence[list]],
                       shared: Sequence[tuple[str, Any]] = ()) -> int:
        """`insert` of batches of columns (lists of one length each): on SQLite the values are laid
        out row after row by slice assignment, without a tuple per row. `shared`: (column, value)
        of columns every row holds the same value of, bound once per statement on SQLite."""
        names, values = (*(name for name, _ in shared), *columns), tuple(value for _, value in shared)
        total = 0
        for batch in batches:
            count = len(batch[0])
            if self.sqlite:
                self._insert_flat(table, names, len(columns), row_major(batch), values)
            elif count:
                self.conn.exec_driver_sql(self._insert_sql(table, names), list(zip(*([v] * count for v in values), *batch, strict=True)))
            total += count
        return total

    def _insert_sql(self, table: str, columns: Sequence[str]) -> str:
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([self.mark] * len(columns))})"  # noqa: S608 - fixed names

    def _insert_flat(self, table: str, columns: Sequence[str], width: int, flat: list, shared: Sequence[Any] = ()) -> None:
        """The rows of `flat` (`width` values each, row after row), several to a statement
        (`core.sqlite_rows`), after the `shared` values of the first columns."""
        insert_flat(self.conn, self._insert_sql(table, columns), width, flat, ROWS_PER_STATEMENT, shared)

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        sql = sql.replace("?", self.mark)
        for chunk in chunks(rows, 50_000):
            self.conn.exec_driver_sql(sql, chunk)

    def select_in(self, sql: str, params: Sequence[Any], keys: Sequence[Any]) -> Iterator[tuple]:
        """Run `sql` (with `?` placeholders and one `{keys}` slot) over `keys` in chunks; plain tuples."""
        for statement, values in _over_keys(sql, params, keys):
            yield from self.select_plain(statement, values)

    def execute_in(self, sql: str, params: Sequence[Any], keys: Sequence[Any]) -> None:
        """`select_in` of a statement returning no rows (a DELETE): one statement a chunk of keys, not a
        key (a batch of 300k events replacing its 234k stored items on SQLite: their rows deleted in 3.0 -> 1.0 s)."""
        for statement, values in _over_keys(sql, params, keys):
            self.conn.exec_driver_sql(statement.replace("?", self.mark), values)

    def select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.conn.exec_driver_sql(sql.replace("?", self.mark), tuple(params)).fetchall()

    def select_plain(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """`select` through the driver's own cursor, in the connection's transaction: plain tuples,
        without a result row object per row (a second per million rows). The driver's errors are
        raised as SQLAlchemy's, as `select` raises them: callers (the HTTP service's 422 for a value
        the database refuses, the pipeline's transient store errors) know those alone."""
        dialect = self.conn.dialect
        statement, values = sql.replace("?", self.mark), tuple(params)
        cursor = self.conn.connection.driver_connection.cursor()
        try:
            cursor.execute(statement, values)
            return cursor.fetchall()
        except dialect.loaded_dbapi.Error as exc:
            raise sa_exc.DBAPIError.instance(statement, values, exc, dialect.loaded_dbapi.Error, dialect=dialect) from exc
        finally:
            cursor.close()

    def read_ts(self, value: Any) -> dt.datetime | None:
        if value is None or isinstance(value, dt.datetime):
            return value
        return dt.datetime.fromisoformat(value)

    def read_date(self, value: Any) -> dt.date:
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


BULK_CACHE_KIB = 256 << 10


@contextlib.contextmanager
def bulk_cache(conn: Connection) -> Iterator[None]:
    """On SQLite, a page cache big enough for the indexes a bulk write touches while it runs
    (the default 2 MB thrashes: a million-row load took twice the time), back to the default after."""
    if conn.dialect.name != "sqlite":
        yield
        return
    (default,) = conn.exec_driver_sql("PRAGMA cache_size").fetchone()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(default)}")


@contextlib.contextmanager
def indexes_rebuilt(conn: Connection, table: sa.Table, rows: int) -> Iterator[None]:
    """On SQLite, a load of at least twice as many rows as `table` holds runs without the table's
    secondary indexes, which are built again after it in the same transaction (so a crash leaves
    them as they were): sorting the entries once costs less than putting each in its place
    (750k scheduling item blocks into an empty table: 4.7 CPU-s with the provider index kept, 2.9
    rebuilt; a rebuild also sorts the rows already there, hence the factor). Elsewhere, or for a
    smaller load, the indexes stay: PostgreSQL would lock the table's readers out while they are
    rebuilt, SQLite's readers keep reading their snapshot."""
    if conn.dialect.name != "sqlite" or not table.indexes or rows < 2 * conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
        yield
        return
    for index in table.indexes:
        index.drop(conn)
    yield
    for index in table.indexes:
        index.create(conn)


@functools.lru_cache(maxsize=500_000)
def _epoch_sqlite(seconds: int) -> str:
    return (_EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S.%f")


def _over_keys(sql: str, params: Sequence[Any], keys: Sequence[Any]) -> Iterator[tuple[str, tuple]]:
    """`sql`'s `{keys}` slot filled with a placeholder for each key of a chunk of `keys`, and its values."""
    for chunk in chunks(keys, CHUNK):
        yield sql.format(keys=", ".join(["?"] * len(chunk))), (*params, *chunk)


def chunks(rows: Iterable[Any], size: int) -> Iterator[list]:
    """`rows` `size` at a time, taken by `islice` (appended one by one: 8.3 -> 1.9 ms for 234k keys)."""
    rest = iter(rows)
    while batch := list(itertools.islice(rest, size)):
        yield batch
