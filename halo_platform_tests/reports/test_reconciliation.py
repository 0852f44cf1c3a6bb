"""Payment reconciliation across two servers: orders and payments in PostgreSQL, settlements
in MariaDB, joined in DuckDB. Expectations are computed by hand from the rows below."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from halo_platform.reports.audit import get_request
from halo_platform.reports.demo import order, payment, settlement, write_payments, write_settlements
from halo_platform.reports.requests import create_request
from halo_platform.reports.tasks.payment_reconciliation import previous_iso_week
from halo_platform_tests.reports.conftest import read_csv

START = dt.datetime(2024, 3, 4)  # Monday; the period is [2024-03-04, 2024-03-11)
LATER = dt.datetime(2024, 3, 12)


def seed_two_servers(urls: dict) -> None:
    orders = [
        order("O01", "100.00", "PAID", START),  # exactly at the start: included, clean
        order("O02", "50.00", "PAID", dt.datetime(2024, 3, 10, 23, 59, 59)),  # MISSING_PAYMENT
        order("O03", "70.00", "PAID", dt.datetime(2024, 3, 11)),  # exactly at the end: excluded
        order("O04", "60.00", "CANCELLED", START),  # UNEXPECTED_PAYMENT
        order("O05", "30.00", "PENDING", START),  # UNEXPECTED_PAYMENT + MISSING_SETTLEMENT
        order("O06", "80.00", "PAID", START),  # paid 0.04 more: within tolerance 0.05
        order("O07", "80.00", "PAID", START),  # paid 0.06 more: AMOUNT_MISMATCH
        order("O08", "90.00", "PAID", START),  # settled 0.10 less (fee apart): AMOUNT_MISMATCH
        order("O09", "40.00", "PAID", START),  # paid in USD: CURRENCY_MISMATCH
        order("O10", "45.00", "PAID", START),  # settled in SGD: CURRENCY_MISMATCH
        order("O11", "20.00", "REFUNDED", START),  # no payment, not PAID: fine
        order("O12", "25.00", "PAID", dt.datetime(2024, 3, 3, 23, 59, 59)),  # before the period: excluded
        order("O13", "100.00", "PAID", START),  # two payments summing to the order: clean
    ]
    payments = [
        payment("P01", "O01", "100.00", START), payment("P04", "O04", "60.00", START),
        payment("P05", "O05", "30.00", START), payment("P06", "O06", "80.04", START),
        payment("P07", "O07", "80.06", START), payment("P08", "O08", "90.00", START),
        payment("P09", "O09", "40.00", START, currency="USD"), payment("P10", "O10", "45.00", START),
        payment("P13a", "O13", "50.00", START), payment("P13b", "O13", "50.00", START),
    ]
    settlements = [
        settlement("S01", "P01", "100.00", LATER), settlement("S04", "P04", "60.00", LATER),
        settlement("S06", "P06", "80.04", LATER), settlement("S07", "P07", "80.06", LATER),
        settlement("S08", "P08", "89.90", LATER, fee="0.10"), settlement("S09", "P09", "40.00", LATER, currency="USD"),
        settlement("S10", "P10", "45.00", LATER, currency="SGD"),
        settlement("S13a", "P13a", "50.00", LATER), settlement("S13b", "P13b", "50.00", LATER),
    ]
    write_payments(urls["payments"], orders, payments)
    write_settlements(urls["gateway"], settlements)


EXPECTED = [
    ("O02", "", "", "MISSING_PAYMENT", "50.00", "", ""),
    ("O04", "P04", "S04", "UNEXPECTED_PAYMENT", "60.00", "60.00", "60.00"),
    ("O05", "P05", "", "MISSING_SETTLEMENT", "30.00", "30.00", ""),
    ("O05", "P05", "", "UNEXPECTED_PAYMENT", "30.00", "30.00", ""),
    ("O07", "P07", "S07", "AMOUNT_MISMATCH", "80.00", "80.06", "80.06"),
    ("O08", "P08", "S08", "AMOUNT_MISMATCH", "90.00", "90.00", "89.90"),
    ("O09", "P09", "S09", "CURRENCY_MISMATCH", "40.00", "40.00", "40.00"),
    ("O10", "P10", "S10", "CURRENCY_MISMATCH", "45.00", "45.00", "45.00"),
]
COLUMNS = ["order_id", "payment_id", "settlement_id", "issue", "order_amount", "paid_amount", "settled_amount", "currency"]


def _rows(path: Path) -> list[tuple]:
    rows = read_csv(path)
    assert list(rows[0]) == COLUMNS
    assert {r["currency"] for r in rows} == {"IDR"}
    return [tuple(r[c] for c in COLUMNS[:-1]) for r in rows]


def _week_rows(store, halo_env) -> list[tuple]:  # noqa: ANN001
    """The rows of the week's reconciliation, run with the default tolerance."""
    request = create_request(store, "payment_reconciliation", {"period_start": "2024-03-04", "period_end": "2024-03-11"},
                             wait=True)
    assert request["status"] == "SUCCEEDED", request["error"]
    return _rows(Path(halo_env["HALO_HOME"]) / "outbox" / "payment_reconciliation_2024-03-04_2024-03-11.csv")


def test_reconciliation_lists_every_issue_once_per_order_across_postgresql_and_mariadb(warehouses, halo_env, store):
    seed_two_servers(warehouses)
    request = create_request(store,
        "payment_reconciliation",
        {"period_start": "2024-03-04", "period_end": "2024-03-11", "tolerance": 0.05},
        requested_by="analyst@example.com", wait=True,
    )
    assert request["status"] == "SUCCEEDED", request["error"]
    out = Path(halo_env["HALO_HOME"]) / "outbox" / "payment_reconciliation_2024-03-04_2024-03-11.csv"
    assert _rows(out) == EXPECTED
    audit = get_request(store, request["request_id"])
    assert audit["row_count"] == 8
    assert audit["stats"]["counts"] == {"AMOUNT_MISMATCH": 2, "CURRENCY_MISMATCH": 2, "MISSING_PAYMENT": 1,
                                        "MISSING_SETTLEMENT": 1, "UNEXPECTED_PAYMENT": 2}
    assert audit["outputs"] == [out.resolve().as_uri()]
    assert audit["trigger"] == "manual" and audit["requested_by"] == "analyst@example.com"
    assert [(d["sink"], d["status"], d["attempts"]) for d in audit["deliveries"]] == [("outbox", "DELIVERED", 1)]


def _read_parquet(path: Path) -> list[tuple]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return list(zip(table.column("order_id").to_pylist(), table.column("issue").to_pylist(), strict=True))


def _read_xlsx(path: Path) -> list[tuple]:
    import openpyxl

    rows = list(openpyxl.load_workbook(path, read_only=True)["report"].iter_rows(values_only=True))
    assert list(rows[0]) == COLUMNS
    return [(r[0], r[3]) for r in rows[1:]]


@pytest.mark.parametrize(("fmt", "read"), [("parquet", _read_parquet), ("xlsx", _read_xlsx)])
def test_a_zero_tolerance_flags_the_four_cent_difference_in_every_format(warehouses, halo_env, fmt, read, store):
    seed_two_servers(warehouses)
    request = create_request(store,
        "payment_reconciliation", {"period_start": "2024-03-04", "period_end": "2024-03-11", "format": fmt}, wait=True,
    )
    assert request["status"] == "SUCCEEDED", request["error"]
    issues = read(Path(halo_env["HALO_HOME"]) / "outbox" / f"payment_reconciliation_2024-03-04_2024-03-11.{fmt}")
    assert sorted(issues) == sorted([(e[0], e[3]) for e in EXPECTED] + [("O06", "AMOUNT_MISMATCH")])


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (dt.date(2024, 3, 11), (dt.date(2024, 3, 4), dt.date(2024, 3, 11))),  # Monday
        (dt.date(2024, 3, 17), (dt.date(2024, 3, 4), dt.date(2024, 3, 11))),  # Sunday
        (dt.date(2024, 1, 3), (dt.date(2023, 12, 25), dt.date(2024, 1, 1))),  # across a year
    ],
)
def test_the_default_period_is_the_previous_iso_week(today, expected):
    assert previous_iso_week(today) == expected


def test_several_payments_and_settlements_per_order_are_summed_and_each_one_checked(warehouses, halo_env, store):
    write_payments(warehouses["payments"], [
        order("O20", "100.00", "PAID", START),  # one of two settlements in SGD: CURRENCY_MISMATCH
        order("O21", "100.00", "PAID", START),  # second payment unsettled: MISSING_SETTLEMENT names it
        order("O22", "100.00", "PAID", START),  # two payments summing to 120: AMOUNT_MISMATCH
    ], [
        payment("P20", "O20", "100.00", START),
        payment("P21a", "O21", "50.00", START), payment("P21b", "O21", "50.00", START),
        payment("P22a", "O22", "60.00", START), payment("P22b", "O22", "60.00", START),
    ])
    write_settlements(warehouses["gateway"], [
        settlement("S20a", "P20", "50.00", LATER), settlement("S20b", "P20", "50.00", LATER, currency="SGD"),
        settlement("S21", "P21a", "50.00", LATER),
        settlement("S22a", "P22a", "60.00", LATER), settlement("S22b", "P22b", "60.00", LATER),
    ])
    assert _week_rows(store, halo_env) == [
        ("O20", "P20", "S20a", "CURRENCY_MISMATCH", "100.00", "100.00", "100.00"),
        ("O21", "P21b", "S21", "MISSING_SETTLEMENT", "100.00", "100.00", "50.00"),
        ("O22", "P22a", "S22a", "AMOUNT_MISMATCH", "100.00", "120.00", "120.00"),
    ]


def test_a_settlement_stamped_before_the_period_in_utc_or_not_yet_counts(warehouses, halo_env, store):
    """The gateway stores UTC and payments local time: an order paid at 00:30 on the period's
    first day (Jakarta) is settled the evening before in UTC. That settlement, and one not yet
    given a settled_at, are the payment's settlement: neither payment is MISSING_SETTLEMENT; only
    the payment with no settlement at all is."""
    created = dt.datetime(2024, 3, 4, 0, 30)
    write_payments(warehouses["payments"], [
        order("O30", "100.00", "PAID", created), order("O31", "100.00", "PAID", created),
        order("O32", "100.00", "PAID", created), order("O33", "100.00", "PAID", created),
    ], [
        payment("P30", "O30", "100.00", created), payment("P31", "O31", "100.00", created),
        payment("P32", "O32", "100.00", created), payment("P33", "O33", "100.00", created),
    ])
    write_settlements(warehouses["gateway"], [
        settlement("S30", "P30", "100.00", dt.datetime(2024, 3, 3, 18, 0)),  # 2024-03-04 01:00 in Jakarta
        settlement("S31", "P31", "100.00", None),  # not stamped yet
        settlement("S33", "P33", "90.00", dt.datetime(2024, 3, 3, 18, 0)),  # found early: its amount checked
    ])
    assert _week_rows(store, halo_env) == [
        ("O32", "P32", "", "MISSING_SETTLEMENT", "100.00", "100.00", ""),
        ("O33", "P33", "S33", "AMOUNT_MISMATCH", "100.00", "100.00", "90.00"),
    ]


def _unknown(row: dict, **fields: None) -> dict:
    return {**row, **fields}


def test_an_amount_currency_or_status_the_warehouses_do_not_have_is_a_problem_row_not_a_clean_order(
        warehouses, halo_env, store):
    """A NULL amount or currency cannot be shown to match, so it is the mismatch it may hide: an
    AMOUNT_MISMATCH / CURRENCY_MISMATCH row whose unknown amount is left blank (a NULL compared in
    SQL is neither true nor false, and each of these orders was left out of a green report). A
    total with an unknown part is unknown, not the sum of the known parts; a payment for an order
    with no status is a payment for an order that is not PAID."""
    write_payments(warehouses["payments"], [
        order("O40", "100.00", "PAID", START),  # its payment's amount is NULL
        order("O41", "100.00", "PAID", START),  # its payment's currency is NULL
        _unknown(order("O42", "100.00", "PAID", START), amount=None),  # the order's amount is NULL
        _unknown(order("O43", "100.00", "PAID", START), currency=None),  # the order's currency is NULL
        order("O44", "100.00", "PAID", START),  # its settlement's amount is NULL
        order("O45", "100.00", "PAID", START),  # its settlement's currency is NULL
        order("O46", "100.00", "PAID", START),  # one of two payments has no amount: the total is unknown
        _unknown(order("O47", "100.00", "PAID", START), status=None),  # paid, the order has no status
        order("O48", "100.00", "PAID", START),  # clean: not listed
    ], [
        _unknown(payment("P40", "O40", "100.00", START), amount=None),
        _unknown(payment("P41", "O41", "100.00", START), currency=None),
        payment("P42", "O42", "100.00", START), payment("P43", "O43", "100.00", START),
        payment("P44", "O44", "100.00", START), payment("P45", "O45", "100.00", START),
        payment("P46a", "O46", "100.00", START), _unknown(payment("P46b", "O46", "0.00", START), amount=None),
        payment("P47", "O47", "100.00", START), payment("P48", "O48", "100.00", START),
    ])
    write_settlements(warehouses["gateway"], [
        settlement("S40", "P40", "100.00", LATER), settlement("S41", "P41", "100.00", LATER),
        settlement("S42", "P42", "100.00", LATER), settlement("S43", "P43", "100.00", LATER),
        _unknown(settlement("S44", "P44", "100.00", LATER), amount=None),
        _unknown(settlement("S45", "P45", "100.00", LATER), currency=None),
        settlement("S46a", "P46a", "100.00", LATER), settlement("S46b", "P46b", "0.00", LATER),
        settlement("S47", "P47", "100.00", LATER), settlement("S48", "P48", "100.00", LATER),
    ])
    request = create_request(store, "payment_reconciliation", {"period_start": "2024-03-04", "period_end": "2024-03-11"},
                             wait=True)
    assert request["status"] == "SUCCEEDED", request["error"]
    rows = read_csv(Path(halo_env["HALO_HOME"]) / "outbox" / "payment_reconciliation_2024-03-04_2024-03-11.csv")
    assert [tuple(r[c] for c in COLUMNS) for r in rows] == [
        ("O40", "P40", "S40", "AMOUNT_MISMATCH", "100.00", "", "100.00", "IDR"),
        ("O41", "P41", "S41", "CURRENCY_MISMATCH", "100.00", "100.00", "100.00", "IDR"),
        ("O42", "P42", "S42", "AMOUNT_MISMATCH", "", "100.00", "100.00", "IDR"),
        ("O43", "P43", "S43", "CURRENCY_MISMATCH", "100.00", "100.00", "100.00", ""),
        ("O44", "P44", "S44", "AMOUNT_MISMATCH", "100.00", "100.00", "", "IDR"),
        ("O45", "P45", "S45", "CURRENCY_MISMATCH", "100.00", "100.00", "100.00", "IDR"),
        ("O46", "P46a", "S46a", "AMOUNT_MISMATCH", "100.00", "", "100.00", "IDR"),
        ("O47", "P47", "S47", "UNEXPECTED_PAYMENT", "100.00", "100.00", "100.00", "IDR"),
    ]
    assert request["stats"]["counts"] == {"AMOUNT_MISMATCH": 4, "CURRENCY_MISMATCH": 3, "UNEXPECTED_PAYMENT": 1}
