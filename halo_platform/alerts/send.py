"""Format an alert (pure) and send it to the `HALO_ALERTS` sinks.

An alert holds no personal data and no secret: what it shows is masked as logs are, and credentials
in URLs. It goes to its sinks in parallel and waits for them at most `ALERT_DEADLINE_SECONDS`,
so that a hung sink holds back neither the healthy ones nor the next alerts.

Alerting never recurses: a failure here is logged and swallowed, never re-alerted. Given the
operational store, an alert a sink failed to take (at once or in the background) is kept there and
sent to that sink again by a later tick of `alert_retry_sensor` (`alerts.outbox`); not one the sink
may have (sent whole, never answered) or has in part (an email some recipients took:
`DeliveryOutcome.maybe_delivered`), which it would show twice.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from halo_platform.alerts import outbox
from halo_platform.alerts.outbox import Letter
from halo_platform.core.errors import HaloError
from halo_platform.core.models import utcnow
from halo_platform.core.redact import error_line, mask_text
from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.core.text import cut
from halo_platform.sinks import Delivery, DeliveryOutcome, SinksResource
from halo_platform.sinks.base import name_of_title

log = logging.getLogger("halo.alerts")

# How long sending an alert (or a run's alerts, together) waits for its sinks. Well under the
# 60 s goal and under Dagster's sensor timeout (60 s): a sink that has not answered by then
# (an SMTP relay that takes the connection and never speaks holds an attempt for its 30 s timeout,
# twice) is left to finish in the background, and its result is logged when it comes.
ALERT_DEADLINE_SECONDS = 30.0
# deliveries to one sink at the same time (a run with many failed checks must not flood a mail relay)
PARALLEL_PER_SINK = 4
MAX_ERROR_CHARS = 500
LOG_DETAIL_CHARS = 2_000  # of a sink's answer in the alert's log line


@dataclass(frozen=True)
class Alert:
    title: str  # e.g. "run failed: payment_reconciliation_job"
    severity: str  # ERROR | WARN
    error: str  # the error; only its first line is shown
    run_id: str | None = None
    job: str | None = None
    details: dict = field(default_factory=dict)


def redacted(alert: Alert) -> Alert:
    """The alert as it may be shown: title, details and error masked, the error's first line alone."""
    details = {key: value if value is None or isinstance(value, (bool, int, float)) else mask_text(str(value))
               for key, value in alert.details.items()}
    return replace(alert, title=mask_text(alert.title), error=error_line(alert.error, MAX_ERROR_CHARS)[0], details=details)


def format_alert(alert: Alert, ui_url: str) -> tuple[str, str]:
    """(subject, text) of an alert, masked; the text links to the run in the Dagster UI."""
    shown = redacted(alert)
    subject = f"[halo {shown.severity}] {shown.title}"
    lines = [subject]
    if shown.job:
        lines.append(f"job: {shown.job}")
    if shown.run_id:
        lines.append(f"run: {shown.run_id}")
    for key, value in shown.details.items():
        lines.append(f"{key}: {value}")
    more = error_line(alert.error, MAX_ERROR_CHARS)[1]
    lines.append(f"error: {shown.error}" + (f" (+{more} more line{'s' if more > 1 else ''} not shown)" if more else ""))
    if shown.run_id:
        lines.append(f"link: {ui_url}/runs/{shown.run_id}")
    return subject, "\n".join(lines)


def send_alert(alert: Alert, sinks: SinksResource, to: list[str] | None = None,
               deadline: float | None = None, store: StoreResource | None = None) -> list[DeliveryOutcome]:
    """Send to the sinks named `to` (default: `HALO_ALERTS`) of `sinks`; returns the delivery
    outcomes (see `send_alerts`). Never raises."""
    return send_alerts([alert], sinks, to, deadline, store)


def alert_sinks(sinks: SinksResource, to: list[str] | None = None) -> tuple[list[str], list[str]]:
    """The sinks named `to` (default: `HALO_ALERTS`) that can be built (each is, once), and a line
    `name: why` for each that cannot (unknown, of an unknown kind, misconfigured). Never raises."""
    usable, unusable = [], []
    try:
        names = get_settings().alerts if to is None else to
    except HaloError as exc:  # HALO_ALERTS=',': named no sink
        return [], [str(exc)]
    for name in names:
        try:
            sinks.get(name)
        except Exception as exc:  # noqa: BLE001 - alerting must not recurse
            unusable.append(f"{name}: {error_line(str(exc), MAX_ERROR_CHARS)[0]}")
            continue
        usable.append(name)
    return usable, unusable


def send_alerts(alerts: list[Alert], sinks: SinksResource, to: list[str] | None = None,
                deadline: float | None = None, store: StoreResource | None = None) -> list[DeliveryOutcome]:
    """Send each alert to the sinks named `to` (default: `HALO_ALERTS`) of `sinks`, all at once
    (a thread per alert and sink), and wait for them at most `deadline` seconds (default
    `ALERT_DEADLINE_SECONDS`). Returns the outcomes, alert by alert, sink by sink: DELIVERED,
    FAILED, or PENDING for a sink that had not answered by the deadline, or that still has earlier
    alerts in hand (it is not waited for again until it has answered them): its delivery goes on
    in the background, with the sink's own bounded attempts, and its result is logged.
    An unusable sink (unknown, misconfigured) is logged and has no outcome. With `store`, an alert
    a sink failed to take is kept there for `alert_retry_sensor` to send again. Never raises."""
    if not alerts:
        return []
    settings = get_settings()
    names, unusable = alert_sinks(sinks, to)
    for line in unusable:
        log.error("alert sink unusable: %s", line)
    if store is not None and names:
        try:  # opened (and migrated) here, not by the delivery threads at the same time
            store.engine  # noqa: B018
        except Exception as exc:  # noqa: BLE001 - alerting must not recurse
            log.error("alerts a sink fails to take will not be kept for a retry: %s", error_line(mask_text(str(exc)), MAX_ERROR_CHARS)[0])
            store = None
    letters = [(mask_text(alert.title), _letter(alert, settings.dagster_ui_url)) for alert in alerts]
    return _send([(title, letter, name, None if store is None else functools.partial(_hold, store, name, letter))
                  for title, letter in letters for name in names], sinks, deadline)


def resend_due(sinks: SinksResource, store: StoreResource, deadline: float | None = None) -> list[DeliveryOutcome]:
    """Send the alerts whose retry is due (`outbox.take_due`) to the sink that failed to take each,
    as `send_alerts` sends; each ends settled in the store (`outbox.settle`), in the background
    when it outlives the deadline. Returns the outcomes; an unusable sink's retry fails."""
    now = utcnow()
    items = []
    for retry in outbox.take_due(store, now):
        settle = functools.partial(_settle, store, retry)
        try:
            sinks.get(retry.sink)
        except Exception as exc:  # noqa: BLE001 - alerting must not recurse
            detail = error_line(str(exc), MAX_ERROR_CHARS)[0]
            log.error("alert sink %s unusable: %s", retry.sink, detail)
            settle(DeliveryOutcome(retry.sink, "FAILED", 0, [], f"unusable: {detail}"))
            continue
        items.append((retry.letter.subject, retry.letter, retry.sink, settle))
    return _send(items, sinks, deadline)


def _hold(store: StoreResource, name: str, letter: Letter, outcome: DeliveryOutcome | None) -> None:
    # one the sink may have is not kept: a mail relay or Slack channel would show it twice
    if outcome is None or (outcome.status != "DELIVERED" and not outcome.maybe_delivered):
        outbox.hold(store, name, letter, outcome.detail if outcome else "sink unusable", utcnow())
        log.warning("alert %r to %s kept for a retry", letter.subject, name)


def _settle(store: StoreResource, retry: outbox.Retry, outcome: DeliveryOutcome | None) -> None:
    delivered = outcome is not None and (outcome.status == "DELIVERED" or outcome.maybe_delivered)  # not sent a third time
    if outbox.settle(store, retry, delivered, outcome.detail if outcome else "sink unusable", utcnow()):
        log.error("alert %r to %s given up after %d failed rounds since %s", retry.letter.subject, retry.sink,
                  retry.failures + 1, retry.first_failed_at.isoformat())


def _send(items: list[tuple[str, Letter, str, Callable | None]], sinks: SinksResource,
          deadline: float | None) -> list[DeliveryOutcome]:
    """Deliver each (title, letter, sink name, what to call with its outcome) on a thread of its
    own, waiting at most `deadline` seconds (see `send_alerts`)."""
    if not items:
        return []
    deadline = ALERT_DEADLINE_SECONDS if deadline is None else deadline
    # The JSON records live until the last delivery that may read them is over, the background ones too.
    folder = Path(tempfile.mkdtemp(prefix="halo-alert-"))
    attempts = [_Attempt(title, name, _delivery(letter, folder, name), sinks, ended) for title, letter, name, ended in items]
    left = [len(attempts)]
    for attempt in attempts:
        attempt.start(lambda: _release(left, folder))
    until = time.monotonic() + deadline
    for attempt in attempts:
        if not attempt.unwaited:
            attempt.done.wait(max(0.0, until - time.monotonic()))
    outcomes = []
    for attempt in attempts:
        outcome = attempt.result(deadline)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _letter(alert: Alert, ui_url: str) -> Letter:
    subject, text = format_alert(alert, ui_url)
    # one file per alert, never overwriting another: a run may carry several failed checks, and the
    # same title comes again (every provider down for sms/*/* had been `_.json`, the name after its last /)
    # (its name is made of the masked title: sinks pass file names on)
    shown = redacted(alert)
    stamp = _unique_now().strftime("%Y%m%dT%H%M%S%fZ")
    name = name_of_title(f"alert_{stamp}_{alert.run_id or 'norun'}_{shown.title}")[:150] + ".json"
    return Letter(subject, text, name, json.dumps({**asdict(shown), "subject": subject, "text": text}, indent=2, default=str))


def _delivery(letter: Letter, folder: Path, sink: str) -> Delivery:
    path = folder / letter.file_name
    path.write_text(letter.record)
    # the text says what the JSON record holds: a chat sink with no link store sends the text alone.
    # Its key is the letter's own (its file name, one per alert) and the sink's: the same when the outbox
    # sends it again, so a receiver that took a post answered too late keeps one alert, not two
    return Delivery(subject=letter.subject, text=letter.text, files=[path], files_optional=True,
                    key=f"{Path(letter.file_name).stem}/{sink}")


_lock = threading.Lock()
_last_stamp = dt.datetime.min.replace(tzinfo=dt.UTC)
# per (sinks file, sink name): deliveries still going on that no sender waits for
_unanswered: collections.Counter[tuple[str, str]] = collections.Counter()
_slots: dict[tuple[str, str], threading.BoundedSemaphore] = {}


def _unique_now() -> dt.datetime:
    """Now, later than any time this gave before: alerts sent together get distinct file names."""
    global _last_stamp
    with _lock:
        _last_stamp = max(utcnow(), _last_stamp + dt.timedelta(microseconds=1))
        return _last_stamp


def _release(left: list[int], folder: Path) -> None:
    with _lock:
        left[0] -= 1
        last = left[0] == 0
    if last:
        shutil.rmtree(folder, ignore_errors=True)


class _Attempt:
    """One alert's delivery to one sink, on a daemon thread of its own (a hung sink's thread is
    bounded by the sink's attempts and timeouts; it must not keep a process from exiting)."""

    def __init__(self, title: str, name: str, delivery: Delivery, sinks: SinksResource, ended: Callable | None = None) -> None:
        self.title, self.name, self.delivery, self.sinks, self.ended = title, name, delivery, sinks, ended
        self.key = (str(sinks.sinks_file or get_settings().sinks_file), name)
        self.done = threading.Event()
        self.outcome: DeliveryOutcome | None = None
        self.unwaited = False  # nobody waits for it: it counts in `_unanswered` until it ends
        self.began = 0.0
        with _lock:
            self.slot = _slots.setdefault(self.key, threading.BoundedSemaphore(PARALLEL_PER_SINK))

    def start(self, release) -> None:  # noqa: ANN001 - called once the thread is over
        with _lock:
            if _unanswered[self.key]:  # the sink still has earlier alerts in hand: do not wait for it again
                self._leave()
        self.began = time.monotonic()
        threading.Thread(target=self._run, args=(release,), name=f"halo-alert-{self.name}", daemon=True).start()

    def _leave(self) -> None:  # under _lock
        self.unwaited = True
        _unanswered[self.key] += 1

    def _run(self, release) -> None:  # noqa: ANN001
        unusable = None
        try:
            with self.slot:
                outcome = self.sinks.deliver(self.name, self.delivery, attempts=2, backoff=[1.0])
        except Exception as exc:  # noqa: BLE001 - alerting must not recurse
            unusable, outcome = error_line(str(exc), MAX_ERROR_CHARS)[0], None
        finally:
            release()
        if self.ended is not None:
            try:  # recorded before anyone waiting sees the outcome
                self.ended(outcome)
            except Exception as exc:  # noqa: BLE001 - alerting must not recurse
                log.error("alert %r to %s: its outcome was not recorded for a retry: %s", self.title, self.name,
                          error_line(mask_text(str(exc)), MAX_ERROR_CHARS)[0])
        with _lock:
            self.outcome = outcome
            self.done.set()
            late = self.unwaited
            if late:
                _unanswered[self.key] -= 1
                if not _unanswered[self.key]:
                    del _unanswered[self.key]
        # logged once the sink's count of alerts in hand is down: whoever reads the line and sends
        # again finds it free (the next alert was told PENDING when the line came first)
        if unusable is not None:
            log.error("alert sink %s unusable: %s", self.name, unusable)
        elif outcome.status != "DELIVERED":
            # the whole detail is the outbox's (an email refused for 3,000 recipients names each: 100 kB)
            log.error("alert %r to %s failed: %s", self.title, self.name, cut(outcome.detail, LOG_DETAIL_CHARS))
        if late and outcome is not None and outcome.status == "DELIVERED":
            log.warning("alert %r to %s delivered late, after %.0f s", self.title, self.name, time.monotonic() - self.began)

    def result(self, deadline: float) -> DeliveryOutcome | None:
        """The outcome, or PENDING if it is not over (from now on nobody waits for it)."""
        with _lock:
            if self.done.is_set():
                return self.outcome
            if self.unwaited:
                why = "the sink still has earlier alerts in hand"
            else:
                why = f"no answer within {deadline:g} s"
                self._leave()
        log.error("alert %r to %s: %s; left to finish in the background", self.title, self.name, why)
        return DeliveryOutcome(self.name, "PENDING", 0, [], f"{why}; left to finish in the background")
