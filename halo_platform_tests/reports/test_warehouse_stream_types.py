"""The generic (SQLAlchemy) warehouse path streams batches of one schema, set by what it reads
before its first batch: which rows fall in a batch no longer decides whether a report loads."""

import sqlite3

import duckdb
import pytest

from halo_platform.core import warehouses as warehouses_module
from halo_platform.core.errors import HaloError
from halo_platform.core.warehouses import WarehousesResource


def _sqlite_warehouse(tmp_path, rows: list[tuple]) -> WarehousesResource:
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE ledger (entry_id TEXT PRIMARY KEY, note TEXT, amount NUMERIC(12,2))")
        conn.executemany("INSERT INTO ledger VALUES (?, ?, ?)", rows)
    warehouses_file = tmp_path / "warehouses.yaml"
    warehouses_file.write_text(f"warehouses:\n  ledger: {{url: 'sqlite:///{path}'}}\n")
    return WarehousesResource(warehouses_file=str(warehouses_file), batch_rows=2)


def _load(warehouses: WarehousesResource) -> list[tuple]:
    con = duckdb.connect()
    warehouses.load(con, "ledger", "ledger", "SELECT entry_id, note, amount FROM ledger ORDER BY entry_id")
    return con.execute("SELECT entry_id, note, CAST(amount AS VARCHAR) FROM ledger ORDER BY entry_id").fetchall()


def test_a_column_null_in_the_whole_first_batch_still_loads(tmp_path):
    """The first batch fixed the stream's types: a column NULL in all its rows became Arrow's null
    type, and the first later batch with a value failed the load (ArrowNotImplementedError: cast
    from string to null). Which rows fall in the first batch is an accident of the batch size."""
    warehouses = _sqlite_warehouse(tmp_path, [("E1", None, None), ("E2", None, None), ("E3", "refund", "5.00")])
    assert _load(warehouses) == [("E1", None, None), ("E2", None, None), ("E3", "refund", "5")]  # SQLite stores 5.00 as 5


def test_an_amount_with_cents_after_a_batch_of_whole_amounts_still_loads(tmp_path):
    """SQLite stores 100.00 in a NUMERIC column as the integer 100: a first batch of whole amounts
    gave the stream decimal128(38, 0), and a later 100.50 failed the load (ArrowInvalid: rescaling
    would lose data). A table of mostly whole amounts (rupiah) failed once its batch boundary moved."""
    warehouses = _sqlite_warehouse(tmp_path, [("E1", "a", "100.00"), ("E2", "b", "250.00"), ("E3", "c", "100.50")])
    loaded = _load(warehouses)
    assert [(entry, float(amount)) for entry, _, amount in loaded] == [("E1", 100.0), ("E2", 250.0), ("E3", 100.5)]




def test_a_result_read_whole_keeps_a_column_null_everywhere_and_a_later_misfit_is_one_clear_error(tmp_path, monkeypatch):
    warehouses = _sqlite_warehouse(tmp_path, [("E1", None, "100.00"), ("E2", None, "250.00"), ("E3", None, "100.50")])
    reader, _ = warehouses_module.stream_query(warehouses.url("ledger"), "SELECT note, amount FROM ledger ORDER BY entry_id", {}, 2)
    assert str(reader.schema.field("note").type) == "null" and str(reader.schema.field("amount").type) == "decimal128(38, 1)"  # 100.50 is stored as 100.5
    reader.close()
    monkeypatch.setattr(warehouses_module, "LOOKAHEAD_ROWS", 2)  # types set by the first two rows: a third with cents cannot fit
    with pytest.raises(HaloError, match="a row after the first 2 does not fit the column types they set"):
        list(warehouses_module.stream_query(warehouses.url("ledger"), "SELECT amount FROM ledger ORDER BY entry_id", {}, 1)[0])
    with pytest.raises(HaloError, match="a row after the first 2 does not fit"):  # a load fails with it, a user error
        _load(warehouses)
