"""How the span planning reads blocks on SQLite: a few providers through the provider index, a
whole feed along the blocks' key (the order they are stored in), never the provider index with a
row lookup per block over the whole feed."""

import datetime as dt

import pytest

from halo_platform.availability.span_store import _FEW_PROVIDERS, plan


def _plans_of_block_reads(store, providers: int) -> list[str]:  # noqa: ANN001
    """The query plans of the block reads `plan` makes with `providers` dirty providers."""
    with store.write() as conn:
        rows = [("acme", f"hours:P{i}", 0, f"P{i}", 0, 540, 1020) for i in range(providers)]
        conn.exec_driver_sql("INSERT INTO scheduling_item_hours (feed, item_id, n, provider_id, weekday, start_minute, end_minute) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.exec_driver_sql("INSERT INTO scheduling_items (feed, item_id, kind, version, deleted, fingerprint, tz, updated_at) "
                             "SELECT feed, item_id, 'hours', '2026-11-01 00:00:00.000000', 0, 1, 'UTC', '2026-11-01 00:00:00.000000' "
                             "FROM scheduling_item_hours")
        conn.exec_driver_sql("INSERT INTO emr_dirty_dates (feed, provider_id, from_date, to_date) VALUES (?, ?, ?, ?)",
                             [("acme", f"P{i}", "2027-01-04", "2027-01-05") for i in range(providers)])
        driver = conn.connection.driver_connection
        statements: list[str] = []
        driver.set_trace_callback(statements.append)
        try:
            plan(conn, "acme", dt.date(2027, 1, 4), 2)
        finally:
            driver.set_trace_callback(None)
        reads = [s for s in statements if "FROM scheduling_item_blocks" in s and s.lstrip().upper().startswith("SELECT")]
        assert reads
        return [" / ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {s}").fetchall()) for s in reads]


@pytest.mark.parametrize("providers", [3, _FEW_PROVIDERS + 1])
def test_block_reads_use_the_provider_index_for_a_few_providers_and_the_key_for_a_whole_feed(store, providers) -> None:  # noqa: ANN001
    plans = _plans_of_block_reads(store, providers)
    direct = plans[0]
    if providers <= _FEW_PROVIDERS:
        assert "USING INDEX ix_scheduling_item_blocks_provider (feed=? AND provider_id=?)" in direct
    else:
        assert "USING INDEX sqlite_autoindex_scheduling_item_blocks_1 (feed=? AND item_id>?)" in direct
    assert all("ix_scheduling_item_blocks_provider (feed=?)" not in p for p in plans)  # a whole feed, a lookup per row
