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


def insert_flat(conn: Connection, insert_one: str, width: int, flat: Sequence, per_statement: int = ROWS_PER_STATEMENT,
                shared: Sequence = ()) -> None:
    """Insert the rows laid out in `flat` (`width` values each, row after row) with `insert_one`,
    an `INSERT ... VALUES (?, ...)` of one row: `per_statement` rows to a statement, the rows left
    over in one more. `shared`: the values of the columns `insert_one` names first, the same in
    every row (a feed, a time), bound once per statement instead of once per row: SQLite copies
    each string it binds (234k scheduling items: 2.2 -> 1.9 us a row with the feed and the update
    time shared)."""
    step = per_statement * width
    whole = len(flat) - len(flat) % step
    if whole:
        conn.exec_driver_sql(_rows_sql(insert_one, per_statement, len(shared)),
                             [(*shared, *flat[i:i + step]) for i in range(0, whole, step)])
    if whole < len(flat):
        conn.exec_driver_sql(_rows_sql(insert_one, (len(flat) - whole) // width, len(shared)), (*shared, *flat[whole:]))


@functools.lru_cache(maxsize=256)
def _rows_sql(insert_one: str, rows: int, shared: int = 0) -> str:
    """`insert_one` for `rows` rows, its first `shared` placeholders the same parameters in every
    row (numbered ones: the statement's parameters are those then the rows' values). OR FAIL
    spares a statement of several rows the journal SQLite keeps to undo it alone (it spilled to
    disk): a failed insert fails the caller's whole transaction anyway."""
    if rows == 1:
        return insert_one  # the shared values come first, as its placeholders take them
    head, values, group = insert_one.rpartition(" VALUES ")
    if not values or not head.startswith("INSERT INTO "):
        raise ValueError(f"not a one-row INSERT: {insert_one!r}")
    parts = group.split("?")  # the text around each placeholder, kept as it is
    width = len(parts) - 1 - shared

    def numbered(row: int) -> str:
        numbers = [*range(1, shared + 1), *range(shared + row * width + 1, shared + (row + 1) * width + 1)]
        return "".join(f"{part}?{number}" for part, number in zip(parts[:-1], numbers, strict=True)) + parts[-1]

    return f"INSERT OR FAIL {head.removeprefix('INSERT ')} VALUES {', '.join(numbered(row) for row in range(rows))}"  # noqa: S608 - the caller's statement, numbered placeholders
