"""Campaign alerts: ACTIVE campaigns about to end or near / over their budget."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from halo_platform.core.text import as_one_line
from halo_platform.reports.rearm import LONGEST_REARM_HOURS
from halo_platform.reports.task import (
    Date,
    Field,
    Integer,
    JsonNumber,
    Number,
    Query,
    RunContext,
    Task,
    TaskCheck,
    TaskConfig,
    field_validator,
)

ALERTS = ("EXPIRING", "NEAR_BUDGET", "OVER_BUDGET")
# The threshold is compared exactly, as written (the transform's integer arithmetic holds this many).
THRESHOLD_DECIMALS = 10


def _decimal(value: float) -> Decimal:
    """A float as the decimal it was written as (its shortest repr: 99.99999, not 99.9999899999...)."""
    return Decimal(repr(value))


def _comparable(value: Any) -> Any:
    """Refuse a threshold with more decimals than are compared, counted as written: the float
    parse rounds the text "90.00000000000000001" to 90.0, which alerted at exactly 90%. What is
    no finite number here is left to the number parse to refuse."""
    if isinstance(value, bool) or not isinstance(value, str | float | int):
        return value
    try:
        exact = Decimal(value.strip() if isinstance(value, str) else value.text if isinstance(value, JsonNumber) else repr(value))
    except InvalidOperation:
        return value
    if exact.is_finite() and max(0, -exact.normalize().as_tuple().exponent) > THRESHOLD_DECIMALS:
        raise ValueError(f"at most {THRESHOLD_DECIMALS} decimal places")
    return value


class CampaignAlertsConfig(TaskConfig):
    """Alerts as of `as_of` (default: today in the schedule's timezone)."""

    as_of: Date | None = Field(default=None, description="Day of the alerts (default: today in the schedule's timezone).")
    expiring_within_days: Integer = Field(default=3, ge=0, le=366, description="EXPIRING when the campaign ends within this many days.")
    budget_threshold_pct: Number = Field(default=90.0, gt=0, le=100, description="NEAR_BUDGET from this % of the budget spent.")
    rearm_hours: Number = Field(default=24.0, ge=0, le=LONGEST_REARM_HOURS, description=(
        "An alert (campaign + kind) already sent within this many hours is not sent again (0: every run)."))

    _threshold_comparable = field_validator("budget_threshold_pct", mode="before")(_comparable)


def resolve(payload: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
    # the threshold as the exact decimal it was written as, for the transform to compare exactly
    return {**payload, "as_of": payload.get("as_of") or ctx.today,
            "budget_threshold_pct": _decimal(payload["budget_threshold_pct"])}


def _shown(value: Any) -> str:  # noqa: ANN401 - a warehouse's value
    """A warehouse's value on one line of the message, at most 200 characters: a campaign name
    holding a line break wrote a line of its own, an alert that no campaign raised."""
    return as_one_line(str(value), 200).replace("\u2028", " ").replace("\u2029", " ")


def message(rows: list[dict], payload: Mapping[str, Any]) -> str:
    """The short human text (email body, Slack message) listing the alerts."""
    total = payload.get("row_count", len(rows))  # `rows` are the result's first rows
    lines = [f"{total} campaign alert(s) as of {payload['as_of']}:"]
    for row in rows:  # a value the warehouse does not have (no name, no end date; no % of a zero budget) is left out
        named = _shown(row["campaign_id"]) if row["name"] is None else f"{_shown(row['name'])} ({_shown(row['campaign_id'])})"
        ends = "" if row["end_date"] is None else f" ends {row['end_date']}"
        pct = "" if row["spend_pct"] is None else f" ({row['spend_pct']}%)"
        lines.append(f"- {row['alert']}: {named}{ends}, spent {row['spend']} of {row['budget']}{pct}")
    if total > len(rows):
        lines.append(f"- and {total - len(rows)} more in the file")
    return "\n".join(lines)


# The warehouse only narrows what is fetched; statuses and ids are compared, and spend summed per
# campaign, in DuckDB (stages `active` and `spent`), byte for byte: in a MariaDB warehouse, whose
# collation ignores letter case and trailing spaces, a campaign 'active' was judged and campaign
# 'c1's spend counted for C1.
QUERIES = {
    "campaigns": Query(
        "marketing",
        "SELECT campaign_id, name, owner_email, end_date, budget, status FROM campaigns WHERE status = 'ACTIVE'",
    ),
    "spend": Query(
        "marketing",
        "SELECT campaign_id, amount, spend_date FROM campaign_spend"
        " WHERE (spend_date <= :as_of OR spend_date IS NULL)"
        " AND campaign_id IN (SELECT campaign_id FROM campaigns WHERE status = 'ACTIVE')",
        lambda payload: {"as_of": payload["as_of"]},
    ),
}

# Budget comparisons are exact, in integers (cents, and the threshold in 1e-10 percent): NEAR_BUDGET
# when spend * 100 >= budget * threshold. DuckDB's DECIMAL arithmetic overflows or turns to DOUBLE
# long before the schema's NUMERIC(12,2) ranges run out; HUGEINT holds any of them. A budget or a
# spend the warehouse does not have (NULL) is unknown, not zero: no budget alert is judged on it,
# and `UNJUDGED` names the campaign so that the request fails rather than saying nothing of it. A
# spend row with no date may be spend to as_of or not: it makes the spend unknown too (left out by
# `spend_date <= as_of`, it made the spend smaller, and an over-budget campaign NEAR_BUDGET).
TRANSFORM = {
    "active": "SELECT * EXCLUDE (status) FROM campaigns WHERE status = 'ACTIVE'",
    "spent": """
        SELECT campaign_id, sum(CAST(amount AS DECIMAL(38,2))) AS spend,
               count(*) FILTER (WHERE amount IS NULL AND spend_date IS NOT NULL) AS unknown_amounts,
               count(*) - count(spend_date) AS undated
        FROM spend WHERE campaign_id IN (SELECT campaign_id FROM active) GROUP BY campaign_id""",
    "result": """
WITH j AS (
    SELECT c.campaign_id, c.name, c.owner_email, CAST(c.end_date AS DATE) AS end_date,
           CAST(c.budget AS DECIMAL(38,2)) AS budget,
           CAST(CASE WHEN coalesce(s.unknown_amounts, 0) = 0 AND coalesce(s.undated, 0) = 0 THEN coalesce(s.spend, 0) END AS DECIMAL(38,2)) AS spend
    FROM active c LEFT JOIN spent s USING (campaign_id)
), cents AS (
    SELECT *, CAST(budget * 100 AS HUGEINT) AS budget_cents, CAST(spend * 100 AS HUGEINT) AS spend_cents FROM j
), a AS (
    SELECT *, 'EXPIRING' AS alert FROM cents
    WHERE end_date BETWEEN CAST($as_of AS DATE) AND CAST($as_of AS DATE) + CAST($expiring_within_days AS INTEGER)
    UNION ALL
    SELECT *, 'NEAR_BUDGET' FROM cents
    WHERE spend_cents * 1000000000000
          >= budget_cents * CAST(CAST($budget_threshold_pct AS DECIMAL(38,10)) * 10000000000 AS HUGEINT)
      AND spend < budget
    UNION ALL
    SELECT *, 'OVER_BUDGET' FROM cents WHERE spend >= budget
)
SELECT campaign_id, name, owner_email, alert, end_date, budget, spend,
       -- spend * 100 / budget in hundredths, rounded half away from zero
       CASE WHEN budget > 0 THEN CAST(sign(spend_cents) * ((abs(spend_cents) * 20000 + budget_cents) // (2 * budget_cents))
                                      AS DECIMAL(38,0)) * 0.01 END AS spend_pct
FROM a ORDER BY campaign_id, alert
""",
}

UNJUDGED = """
SELECT 'ACTIVE campaign ' || campaign_id || ' has no budget: NEAR_BUDGET and OVER_BUDGET not judged' AS problem
FROM active WHERE budget IS NULL
UNION ALL
SELECT 'ACTIVE campaign ' || campaign_id || ': ' || unknown_amounts || ' spend row(s) to ' || CAST($as_of AS DATE)
       || ' have no amount: its spend is unknown, NEAR_BUDGET and OVER_BUDGET not judged'
FROM active JOIN spent USING (campaign_id) WHERE unknown_amounts > 0
UNION ALL
SELECT 'ACTIVE campaign ' || campaign_id || ': ' || undated || ' spend row(s) have no date: its spend to '
       || CAST($as_of AS DATE) || ' is unknown, NEAR_BUDGET and OVER_BUDGET not judged'
FROM active JOIN spent USING (campaign_id) WHERE undated > 0
ORDER BY problem
"""

TASK = Task(
    name="campaign_alerts",
    description="ACTIVE campaigns ending soon (EXPIRING) or near / over budget, with a short message to their owners.",
    owner="team:marketing",
    config=CampaignAlertsConfig,
    queries=QUERIES,
    transform=TRANSFORM,
    file_stem=lambda p: f"campaign_alerts_{p['as_of']}",
    default_sinks=("outbox",),
    resolve=resolve,
    format_of=lambda payload: "csv",
    count_by="alert",
    message=message,
    deliver_when_empty=False,
    rearm_key=("campaign_id", "alert"),
    unjudged=UNJUDGED,
    checks=(
        TaskCheck(
            "no_campaign_over_budget",
            "WARN when any ACTIVE campaign has spent its whole budget or more (OVER_BUDGET).",
            lambda counts: counts.get("OVER_BUDGET", 0) == 0,
            alert=True,
            # `||` with a NULL is NULL: a part the warehouse does not have (no name; no % of a zero budget) is left out
            failing="SELECT 'campaign ' || campaign_id || coalesce(' (' || name || ')', '') || ': spent ' || spend || ' of '"
                    " || budget || coalesce(' (' || spend_pct || '%)', '') FROM result WHERE alert = 'OVER_BUDGET'"
                    " ORDER BY campaign_id",
        ),
    ),
    tags={"halo/area": "marketing"},
)
