"""Payment reconciliation: orders (payments warehouse) against payments and gateway settlements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from halo_platform.reports.task import (
    Date,
    Field,
    Money,
    PayloadError,
    Query,
    ReportFormat,
    RunContext,
    Task,
    TaskCheck,
    TaskConfig,
    after_field,
    field_validator,
)

ISSUES = ("MISSING_PAYMENT", "UNEXPECTED_PAYMENT", "MISSING_SETTLEMENT", "AMOUNT_MISMATCH", "CURRENCY_MISMATCH")


class PaymentReconciliationConfig(TaskConfig):
    """Orders created in [period_start, period_end) (default: the previous ISO week)."""

    period_start: Date | None = Field(default=None, description="First day of the period (default: the previous ISO week's Monday).")
    period_end: Date | None = Field(default=None, description="Day after the period, excluded; after period_start.")
    tolerance: Money = Field(default=Decimal("0.00"), ge=0, description="Largest amount difference that is not a mismatch.")
    format: ReportFormat = Field(default=ReportFormat.csv, description="Output file format.")

    _end_after_start = field_validator("period_end")(after_field("period_start"))


def previous_iso_week(today: dt.date) -> tuple[dt.date, dt.date]:
    """[Monday, next Monday) of the ISO week before the one holding `today`."""
    monday = today - dt.timedelta(days=today.weekday())
    return monday - dt.timedelta(days=7), monday


def resolve(payload: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
    start, end = previous_iso_week(ctx.today)
    resolved = dict(payload)
    resolved["period_start"] = payload.get("period_start") or start
    resolved["period_end"] = payload.get("period_end") or end
    if resolved["period_end"] <= resolved["period_start"]:  # one of them defaulted: checked as dates here
        # named after the field that was given (the other one defaulted), for the API and the forms
        given = "period_start" if payload.get("period_start") and not payload.get("period_end") else "period_end"
        why = f"period_end ({resolved['period_end']}) must be after period_start ({resolved['period_start']})"
        raise PayloadError("payment_reconciliation", [{"field": given, "reason": why}], why)
    return resolved


# How long before the period start a settlement of its payments may be stamped (UTC vs local time).
SETTLEMENT_LEAD = dt.timedelta(days=1)


def _period(payload: Mapping[str, Any]) -> dict[str, dt.datetime]:
    return {
        "start": dt.datetime.combine(payload["period_start"], dt.time()),
        "end": dt.datetime.combine(payload["period_end"], dt.time()),
    }


# The period's orders, and the payments naming one of them; both are joined in DuckDB (one row per
# (order, payment), an order without payment once with an empty payment), where ids compare byte
# for byte: joined in a MariaDB warehouse, its collation ignores letter case and trailing spaces,
# and a payment of order 'o1 ' paid order O1 (the IN only fetches; DuckDB decides). Settlements live
# elsewhere and are joined to their payment by id; what is fetched is bounded by time. The gateway
# stamps settlements in UTC and the payments warehouse keeps local time, so a payment made early on
# the period's first day is settled, in UTC, the day before (up to 14 hours before, the widest UTC
# offset): the window opens a day before the period start, and takes the settlements not stamped
# yet (settled_at NULL). (Fetching exactly the period's payments' settlements would need a query
# bound to another query's rows, which tasks cannot declare.) Amounts travel as text (exact; the
# transform casts them to DECIMAL) as VARCHAR(40), room for DuckDB's widest DECIMAL, which SQLite,
# PostgreSQL, MariaDB and DuckDB all read alike (MariaDB has no CAST AS TEXT; PostgreSQL's CHAR is
# CHAR(1): a settlement of 100.00 came out '1'). For 1M orders, PostgreSQL writing NUMERIC as text
# halves the load's CPU (the driver's decoding of binary NUMERIC took 0.4 s a column), and DuckDB casts text
# to DECIMAL(14,2) in 0.03 s where it took 0.75 s from the DECIMAL(38,10) that MariaDB's driver gives.
QUERIES = {
    "orders": Query(
        "payments",
        "SELECT order_id, CAST(amount AS VARCHAR(40)) AS amount, currency, status FROM orders"
        " WHERE created_at >= :start AND created_at < :end",
        _period,
    ),
    "payments": Query(
        "payments",
        "SELECT payment_id, order_id, CAST(amount AS VARCHAR(40)) AS paid, currency AS paid_currency FROM payments"
        " WHERE order_id IN (SELECT order_id FROM orders WHERE created_at >= :start AND created_at < :end)",
        _period,
    ),
    "settlements": Query(
        "gateway",
        "SELECT settlement_id, payment_id, CAST(amount AS VARCHAR(40)) AS amount, currency FROM settlements"
        " WHERE settled_at >= :since OR settled_at IS NULL",
        lambda payload: {"since": _period(payload)["start"] - SETTLEMENT_LEAD},
    ),
}

# One row per (order, issue), in stages that DuckDB runs one after the other (each a table the
# next one reads: one stage's hash tables in memory at a time, finished stages spilled to the
# database file under the memory limit). Settlements are aggregated per payment and joined to
# their payment (a payment may have several settlements, an order several payments: amounts
# are summed, the smallest ids shown); then each order gets its list of issues, and the list is
# unnested. Aggregates only (no DISTINCT), so DuckDB can spill them to disk too.
# An amount or currency the warehouses do not have (NULL) cannot be shown to match: it is the
# mismatch it may hide. A comparison with a NULL is neither true nor false in SQL, so each test
# says `IS NOT FALSE` (unknown counts as different), and a total with an unknown part is unknown
# (blank in the file), not the sum of the parts that are known.
# Ids are compared as text: a warehouse may keep them as integers (a gateway's payment_id BIGINT),
# and DuckDB compares a text with an integer as integers, so payment '01002' was settled by
# settlement 1002's payment, and a payment id that is no number ('P-7') failed the run.
TRANSFORM = {
    "order_payments": """
        SELECT CAST(o.order_id AS VARCHAR) AS order_id, o.amount, o.currency, o.status,
               CAST(p.payment_id AS VARCHAR) AS payment_id, p.paid, p.paid_currency
        FROM orders o LEFT JOIN payments p ON CAST(p.order_id AS VARCHAR) = CAST(o.order_id AS VARCHAR)""",
    "settled": """
        SELECT CAST(payment_id AS VARCHAR) AS payment_id, min(settlement_id) AS settlement_id,
               CASE WHEN count(amount) = count(*) THEN sum(CAST(amount AS DECIMAL(14,2))) END AS settled,
               min(currency) AS s_cur_min, max(currency) AS s_cur_max, count(currency) < count(*) AS s_cur_unknown
        FROM settlements GROUP BY payment_id""",
    "paid": """
        SELECT op.*, s.* EXCLUDE (payment_id) FROM order_payments op LEFT JOIN settled s USING (payment_id)""",
    "result": """
        WITH per_order AS (
            SELECT order_id, any_value(CAST(amount AS DECIMAL(14,2))) AS order_amount, any_value(currency) AS currency,
                   any_value(status) AS status, min(payment_id) AS payment_id, min(settlement_id) AS settlement_id,
                   min(payment_id) FILTER (WHERE settlement_id IS NULL) AS unsettled_payment_id,
                   CASE WHEN count(paid) = count(payment_id) THEN sum(CAST(paid AS DECIMAL(14,2))) END AS paid_amount,
                   CASE WHEN count(settled) = count(settlement_id) THEN sum(settled) END AS settled_amount,
                   bool_or(settlement_id IS NOT NULL
                           AND (abs(settled - CAST(paid AS DECIMAL(14,2))) > CAST($tolerance AS DECIMAL(14,2))) IS NOT FALSE)
                       AS settled_off,
                   min(paid_currency) AS p_cur_min, max(paid_currency) AS p_cur_max,
                   count(paid_currency) < count(payment_id) AS p_cur_unknown,
                   bool_or(settlement_id IS NOT NULL
                           AND (s_cur_unknown OR s_cur_min <> paid_currency OR s_cur_max <> paid_currency) IS NOT FALSE)
                       AS s_cur_off
            FROM paid GROUP BY order_id
        ), flagged AS (
            SELECT *, [
                CASE WHEN status = 'PAID' AND payment_id IS NULL THEN 'MISSING_PAYMENT' END,
                CASE WHEN status IS DISTINCT FROM 'PAID' AND payment_id IS NOT NULL THEN 'UNEXPECTED_PAYMENT' END,
                CASE WHEN unsettled_payment_id IS NOT NULL THEN 'MISSING_SETTLEMENT' END,
                CASE WHEN payment_id IS NOT NULL
                     AND ((abs(paid_amount - order_amount) > CAST($tolerance AS DECIMAL(14,2))) IS NOT FALSE OR settled_off)
                     THEN 'AMOUNT_MISMATCH' END,
                CASE WHEN payment_id IS NOT NULL
                     AND ((p_cur_unknown OR p_cur_min <> currency OR p_cur_max <> currency) IS NOT FALSE OR s_cur_off)
                     THEN 'CURRENCY_MISMATCH' END
            ] AS issues
            FROM per_order
        ), issues AS (
            SELECT * EXCLUDE (issues), unnest(list_filter(issues, lambda x: x IS NOT NULL)) AS issue FROM flagged
        )
        SELECT order_id, CASE WHEN issue = 'MISSING_SETTLEMENT' THEN unsettled_payment_id ELSE payment_id END AS payment_id,
               settlement_id, issue, order_amount, paid_amount, settled_amount, currency
        FROM issues ORDER BY order_id, issue""",
}

TASK = Task(
    name="payment_reconciliation",
    description="Orders of a period reconciled against payments and gateway settlements: one row per (order, issue).",
    owner="team:finance",
    config=PaymentReconciliationConfig,
    queries=QUERIES,
    transform=TRANSFORM,
    file_stem=lambda p: f"payment_reconciliation_{p['period_start']}_{p['period_end']}",
    default_sinks=("outbox",),
    resolve=resolve,
    count_by="issue",
    checks=(
        TaskCheck(
            "orders_all_paid_for",
            "WARN when a PAID order of the period has no payment at all (MISSING_PAYMENT).",
            lambda counts: counts.get("MISSING_PAYMENT", 0) == 0,
        ),
    ),
    tags={"halo/area": "finance"},
)
