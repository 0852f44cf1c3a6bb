"""The migrations that change how availability tables are stored keep their rows: only dirty
provider-dates are ever recomputed and items are never re-read from landed files, so rows lost
here would stay lost."""

import pytest
import sqlalchemy as sa
from alembic import command

from halo_platform.core.engine import make_engine
from halo_platform.core.store import _alembic_config, migrate

SPAN = ("acme", "P1", "2027-01-04", "2027-01-04 08:00:00.000000", "2027-01-04 11:00:00.000000", "2027-01-01 00:00:00.000000")
INSERT = "INSERT INTO available_spans (feed, provider_id, span_date, start_at, end_at, computed_at) VALUES (?, ?, ?, ?, ?, ?)"


def test_spans_stored_before_the_new_key_are_kept_and_the_key_refuses_a_duplicate_start(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    command.upgrade(_alembic_config(engine), "availability_0003")
    with engine.begin() as conn:
        conn.exec_driver_sql(INSERT, SPAN)
    migrate(engine)
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT feed, provider_id, span_date, start_at, end_at, computed_at FROM available_spans").fetchall() == [SPAN]
        ddl = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'available_spans'").scalar_one()
        assert "WITHOUT ROWID" in ddl
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql(INSERT, (*SPAN[:4], "2027-01-04 09:00:00.000000", SPAN[5]))
    engine.dispose()


ITEM = ("acme", "appointment:A1", "appointment", "2026-11-20 10:00:00.000000", 0, 42, "booked", "Europe/Paris", "2026-11-21 00:00:00.000000")
BLOCK = ("acme", "appointment:A1", 0, "P1", None, "2027-01-04 08:00:00.000000", "2027-01-04 08:30:00.000000", 0)


def _item_tables(engine) -> tuple[list, list, dict]:  # noqa: ANN001
    with engine.begin() as conn:
        return (conn.exec_driver_sql("SELECT * FROM scheduling_items").fetchall(),
                conn.exec_driver_sql("SELECT * FROM scheduling_item_blocks").fetchall(),
                dict(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master "
                                          "WHERE tbl_name IN ('scheduling_items', 'scheduling_item_blocks')").fetchall()))


def test_items_and_blocks_keep_their_rows_through_key_order_storage_and_back(tmp_path):
    """On SQLite, availability_0005 made `scheduling_items` and `scheduling_item_blocks` WITHOUT
    ROWID tables and availability_0006 makes them rowid tables again (0005 measured slower): each
    copies the rows over, and the blocks keep their provider and ref indexes."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    config = _alembic_config(engine)
    command.upgrade(config, "availability_0004")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO scheduling_items (feed, item_id, kind, version, deleted, fingerprint, status, tz, updated_at) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ITEM)
        conn.exec_driver_sql("INSERT INTO scheduling_item_blocks (feed, item_id, n, provider_id, ref, start_ts, end_ts, is_local) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", BLOCK)
    command.upgrade(config, "availability_0005")
    items, blocks, schema = _item_tables(engine)
    assert (items, blocks) == ([ITEM], [BLOCK])
    assert schema["scheduling_items"].endswith("WITHOUT ROWID") and schema["scheduling_item_blocks"].endswith("WITHOUT ROWID")
    migrate(engine)
    items, blocks, schema = _item_tables(engine)
    assert (items, blocks) == ([ITEM], [BLOCK])
    assert "WITHOUT ROWID" not in schema["scheduling_items"] + schema["scheduling_item_blocks"]
    assert {"ix_scheduling_item_blocks_provider", "ix_scheduling_item_blocks_ref"} <= set(schema)
    engine.dispose()
