"""Several rows to each INSERT statement on SQLite. SQLite runs a statement per parameter set of
an `executemany`: its set-up, the driver's reset and the GIL handed over around each cost about
as much as writing the row, and a writer that waits for the GIL at every row holds the store's
only write lock meanwhile (the servers' drivers batch by themselves)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlalchemy.engine import Connection

ROWS_PER_STATEMENT = 64  # 576 values for 9 columns, far below SQLite's limit of 32,766


def row_major(columns: Sequence[Sequence]) -> list:
    """The values of `columns` (sequences of one length each) laid out row after row, as
    `insert_flat` takes them: by slice assignment, without a tuple per row."""
    width = len(columns)
    flat: list = [None] * (len(columns[0]) * width if columns else 0)
    for i, values in enumerate(columns):
        flat[i::width] = values
    return flat


def insert_flat(conn: Connection, insert_one: str, width: int, flat: Sequence, per_statement: int = ROWS_PER_STATEMENT) -> None:
    """Insert the rows laid out in `flat` (`width` values each, row after row) with `insert_one`,
    an `INSERT ... VALUES (?, ...)` of one row: `per_statement` rows to a statement, the rows left
    over in one more."""
    step = per_statement * width
    whole = len(flat) - len(flat) % step
    if whole:
        conn.exec_driver_sql(_rows_sql(insert_one, per_statement), [tuple(flat[i:i + step]) for i in range(0, whole, step)])
    if whole < len(flat):
        conn.exec_driver_sql(_rows_sql(insert_one, (len(flat) - whole) // width), tuple(flat[whole:]))


@functools.lru_cache(maxsize=256)
def _rows_sql(insert_one: str, rows: int) -> str:
    """`insert_one` for `rows` rows. OR FAIL spares a statement of several rows the journal SQLite
    keeps to undo it alone (it spilled to disk): a failed insert fails the caller's whole
    transaction anyway."""
    if rows == 1:
        return insert_one
    head, values, group = insert_one.rpartition(" VALUES ")
    if not values or not head.startswith("INSERT INTO "):
        raise ValueError(f"not a one-row INSERT: {insert_one!r}")
    return f"INSERT OR FAIL {head.removeprefix('INSERT ')} VALUES {', '.join([group] * rows)}"  # noqa: S608 - the caller's statement, repeated placeholders
