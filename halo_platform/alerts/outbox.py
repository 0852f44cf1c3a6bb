"""The alerts a sink failed to take, kept in the operational store (`alert_retries`) until that
sink has them: a sink down for a moment (a mail relay restarting, a chat webhook answering 503)
must not lose the alert of a failed run. `alert_retry_sensor` sends them again to that sink alone,
backing off, and deletes each once delivered, so it is never sent to that sink twice; one that
no retry delivered within `GIVE_UP_AFTER` is logged and dropped.

Only what the sink would have got is kept: the alert's subject, text and JSON record, masked."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from halo_platform.alerts.tables import AlertRetry
from halo_platform.core.store import StoreResource
from halo_platform.core.text import within_bytes

retries_t = AlertRetry.__table__

#: how long after its n-th failure an alert is due again (the last one repeats); the first retry
#: goes at the retry sensor's next tick
RETRY_AFTER_SECONDS: tuple[float, ...] = (15.0, 60.0, 300.0, 900.0, 3600.0)
#: a retry taken by a tick is not taken again for this long unless it ended meanwhile (a sink's
#: own attempts are bounded well under it); past it, one whose process died is due again
IN_HAND = dt.timedelta(minutes=10)
GIVE_UP_AFTER = dt.timedelta(hours=24)
PER_TICK = 20


@dataclass(frozen=True)
class Letter:
    """What an alert sends to a sink: subject, text, and its JSON record under `file_name` (masked)."""

    subject: str
    text: str
    file_name: str
    record: str


@dataclass(frozen=True)
class Retry:
    id: int
    sink: str
    letter: Letter
    failures: int
    first_failed_at: dt.datetime


def retry_after(failures: int) -> dt.timedelta:
    """How long after its `failures`-th failure an alert is due again."""
    return dt.timedelta(seconds=RETRY_AFTER_SECONDS[min(failures, len(RETRY_AFTER_SECONDS)) - 1])


def hold(store: StoreResource, sink: str, letter: Letter, detail: str, now: dt.datetime) -> None:
    """Keep `letter`, which `sink` failed to take, for a retry. The sink's detail is kept cut to
    what MariaDB's TEXT holds (an email refused for 3,000 recipients names each of them)."""
    with store.write() as conn:
        conn.execute(retries_t.insert().values(
            sink=sink, subject=letter.subject, text=letter.text, file_name=letter.file_name, record=letter.record,
            failures=1, first_failed_at=now, next_attempt_at=now + retry_after(1), detail=within_bytes(detail) or None))


def take_due(store: StoreResource, now: dt.datetime, limit: int = PER_TICK) -> list[Retry]:
    """The retries due at `now` (oldest first), each taken for `IN_HAND` by a conditional update:
    another process that read the same row takes it only if this one did not."""
    with store.write() as conn:
        rows = conn.execute(sa.select(retries_t).where(retries_t.c.next_attempt_at <= now)
                            .order_by(retries_t.c.id).limit(limit)).all()
        taken = []
        for row in rows:
            took = conn.execute(retries_t.update().where(retries_t.c.id == row.id, retries_t.c.next_attempt_at == row.next_attempt_at)
                                .values(next_attempt_at=now + IN_HAND))
            if took.rowcount:
                taken.append(Retry(row.id, row.sink, Letter(row.subject, row.text, row.file_name, row.record),
                                   row.failures, row.first_failed_at))
    return taken


def settle(store: StoreResource, retry: Retry, delivered: bool, detail: str, now: dt.datetime) -> bool:
    """Record a retry's end: delivered, it is gone; failed, it is due again after its backoff,
    or dropped past `GIVE_UP_AFTER`. Returns whether it was dropped undelivered."""
    with store.write() as conn:
        mine = retries_t.c.id == retry.id
        if delivered or now - retry.first_failed_at >= GIVE_UP_AFTER:
            conn.execute(retries_t.delete().where(mine))
            return not delivered
        failures = retry.failures + 1
        conn.execute(retries_t.update().where(mine).values(failures=failures, next_attempt_at=now + retry_after(failures),
                                                           detail=within_bytes(detail) or None))
    return False


def summary(outcomes: Sequence[tuple[str, str]]) -> str:
    """The retry sensor's skip reason for its (sink, status) outcomes."""
    if not outcomes:
        return "no alert waits for a retry"
    counts = Counter(status for _, status in outcomes)
    shown = ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
    return f"{len(outcomes)} alert{'s' if len(outcomes) > 1 else ''} sent again ({shown}); failed ones are retried later"
