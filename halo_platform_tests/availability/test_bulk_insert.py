"""Bulk writes of the availability store: on SQLite several rows go in each INSERT statement,
and rows fetched from DuckDB reach the driver as Arrow columns made Python values. What each
store holds afterwards must not depend on either: the same values, NULLs and booleans read back
through the ORM on SQLite, PostgreSQL and MariaDB; a duplicate key still fails the write."""

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from halo_platform.availability import bulk_sql
from halo_platform.availability.bulk_sql import Codec
from halo_platform.availability.feeds import acme
from halo_platform.availability.items import LandedFile, apply_files
from halo_platform.availability.tables import SchedulingItem, SchedulingItemBlock
from halo_platform.core.store import StoreResource

COLUMNS = ("feed", "item_id", "n", "provider_id", "ref", "start_ts", "end_ts", "is_local")
START = dt.datetime(2027, 1, 4, 9, 0)  # whole seconds: MariaDB's DATETIME keeps no fraction


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def every_store(request, halo_env) -> Iterator[StoreResource]:  # noqa: ANN001
    """SQLite, PostgreSQL, then MariaDB (a database the session shares: the tests' feeds start with 'bulk-')."""
    url = {"sqlite": lambda: halo_env["HALO_DB_URL"], "postgresql": lambda: request.getfixturevalue("migrated_pg_url"),
           "mariadb": lambda: request.getfixturevalue("mysql_url")}[request.param]()
    store = StoreResource(db_url=url)
    yield store
    with store.write() as conn:
        for table in ("scheduling_item_blocks", "scheduling_item_hours", "scheduling_items", "emr_dirty_dates"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE feed LIKE 'bulk-%'"))  # noqa: S608 - fixed names
    store.dispose()


def block(i: int, feed: str = "bulk-rows") -> tuple:
    """A block with every kind of value a row carries: NULLs, both booleans, timestamps."""
    return (feed, f"I{i:03d}", i % 3, None if i % 5 == 0 else f"P{i}", f"R{i}" if i % 4 == 0 else None,
            START + dt.timedelta(minutes=i) if i % 7 else None, START + dt.timedelta(minutes=i + 30) if i % 7 else None, i % 2 == 0)


def stored_blocks(store: StoreResource, feed: str) -> list[tuple]:
    table = SchedulingItemBlock.__table__
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(sa.select(*(table.c[c] for c in COLUMNS)).where(table.c.feed == feed).order_by(table.c.item_id))]


@pytest.mark.parametrize("count", [0, 3, 4, 13, 16])
def test_rows_written_several_to_a_statement_read_back_as_given_whatever_their_count(every_store, monkeypatch, count):
    monkeypatch.setattr(bulk_sql, "ROWS_PER_STATEMENT", 4)  # groups of 4 and what is left over
    with every_store.write() as conn:
        codec = Codec(conn)
        rows = ((*b[:5], codec.ts(b[5]), codec.ts(b[6]), b[7]) for b in map(block, range(count)))
        assert codec.insert("scheduling_item_blocks", COLUMNS, rows) == count
    assert stored_blocks(every_store, "bulk-rows") == [block(i) for i in range(count)]


@pytest.mark.parametrize("count", [0, 1, 3, 4, 13])
def test_columns_shared_by_every_row_are_stored_in_each_row_whatever_the_count(every_store, monkeypatch, count):
    """On SQLite a shared value is bound once per statement, as a numbered parameter every group
    of the statement names: each row holds it, in the groups of 4 as in the rows left over, beside
    its own values in their columns."""
    monkeypatch.setattr(bulk_sql, "ROWS_PER_STATEMENT", 4)
    rows = [block(i) for i in range(count)]
    with every_store.write() as conn:
        codec = Codec(conn)
        columns = [[b[k] for b in rows] for k in range(1, 8)]
        columns[4:6] = [[codec.ts(v) for v in values] for values in columns[4:6]]
        batches = [columns[:]] if count else []
        assert codec.insert_columns("scheduling_item_blocks", COLUMNS[1:], batches, [("feed", "bulk-rows")]) == count
    assert stored_blocks(every_store, "bulk-rows") == rows


def test_a_duplicate_key_in_a_later_group_fails_the_write_and_leaves_nothing(store, monkeypatch):
    monkeypatch.setattr(bulk_sql, "ROWS_PER_STATEMENT", 4)
    rows = [block(i) for i in range(10)] + [block(2)]  # the third group repeats a key of the first
    with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
        codec = Codec(conn)
        codec.insert("scheduling_item_blocks", COLUMNS, [(*b[:5], codec.ts(b[5]), codec.ts(b[6]), b[7]) for b in rows])
    assert stored_blocks(store, "bulk-rows") == []


def test_applied_items_and_tombstones_hold_the_same_values_on_every_store(every_store, monkeypatch):
    monkeypatch.setattr(bulk_sql, "ROWS_PER_STATEMENT", 4)  # 7 items and 6 blocks: a group each and what is left over
    lines = "".join(f'{{"type":"appointment","action":"upsert","id":"A{i}","provider":"P{i % 3}","start":"2027-01-04T09:{i:02d}:00",'
                    f'"duration_min":30,"tz":"Europe/Paris","status":"booked","updated_at":"2026-11-01T00:00:00Z"}}\n' for i in range(6))
    lines += ('{"type":"appointment","action":"delete","id":"A5","updated_at":"2026-11-02T00:00:00Z"}\n'
              '{"type":"vacation","action":"upsert","id":"V1","provider":"P1","from_date":"2027-01-05","to_date":"2027-01-06",'
              '"updated_at":"2026-11-01T00:00:00Z"}\n')
    with every_store.write() as conn:
        result = apply_files(conn, "bulk-items", [LandedFile.from_parsed("acme/a.jsonl", "sha", acme.parse(lines.encode()))])
    assert result.items_changed == 7
    with every_store.read() as conn:
        items = conn.execute(sa.select(SchedulingItem.item_id, SchedulingItem.kind, SchedulingItem.version, SchedulingItem.deleted,
                                       SchedulingItem.status, SchedulingItem.tz).where(SchedulingItem.feed == "bulk-items")
                             .order_by(SchedulingItem.item_id)).all()
    assert [tuple(r) for r in items] == [
        (f"appointment:A{i}", "appointment", dt.datetime(2026, 11, 1, tzinfo=dt.UTC), False, "booked", "Europe/Paris") for i in range(5)] + [
        ("appointment:A5", "appointment", dt.datetime(2026, 11, 2, tzinfo=dt.UTC), True, None, None),
        ("vacation:V1", "timeoff", dt.datetime(2026, 11, 1, tzinfo=dt.UTC), False, None, None)]
    assert [b[1:] for b in stored_blocks(every_store, "bulk-items")] == [
        (f"appointment:A{i}", 0, f"P{i % 3}", None, dt.datetime(2027, 1, 4, 8, i), dt.datetime(2027, 1, 4, 8, 30 + i), False) for i in range(5)] + [
        ("vacation:V1", 0, "P1", None, dt.datetime(2027, 1, 5), dt.datetime(2027, 1, 7), True)]  # local wall times


def test_items_replaced_a_chunk_of_keys_at_a_time_keep_only_their_new_blocks_on_every_store(every_store, monkeypatch):
    """The replaced items' rows are deleted a statement per chunk of keys (`Codec.execute_in`): with
    chunks of 2, the 5 replaced items span three statements, and no old block is left behind."""
    monkeypatch.setattr(bulk_sql, "CHUNK", 2)

    def landed(minute: int, version: str) -> LandedFile:
        lines = "".join(f'{{"type":"appointment","action":"upsert","id":"A{i}","provider":"P{i}","start":"2027-01-04T09:{minute + i:02d}:00",'
                        f'"duration_min":30,"tz":"Europe/Paris","status":"booked","updated_at":"{version}"}}\n' for i in range(5))
        return LandedFile.from_parsed(f"acme/{minute}.jsonl", f"sha{minute}", acme.parse(lines.encode()))

    with every_store.write() as conn:
        apply_files(conn, "bulk-replaced", [landed(0, "2026-11-01T00:00:00Z")])
    with every_store.write() as conn:
        assert apply_files(conn, "bulk-replaced", [landed(10, "2026-11-02T00:00:00Z")]).items_changed == 5
    assert [b[1:6] for b in stored_blocks(every_store, "bulk-replaced")] == [
        (f"appointment:A{i}", 0, f"P{i}", None, dt.datetime(2027, 1, 4, 8, 10 + i)) for i in range(5)]
