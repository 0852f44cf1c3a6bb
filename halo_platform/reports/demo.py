"""Demo warehouses for the report tasks, in the spec's schema, and the default schedules.

`write_payments` / `write_settlements` / `write_marketing` (re)create the tables in any
SQLAlchemy database (or a DuckDB file for marketing); tests use them with hand-made rows,
`seed` with demo rows that exercise every reconciliation issue and every campaign alert.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from halo_platform.core.errors import HaloError
from halo_platform.core.settings import Settings
from halo_platform.core.warehouses import warehouse_urls

_meta = sa.MetaData()
ORDERS = sa.Table(
    "orders", _meta,
    sa.Column("order_id", sa.String(64), primary_key=True), sa.Column("user_id", sa.String(64)),
    sa.Column("amount", sa.Numeric(12, 2)), sa.Column("currency", sa.String(3)), sa.Column("status", sa.String(16)),
    sa.Column("created_at", sa.DateTime),
)
PAYMENTS = sa.Table(
    "payments", _meta,
    sa.Column("payment_id", sa.String(64), primary_key=True), sa.Column("order_id", sa.String(64), index=True),
    sa.Column("amount", sa.Numeric(12, 2)), sa.Column("currency", sa.String(3)), sa.Column("paid_at", sa.DateTime),
    sa.Column("gateway", sa.String(32)),
)
SETTLEMENTS = sa.Table(
    "settlements", _meta,
    sa.Column("settlement_id", sa.String(64), primary_key=True), sa.Column("payment_id", sa.String(64), index=True),
    sa.Column("amount", sa.Numeric(12, 2)), sa.Column("fee", sa.Numeric(12, 2)), sa.Column("currency", sa.String(3)),
    sa.Column("settled_at", sa.DateTime),
)
MARKETING_DDL = """
CREATE OR REPLACE TABLE campaigns(campaign_id TEXT PRIMARY KEY, name TEXT, owner_email TEXT, start_date DATE,
    end_date DATE, budget NUMERIC(12,2), currency TEXT, status TEXT);
CREATE OR REPLACE TABLE campaign_spend(campaign_id TEXT, spend_date DATE, amount NUMERIC(12,2));
"""


def _replace(url: str, tables: Sequence[sa.Table], rows: Sequence[Sequence[dict]]) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, hide_parameters=True)
    try:
        with engine.begin() as conn:
            for table in reversed(tables):
                table.drop(conn, checkfirst=True)
            for table, batch in zip(tables, rows, strict=True):
                table.create(conn)
                if batch:
                    conn.execute(table.insert(), list(batch))
    finally:
        engine.dispose()


def write_payments(url: str, orders: Sequence[dict], payments: Sequence[dict]) -> None:
    """(Re)create `orders` and `payments` in the payments warehouse."""
    _replace(url, [ORDERS, PAYMENTS], [orders, payments])


def write_settlements(url: str, settlements: Sequence[dict]) -> None:
    """(Re)create `settlements` in the gateway warehouse."""
    _replace(url, [SETTLEMENTS], [settlements])


def write_marketing(path: Path, campaigns: Sequence[dict], spend: Sequence[dict]) -> None:
    """(Re)create `campaigns` and `campaign_spend` in a DuckDB file."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute(MARKETING_DDL)
        for c in campaigns:
            con.execute("INSERT INTO campaigns VALUES ($campaign_id, $name, $owner_email, $start_date, $end_date,"
                        " $budget, $currency, $status)", c)
        for s in spend:
            con.execute("INSERT INTO campaign_spend VALUES ($campaign_id, $spend_date, $amount)", s)


def order(oid: str, amount: str, status: str, created_at: dt.datetime, currency: str = "IDR") -> dict:
    return {"order_id": oid, "user_id": f"u-{oid}", "amount": Decimal(amount), "currency": currency,
            "status": status, "created_at": created_at}


def payment(pid: str, oid: str, amount: str, paid_at: dt.datetime, currency: str = "IDR") -> dict:
    return {"payment_id": pid, "order_id": oid, "amount": Decimal(amount), "currency": currency,
            "paid_at": paid_at, "gateway": "xendit"}


def settlement(sid: str, pid: str, amount: str, settled_at: dt.datetime, currency: str = "IDR", fee: str = "1.00") -> dict:
    return {"settlement_id": sid, "payment_id": pid, "amount": Decimal(amount), "fee": Decimal(fee),
            "currency": currency, "settled_at": settled_at}


def campaign(cid: str, end_date: dt.date, budget: str, status: str = "ACTIVE", start_date: dt.date | None = None) -> dict:
    return {"campaign_id": cid, "name": f"Campaign {cid}", "owner_email": f"owner.{cid.lower()}@example.com",
            "start_date": start_date or end_date - dt.timedelta(days=60), "end_date": end_date,
            "budget": Decimal(budget), "currency": "IDR", "status": status}


def demo_payments(monday: dt.date) -> tuple[list[dict], list[dict], list[dict]]:
    """Orders of the ISO week starting `monday` with one example of every issue, plus clean ones."""
    t = dt.datetime.combine(monday, dt.time(9))
    orders, payments, settlements = [], [], []
    for i in range(1, 21):  # clean orders: paid, settled, fee kept apart
        oid = f"O{i:04d}"
        orders.append(order(oid, f"{100 + i}.00", "PAID", t + dt.timedelta(hours=i)))
        payments.append(payment(f"P{i:04d}", oid, f"{100 + i}.00", t + dt.timedelta(hours=i, minutes=5)))
        settlements.append(settlement(f"S{i:04d}", f"P{i:04d}", f"{100 + i}.00", t + dt.timedelta(days=1, hours=i)))
    orders += [
        order("O9001", "50.00", "PAID", t),  # MISSING_PAYMENT
        order("O9002", "60.00", "CANCELLED", t),  # UNEXPECTED_PAYMENT
        order("O9003", "70.00", "PAID", t),  # MISSING_SETTLEMENT
        order("O9004", "80.00", "PAID", t),  # AMOUNT_MISMATCH (paid)
        order("O9005", "90.00", "PAID", t),  # CURRENCY_MISMATCH (settlement)
        order("O9006", "10.00", "PENDING", t),  # no payment: fine
    ]
    payments += [
        payment("P9002", "O9002", "60.00", t), payment("P9003", "O9003", "70.00", t),
        payment("P9004", "O9004", "85.00", t), payment("P9005", "O9005", "90.00", t),
    ]
    settlements += [
        settlement("S9002", "P9002", "60.00", t + dt.timedelta(days=1)),
        settlement("S9004", "P9004", "85.00", t + dt.timedelta(days=1)),
        settlement("S9005", "P9005", "90.00", t + dt.timedelta(days=1), currency="USD"),
    ]
    return orders, payments, settlements


def demo_campaigns(today: dt.date) -> tuple[list[dict], list[dict]]:
    """Campaigns with every alert type as of `today`, and quiet ones."""
    campaigns = [
        campaign("C001", today + dt.timedelta(days=2), "1000.00"),  # EXPIRING
        campaign("C002", today + dt.timedelta(days=30), "1000.00"),  # NEAR_BUDGET (95%)
        campaign("C003", today + dt.timedelta(days=30), "1000.00"),  # OVER_BUDGET (120%)
        campaign("C004", today + dt.timedelta(days=30), "1000.00"),  # quiet (10%)
        campaign("C005", today + dt.timedelta(days=1), "1000.00", status="PAUSED"),  # not ACTIVE
    ]
    spend = [
        {"campaign_id": "C002", "spend_date": today - dt.timedelta(days=1), "amount": Decimal("950.00")},
        {"campaign_id": "C003", "spend_date": today - dt.timedelta(days=2), "amount": Decimal("1200.00")},
        {"campaign_id": "C004", "spend_date": today - dt.timedelta(days=3), "amount": Decimal("100.00")},
    ]
    return campaigns, spend


DEMO_WAREHOUSES = ("payments", "gateway", "marketing")


def seed(settings: Settings) -> Iterator[str]:
    """`halo demo`: the three demo warehouses of HALO_WAREHOUSES_FILE and the default schedules."""
    from halo_platform.reports.schedules import seed_default_schedules
    from halo_platform.reports.tasks.payment_reconciliation import previous_iso_week

    urls = warehouse_urls(settings.warehouses_file, settings)
    # a file of other warehouses (the operator's own) was a bare KeyError 'gateway' half-way through the demo
    if missing := [name for name in DEMO_WAREHOUSES if name not in urls]:
        raise HaloError(f"{settings.warehouses_file}: halo demo seeds the warehouses {', '.join(DEMO_WAREHOUSES)}; "
                        f"this file has no {', '.join(missing)}")
    if not urls["marketing"].startswith("duckdb:///"):
        raise HaloError(f"{settings.warehouses_file}: halo demo seeds marketing as a DuckDB file (duckdb:///...)")
    today = dt.datetime.now(ZoneInfo("Asia/Jakarta")).date()
    monday, _ = previous_iso_week(today)
    orders, payments, settlements = demo_payments(monday)
    for name in ("payments", "gateway"):
        url = sa.make_url(urls[name])
        if url.get_backend_name() == "sqlite" and url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    write_payments(urls["payments"], orders, payments)
    write_settlements(urls["gateway"], settlements)
    yield f"reports: payments warehouse: {len(orders)} orders, {len(payments)} payments (week of {monday})"
    yield f"reports: gateway warehouse: {len(settlements)} settlements"
    marketing = urls["marketing"].split("duckdb:///", 1)[1]
    campaigns, spend = demo_campaigns(today)
    write_marketing(Path(marketing), campaigns, spend)
    yield f"reports: marketing warehouse: {len(campaigns)} campaigns as of {today}"
    from halo_platform.reports.definitions import defs

    created = seed_default_schedules(defs.resources["store"])
    yield f"reports: schedules seeded: {', '.join(created) or 'already present'}"
