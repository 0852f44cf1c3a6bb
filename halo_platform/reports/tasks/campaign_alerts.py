"""Campaign alerts: ACTIVE campaigns about to end or near / over their budget."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from halo_platform.reports.task import Date, Field, Integer, Number, Query, RunContext, Task, TaskCheck, TaskConfig

ALERTS = ("EXPIRING", "NEAR_BUDGET", "OVER_BUDGET")


class CampaignAlertsConfig(TaskConfig):
    """Alerts as of `as_of` (default: today in the schedule's timezone)."""

    as_of: Date | None = Field(default=None, description="Day of the alerts (default: today in the schedule's timezone).")
    expiring_within_days: Integer = Field(default=3, ge=0, le=366, description="EXPIRING when the campaign ends within this many days.")
    budget_threshold_pct: Number = Field(default=90.0, gt=0, le=100, description="NEAR_BUDGET from this % of the budget spent.")
    rearm_hours: Number = Field(default=24.0, ge=0, le=8760, description=(
        "An alert (campaign + kind) already sent within this many hours is not sent again (0: every run)."))


def resolve(payload: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
    return {**payload, "as_of": payload.get("as_of") or ctx.today}


def message(rows: list[dict], payload: Mapping[str, Any]) -> str:
    """The short human text (email body, Slack message) listing the alerts."""
    lines = [f"{len(rows)} campaign alert(s) as of {payload['as_of']}:"]
    for row in rows:
        lines.append(
            f"- {row['alert']}: {row['name']} ({row['campaign_id']}) ends {row['end_date']},"
            f" spent {row['spend']} of {row['budget']} ({row['spend_pct']}%)"
        )
    return "\n".join(lines)


QUERIES = {
    "campaigns": Query(
        "marketing",
        "SELECT campaign_id, name, owner_email, end_date, budget FROM campaigns WHERE status = 'ACTIVE'",
    ),
    "spend": Query(
        "marketing",
        "SELECT campaign_id, sum(amount) AS spend FROM campaign_spend WHERE spend_date <= :as_of GROUP BY campaign_id",
        lambda payload: {"as_of": payload["as_of"]},
    ),
}

# Budget comparisons are exact (decimal): spend * 100 >= budget * threshold.
TRANSFORM = """
WITH j AS (
    SELECT c.campaign_id, c.name, c.owner_email, CAST(c.end_date AS DATE) AS end_date,
           CAST(c.budget AS DECIMAL(14,2)) AS budget, CAST(coalesce(s.spend, 0) AS DECIMAL(14,2)) AS spend
    FROM campaigns c LEFT JOIN spend s USING (campaign_id)
), a AS (
    SELECT *, 'EXPIRING' AS alert FROM j
    WHERE end_date BETWEEN CAST($as_of AS DATE) AND CAST($as_of AS DATE) + CAST($expiring_within_days AS INTEGER)
    UNION ALL
    SELECT *, 'NEAR_BUDGET' FROM j
    WHERE spend * 100 >= budget * CAST($budget_threshold_pct AS DECIMAL(9,4)) AND spend < budget
    UNION ALL
    SELECT *, 'OVER_BUDGET' FROM j WHERE spend >= budget
)
SELECT campaign_id, name, owner_email, alert, end_date, budget, spend,
       CASE WHEN budget > 0 THEN CAST(round(spend * 100 / budget, 2) AS DECIMAL(9,2)) END AS spend_pct
FROM a ORDER BY campaign_id, alert
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
    checks=(
        TaskCheck(
            "no_campaign_over_budget",
            "WARN when any ACTIVE campaign has spent its whole budget or more (OVER_BUDGET).",
            lambda counts: counts.get("OVER_BUDGET", 0) == 0,
            alert=True,
        ),
    ),
    tags={"halo/area": "marketing"},
)
