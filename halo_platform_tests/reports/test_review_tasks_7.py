"""Review of report tasks (tasks7): ids typed differently in two warehouses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from halo_platform.reports.demo import order, payment, write_payments
from halo_platform.reports.requests import create_request
from halo_platform_tests.reports.conftest import read_csv

START = dt.datetime(2024, 3, 4, 9, 30)


def _integer_settlements(url: str, rows: list[tuple[str, int, str]]) -> None:
    """The gateway's settlements with BIGINT payment ids (the payments warehouse keeps TEXT ones)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS settlements"))
            conn.execute(sa.text("CREATE TABLE settlements (settlement_id VARCHAR(64) PRIMARY KEY, payment_id BIGINT,"
                                 " amount NUMERIC(12,2), fee NUMERIC(12,2), currency VARCHAR(3), settled_at TIMESTAMP NULL)"))
            for sid, pid, amount in rows:
                conn.execute(sa.text("INSERT INTO settlements VALUES (:s, :p, :a, 1.00, 'IDR', :t)"),
                             {"s": sid, "p": pid, "a": amount, "t": START + dt.timedelta(days=1)})
    finally:
        engine.dispose()


def test_ids_a_warehouse_keeps_as_integers_are_compared_as_text_with_the_others(warehouses, halo_env, store):
    """A gateway keeping payment ids as integers (1001) settles the payments warehouse's payment
    '1001' and no other: the join cast the text ids to integers, so payment '01002' was taken as
    settled by settlement 1002 (a settlement of another payment), and a payment id that is no
    number ('P-7') failed the whole request with DuckDB's conversion error."""
    write_payments(warehouses["payments"],
                   [order("O1", "10.00", "PAID", START), order("O2", "20.00", "PAID", START), order("O3", "30.00", "PAID", START)],
                   [payment("1001", "O1", "10.00", START), payment("01002", "O2", "20.00", START),
                    payment("P-7", "O3", "30.00", START)])
    _integer_settlements(warehouses["gateway"], [("S1", 1001, "10.00"), ("S2", 1002, "20.00")])
    request = create_request(store, "payment_reconciliation", {"period_start": "2024-03-04", "period_end": "2024-03-11"},
                             wait=True)
    assert request["status"] == "SUCCEEDED", request["error"]
    rows = read_csv(Path(halo_env["HALO_HOME"]) / "outbox" / "payment_reconciliation_2024-03-04_2024-03-11.csv")
    assert [(r["order_id"], r["payment_id"], r["issue"]) for r in rows] == [
        ("O2", "01002", "MISSING_SETTLEMENT"), ("O3", "P-7", "MISSING_SETTLEMENT")]
