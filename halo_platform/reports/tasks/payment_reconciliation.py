"""Payment reconciliation: orders (payments warehouse) against payments and gateway settlements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from halo_platform.core.errors import HaloError
from halo_platform.reports.task import (
    Date,
    Field,
    Money,
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
        raise HaloError(f"period_end ({resolved['period_end']}) must be after period_start ({resolved['period_start']})")
    return resolved


def _period(payload: Mapping[str, Any]) -> dict[str, dt.datetime]:
    return {
        "start": dt.datetime.combine(payload["period_start"], dt.time()),
        "end": dt.datetime.combine(payload["period_end"], dt.time()),
    }


# Orders and their payments come from the same warehouse, so payments are filtered by the
# order's period there. Settlements live elsewhere: a settlement of an order created in the
# period is settled on or after the period start, which bounds what is fetched.
QUERIES = {
    "orders": Query(
        "payments",
        "SELECT order_id, amount, currency, status FROM orders WHERE created_at >= :start AND created_at < :end",
        _period,
    ),
    "payments": Query(
        "payments",
        "SELECT p.payment_id, p.order_id, p.amount, p.currency FROM payments p JOIN orders o ON o.order_id = p.order_id"
        " WHERE o.created_at >= :start AND o.created_at < :end",
        _period,
    ),
    "settlements": Query(
        "gateway",
        "SELECT settlement_id, payment_id, amount, currency FROM settlements WHERE settled_at >= :start",
        lambda payload: {"start": _period(payload)["start"]},
    ),
}

# One row per (order, issue), in stages that DuckDB runs one after the other (each a table the
# next one reads: one stage's hash tables in memory at a time, finished stages spilled to the
# database file under the memory limit). Payments are aggregated per order (an order may have
# several payments, a payment several settlements; amounts are summed, the smallest ids
# shown), each order gets its list of issues, and the list is unnested. Aggregates only (no
# DISTINCT), so DuckDB can spill them to disk too.
TRANSFORM = {
    "settled": """
        SELECT payment_id, min(settlement_id) AS settlement_id, sum(CAST(amount AS DECIMAL(14,2))) AS settled,
               min(currency) AS s_cur_min, max(currency) AS s_cur_max
        FROM settlements GROUP BY payment_id""",
    "paid": """
        SELECT p.order_id, p.payment_id, CAST(p.amount AS DECIMAL(14,2)) AS paid, p.currency, s.* EXCLUDE (payment_id)
        FROM payments p LEFT JOIN settled s USING (payment_id)""",
    "paid_orders": """
        SELECT order_id, min(payment_id) AS payment_id, min(settlement_id) AS settlement_id,
               min(payment_id) FILTER (WHERE settlement_id IS NULL) AS unsettled_payment_id,
               sum(paid) AS paid_amount, sum(settled) AS settled_amount,
               bool_or(abs(settled - paid) > CAST($tolerance AS DECIMAL(14,2))) AS settled_off,
               min(currency) AS p_cur_min, max(currency) AS p_cur_max,
               bool_or(s_cur_min <> currency OR s_cur_max <> currency) AS s_cur_off
        FROM paid GROUP BY order_id""",
    "result": """
        WITH flagged AS (
            SELECT o.order_id, CAST(o.amount AS DECIMAL(14,2)) AS order_amount, o.currency, po.* EXCLUDE (order_id), [
                CASE WHEN o.status = 'PAID' AND po.payment_id IS NULL THEN 'MISSING_PAYMENT' END,
                CASE WHEN o.status <> 'PAID' AND po.payment_id IS NOT NULL THEN 'UNEXPECTED_PAYMENT' END,
                CASE WHEN po.unsettled_payment_id IS NOT NULL THEN 'MISSING_SETTLEMENT' END,
                CASE WHEN po.payment_id IS NOT NULL AND (abs(po.paid_amount - CAST(o.amount AS DECIMAL(14,2)))
                     > CAST($tolerance AS DECIMAL(14,2)) OR po.settled_off) THEN 'AMOUNT_MISMATCH' END,
                CASE WHEN po.p_cur_min <> o.currency OR po.p_cur_max <> o.currency OR po.s_cur_off
                     THEN 'CURRENCY_MISMATCH' END
            ] AS issues
            FROM orders o LEFT JOIN paid_orders po USING (order_id)
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
