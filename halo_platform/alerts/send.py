"""Format an alert (pure) and send it to the `HALO_ALERTS` sinks.

An alert holds no personal data and no secret: what it shows is masked as logs are, and credentials
in URLs. It goes to its sinks in parallel and waits for them at most `ALERT_DEADLINE_SECONDS`,
so that a hung sink holds back neither the healthy ones nor the next alerts.

Alerting never recurses: a failure here is logged and swallowed, never re-alerted.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from halo_platform.core.models import utcnow
from halo_platform.core.redact import error_line, mask_text
from halo_platform.core.settings import get_settings
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
               deadline: float | None = None) -> list[DeliveryOutcome]:
    """Send to the sinks named `to` (default: `HALO_ALERTS`) of `sinks`; returns the delivery
    outcomes (see `send_alerts`). Never raises."""
    return send_alerts([alert], sinks, to, deadline)


def send_alerts(alerts: list[Alert], sinks: SinksResource, to: list[str] | None = None,
                deadline: float | None = None) -> list[DeliveryOutcome]:
    """Send each alert to the sinks named `to` (default: `HALO_ALERTS`) of `sinks`, all at once
    (a thread per alert and sink), and wait for them at most `deadline` seconds (default
    `ALERT_DEADLINE_SECONDS`). Returns the outcomes, alert by alert, sink by sink: DELIVERED,
    FAILED, or PENDING for a sink that had not answered by the deadline, or that still has earlier
    alerts in hand (it is not waited for again until it has answered them): its delivery goes on
    in the background, with the sink's own bounded attempts, and its result is logged.
    An unusable sink (unknown, misconfigured) is logged and has no outcome. Never raises."""
    if not alerts:
        return []
    settings = get_settings()
    names = []
    for name in settings.alerts if to is None else to:
        try:  # built here, once, rather than by the threads at the same time
            sinks.get(name)
        except Exception as exc:  # noqa: BLE001 - alerting must not recurse
            log.error("alert sink %s unusable: %s", name, error_line(str(exc), MAX_ERROR_CHARS)[0])
            continue
        names.append(name)
    deadline = ALERT_DEADLINE_SECONDS if deadline is None else deadline
    # The JSON records live until the last delivery that may read them is over, the background ones too.
    folder = Path(tempfile.mkdtemp(prefix="halo-alert-"))
    deliveries = [(alert, _delivery(alert, settings.dagster_ui_url, folder)) for alert in alerts]
    attempts = [_Attempt(mask_text(alert.title), name, delivery, sinks) for alert, delivery in deliveries for name in names]
    if not attempts:
        shutil.rmtree(folder, ignore_errors=True)
        return []
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


def _delivery(alert: Alert, ui_url: str, folder: Path) -> Delivery:
    subject, text = format_alert(alert, ui_url)
    # one file per alert, never overwriting another: a run may carry several failed checks, and the
    # same title comes again (every provider down for sms/*/* had been `_.json`, the name after its last /)
    # (its name is made of the masked title: sinks pass file names on)
    shown = redacted(alert)
    stamp = _unique_now().strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / (name_of_title(f"alert_{stamp}_{alert.run_id or 'norun'}_{shown.title}")[:150] + ".json")
    path.write_text(json.dumps({**asdict(shown), "subject": subject, "text": text}, indent=2, default=str))
    # the text says what the JSON record holds: a chat sink with no link store sends the text alone
    return Delivery(subject=subject, text=text, files=[path], files_optional=True)


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

    def __init__(self, title: str, name: str, delivery: Delivery, sinks: SinksResource) -> None:
        self.title, self.name, self.delivery, self.sinks = title, name, delivery, sinks
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
        try:
            with self.slot:
                outcome = self.sinks.deliver(self.name, self.delivery, attempts=2, backoff=[1.0])
            if outcome.status != "DELIVERED":
                log.error("alert %r to %s failed: %s", self.title, self.name, outcome.detail)
        except Exception as exc:  # noqa: BLE001 - alerting must not recurse
            log.error("alert sink %s unusable: %s", self.name, error_line(str(exc), MAX_ERROR_CHARS)[0])
            outcome = None
        finally:
            release()
        with _lock:
            self.outcome = outcome
            self.done.set()
            late = self.unwaited
            if late:
                _unanswered[self.key] -= 1
                if not _unanswered[self.key]:
                    del _unanswered[self.key]
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
