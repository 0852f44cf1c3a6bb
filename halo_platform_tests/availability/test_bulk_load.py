"""A big load into SQLite runs without the blocks' secondary indexes and builds them again in the
same transaction: after it, and after a load that fails half-way, the indexes are all there and
answer; a small load, or a load on PostgreSQL, never drops them."""

import pytest
import sqlalchemy as sa

from halo_platform.availability import items
from halo_platform.availability.bulk_sql import indexes_rebuilt
from halo_platform.availability.feeds import acme
from halo_platform.availability.items import LandedFile, apply_files
from halo_platform.availability.tables import SchedulingItemBlock

BLOCKS = SchedulingItemBlock.__table__
INDEXES = {"ix_scheduling_item_blocks_provider", "ix_scheduling_item_blocks_ref"}


def indexes(conn: sa.Connection) -> set[str]:
    return {i["name"] for i in sa.inspect(conn).get_indexes("scheduling_item_blocks")}


def appointments(first: int, count: int) -> LandedFile:
    lines = "".join(f'{{"type":"appointment","action":"upsert","id":"A{i}","provider":"P{i % 7}","start":"2027-01-04T09:00:00",'
                    f'"duration_min":30,"tz":"Europe/Paris","status":"booked","updated_at":"2026-11-01T00:00:00Z"}}\n'
                    for i in range(first, first + count))
    return LandedFile.from_parsed(f"acme/{first}.jsonl", str(first), acme.parse(lines.encode()))


def test_a_big_load_keeps_the_indexes_and_a_failed_one_leaves_them_as_they_were(store):
    with store.write() as conn:
        apply_files(conn, "acme", [appointments(0, 50)])  # into an empty table: rebuilt
        assert indexes(conn) == INDEXES
        plan = " ".join(str(r) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT item_id FROM scheduling_item_blocks WHERE feed = 'acme' AND provider_id = 'P3'").fetchall())
        assert "ix_scheduling_item_blocks_provider" in plan
        assert conn.exec_driver_sql("SELECT count(*) FROM scheduling_item_blocks WHERE feed = 'acme' AND provider_id = 'P3'").scalar() == 7
    with pytest.raises(RuntimeError), store.write() as conn, indexes_rebuilt(conn, BLOCKS, 1000):
        assert indexes(conn) == set()  # dropped while the load runs
        raise RuntimeError("the load fails half-way")
    with store.read() as conn:
        assert indexes(conn) == INDEXES


def test_a_small_load_and_any_load_on_postgresql_keep_the_indexes_in_place(any_store):
    with any_store.write() as conn:
        apply_files(conn, "acme", [appointments(0, 50)])
    with any_store.write() as conn, indexes_rebuilt(conn, BLOCKS, 99):  # fewer than twice the 50 rows there
        assert indexes(conn) == INDEXES
    with any_store.write() as conn, indexes_rebuilt(conn, BLOCKS, 10_000):
        assert indexes(conn) == (set() if conn.dialect.name == "sqlite" else INDEXES)


def test_rows_written_a_slice_at_a_time_are_all_written(store, monkeypatch):
    monkeypatch.setattr(items, "STREAM_ROWS", 3)  # 50 items and their blocks: 17 slices each
    with store.write() as conn:
        apply_files(conn, "acme", [appointments(0, 50)])
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM scheduling_items WHERE feed = 'acme'").scalar() == 50
        assert conn.exec_driver_sql("SELECT count(DISTINCT item_id) FROM scheduling_item_blocks WHERE feed = 'acme'").scalar() == 50
