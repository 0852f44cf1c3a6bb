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



ITEM = ("acme", "appointment:A1", "appointment", "2026-11-01 00:00:00.000000", 0, 7, "booked", "UTC", "2026-11-02 00:00:00.000000")


def test_items_stored_before_key_order_are_kept_and_their_key_still_refuses_a_duplicate(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    command.upgrade(_alembic_config(engine), "availability_0007")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO scheduling_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ITEM)
    migrate(engine)
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT * FROM scheduling_items").fetchall() == [ITEM]
        assert conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'scheduling_items'").scalar_one().endswith("WITHOUT ROWID")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO scheduling_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ITEM)
    command.downgrade(_alembic_config(engine), "availability_0007")
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT * FROM scheduling_items").fetchall() == [ITEM]
        assert "WITHOUT ROWID" not in conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'scheduling_items'").scalar_one()
    engine.dispose()
