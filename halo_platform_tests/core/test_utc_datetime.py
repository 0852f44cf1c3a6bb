"""`UtcDateTime` reads every stored time back aware, in UTC, with the wall time stored: as
`replace(tzinfo=UTC)` gives it (its result converter builds it another way, for speed)."""

import datetime as dt

import pytest
import sqlalchemy as sa

from halo_platform.core.models import UtcDateTime

STORED = [dt.datetime(2026, 1, 1, 1, 2, 3, 4), dt.datetime(2026, 10, 25, 1, 30, fold=1), dt.datetime(1, 1, 1),
          dt.datetime(9999, 12, 31, 23, 59, 59, 999999), "2026-01-01 01:02:03.000004", "2026-01-01 01:02:03",
          "2026-01-01T01:02:03+02:00"]


@pytest.mark.parametrize("stored", STORED, ids=str)
def test_a_stored_time_reads_back_aware_in_utc_with_its_wall_time(stored):
    read = UtcDateTime().process_result_value(stored, None)
    naive = dt.datetime.fromisoformat(stored) if isinstance(stored, str) else stored
    expected = naive.replace(tzinfo=dt.UTC)
    assert (read, read.tzinfo, read.fold, repr(read)) == (expected, dt.UTC, expected.fold, repr(expected))
    assert UtcDateTime().process_result_value(None, None) is None


def test_a_time_round_trips_through_sqlite():
    engine = sa.create_engine("sqlite://")
    table = sa.Table("t", sa.MetaData(), sa.Column("at", UtcDateTime()))
    table.create(engine)
    moment = dt.datetime(2026, 3, 29, 3, 30, 0, 250, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"at": moment}])
        (read,) = conn.execute(sa.select(table.c.at)).one()
    assert read == moment and read.tzinfo is dt.UTC
