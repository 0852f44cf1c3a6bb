"""Condition alerts re-arm after `rearm_hours`: an alert (a task's result row, keyed by the
task's `rearm_key` columns, e.g. campaign + OVER_BUDGET) that a delivered request sent within
the window is left out of the next runs' results, so the owner is not told the same thing
every run. The marks live in the operational store (`task_alert_marks`): restarts keep them.

A run marks the alerts it is about to send under its request id (the first run's, for a retry
or re-execution), and a mark counts only once that request, or a retry of it, has delivered to
a sink (`task_deliveries`): an alert whose delivery failed is sent again by the next run, and a
re-execution of a request is not held back by its own first attempt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import sqlalchemy as sa

from halo_platform.core.store import StoreResource
from halo_platform.reports.tables import TaskAlertMark, TaskDelivery, TaskRequest

marks_t = TaskAlertMark.__table__
deliveries_t = TaskDelivery.__table__
requests_t = TaskRequest.__table__


def key_sql(columns: Sequence[str]) -> str:
    """The DuckDB expression of an alert's key: its key columns as text, unit-separated."""
    return "concat_ws(chr(31), " + ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns) + ")"


@dataclass(frozen=True)
class AlertMarks:
    """Where and as whom a run reads and writes its marks: the store, the request (the first
    run's id for a re-execution), the run's time (a schedule's tick time, so the window does
    not drift when ticks run late)."""

    store: StoreResource
    request_id: str
    now: dt.datetime

    def sent_since(self, task: str, since: dt.datetime) -> list[str]:
        """Keys of the task's alerts that another request marked after `since` and delivered (the
        request itself or one of its retries: same `root_request_id`)."""
        delivered = (sa.select(deliveries_t.c.id)
                     .join(requests_t, requests_t.c.request_id == deliveries_t.c.request_id)
                     .where(requests_t.c.root_request_id == marks_t.c.request_id, deliveries_t.c.status == "DELIVERED"))
        query = (sa.select(marks_t.c.alert_key).distinct()
                 .where(marks_t.c.task == task, marks_t.c.at > since, marks_t.c.request_id != self.request_id,
                        delivered.exists()))
        with self.store.read() as conn:
            return list(conn.execute(query).scalars())

    def mark(self, task: str, keys: Sequence[str]) -> None:
        if keys:
            rows = [{"task": task, "alert_key": k, "request_id": self.request_id, "at": self.now} for k in keys]
            with self.store.write() as conn:
                conn.execute(marks_t.insert(), rows)


def apply(con, marks: AlertMarks, task: str, columns: Sequence[str], hours: float) -> int:  # noqa: ANN001
    """Drop from DuckDB table `result` the alerts sent within the last `hours` (0: none dropped),
    mark the ones left; returns how many were dropped."""
    key = key_sql(columns)
    dropped = 0
    if hours > 0:
        recent = pa.table({"alert_key": pa.array(marks.sent_since(task, marks.now - dt.timedelta(hours=hours)), pa.string())})
        con.register("_halo_recent_alerts", recent)
        try:
            dropped = con.execute(f"DELETE FROM result WHERE {key} IN (SELECT alert_key FROM _halo_recent_alerts)"  # noqa: S608
                                  ).fetchall()[0][0]
        finally:
            con.unregister("_halo_recent_alerts")
    marks.mark(task, [k for (k,) in con.execute(f"SELECT DISTINCT {key} FROM result").fetchall()])  # noqa: S608
    return dropped
