"""Condition alerts re-arm after `rearm_hours`: an alert (a task's result row, keyed by the
task's `rearm_key` columns, e.g. campaign + OVER_BUDGET) that a delivered request sent within
the window is left out of the next runs' results, so the owner is not told the same thing
every run. The marks live in the operational store (`task_alert_marks`): restarts keep them.

A run claims the alerts it is about to send: it marks them under its request id (the first
run's, for a retry or re-execution), and a mark counts once that request, or a retry of it, has
delivered to a sink (`task_deliveries`), or while it is still running (for `CLAIM_LEASE` at
most: a killed run's request may stay RUNNING). Reading the marks and marking is one transaction
holding the task's row of `task_alert_locks`, so runs at the same time take turns and each alert
goes to one of them. An alert whose delivery failed is sent again by the next run (its request
ended FAILED, with no delivery), and a re-execution of a request is not held back by its own
first attempt. The same transaction deletes the task's marks too old for any run's window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.core.text import stored_key
from halo_platform.core.write_lock import ensure_row
from halo_platform.reports.tables import TaskAlertLock, TaskAlertMark, TaskDelivery, TaskRequest

marks_t = TaskAlertMark.__table__
locks_t = TaskAlertLock.__table__
deliveries_t = TaskDelivery.__table__
requests_t = TaskRequest.__table__

# How long a request still RUNNING holds the alerts it claimed without having delivered them:
# longer than any alert run takes to deliver, so that only a run that died (its request left
# RUNNING) is outlived.
CLAIM_LEASE = dt.timedelta(hours=1)

# The longest `rearm_hours` a request can ask (a year: campaign_alerts' payload takes it from here): a
# mark older than that holds nothing back for any request of its task.
LONGEST_REARM_HOURS = 8760
LONGEST_REARM = dt.timedelta(hours=LONGEST_REARM_HOURS)

#: an alert key longer than this (a campaign id of 600 characters) is marked as its digest (`stored_key`)
ALERT_KEY_LENGTH = marks_t.c.alert_key.type.length


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

    def _held(self, conn: sa.Connection, task: str, since: dt.datetime) -> set[str]:
        """Keys (as stored) of the task's alerts that another request marked after `since` and delivered (the
        request itself or one of its retries: same `root_request_id`) or is still running."""
        of_mark = requests_t.c.root_request_id == marks_t.c.request_id
        delivered = (sa.select(deliveries_t.c.id)
                     .join(requests_t, requests_t.c.request_id == deliveries_t.c.request_id)
                     .where(of_mark, deliveries_t.c.status == "DELIVERED"))
        running = sa.select(requests_t.c.request_id).where(
            of_mark, requests_t.c.status == "RUNNING", requests_t.c.started_at > utcnow() - CLAIM_LEASE)
        query = (sa.select(marks_t.c.alert_key).distinct()
                 .where(marks_t.c.task == task, marks_t.c.at > since, marks_t.c.request_id != self.request_id,
                        sa.or_(delivered.exists(), running.exists())))
        return set(conn.execute(query).scalars())

    def _unused_before(self, hours: float) -> dt.datetime:
        """The time before which the task's marks hold nothing back for any run: a mark counts only
        for a run whose window (its `rearm_hours` back from its time) it falls in, whatever its
        request, or a retry or re-execution of it, delivered since; no window is longer than
        `LONGEST_REARM` or this run's `hours`; and `CLAIM_LEASE` more keeps the whole window of a
        run whose time is up to that much before this one's (one started earlier, still going)."""
        return self.now - max(LONGEST_REARM, dt.timedelta(hours=hours)) - CLAIM_LEASE

    def claim(self, task: str, keys: Sequence[str], hours: float) -> set[str]:
        """Of `keys`, the alerts held back (sent within the last `hours`, or being sent, by
        another request; none when `hours` is 0); the others are marked as this request's. Under
        the task's lock, whatever `hours`, its marks no run can use any more are deleted
        (`_unused_before`): the table keeps the longest window's marks, not one per alert ever sent."""
        if not keys:
            return set()
        ensure_row(self.store, locks_t, {"task": task})  # the task's row of `task_alert_locks` (made by its first run)
        stored = {stored_key(k, ALERT_KEY_LENGTH): k for k in keys}
        with self.store.write() as conn:
            # with `hours` 0 too: a task only ever run so kept every mark it wrote; and under the lock, as a
            # delete's range locks (MariaDB) beside another run's inserts could deadlock
            conn.execute(sa.select(locks_t.c.task).where(locks_t.c.task == task).with_for_update())
            conn.execute(marks_t.delete().where(marks_t.c.task == task, marks_t.c.at < self._unused_before(hours)))
            held = ({stored[k] for k in self._held(conn, task, self.now - dt.timedelta(hours=hours)) if k in stored}
                    if hours > 0 else set())
            rows = [{"task": task, "alert_key": s, "request_id": self.request_id, "at": self.now}
                    for s, k in stored.items() if k not in held]
            if rows:
                conn.execute(marks_t.insert(), rows)
        return held


def apply(con, marks: AlertMarks, task: str, columns: Sequence[str], hours: float) -> int:  # noqa: ANN001
    """Claim the alerts of DuckDB table `result` and drop those held back (sent or being sent
    within the last `hours`; 0: none dropped); returns how many rows were dropped."""
    key = key_sql(columns)
    keys = [k for (k,) in con.execute(f"SELECT DISTINCT {key} FROM result").fetchall()]  # noqa: S608
    held = marks.claim(task, keys, hours)
    if not held:
        return 0
    con.register("_halo_held_alerts", pa.table({"alert_key": pa.array(sorted(held), pa.string())}))
    try:
        return con.execute(f"DELETE FROM result WHERE {key} IN (SELECT alert_key FROM _halo_held_alerts)"  # noqa: S608
                           ).fetchall()[0][0]
    finally:
        con.unregister("_halo_held_alerts")
