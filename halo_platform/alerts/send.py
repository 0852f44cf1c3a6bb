"""Format an alert (pure) and send it to the `HALO_ALERTS` sinks.

Alerting never recurses: a failure here is logged and swallowed, never re-alerted.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from halo_platform.core.models import utcnow
from halo_platform.core.settings import get_settings
from halo_platform.sinks import Delivery, SinksResource
from halo_platform.sinks.base import name_of_title

log = logging.getLogger("halo.alerts")


@dataclass(frozen=True)
class Alert:
    title: str  # e.g. "run failed: payment_reconciliation_job"
    severity: str  # ERROR | WARN
    error: str  # first line of the error
    run_id: str | None = None
    job: str | None = None
    details: dict = field(default_factory=dict)


def first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()[:500]
    return ""


def format_alert(alert: Alert, ui_url: str) -> tuple[str, str]:
    """(subject, text) of an alert; the text links to the run in the Dagster UI."""
    subject = f"[halo {alert.severity}] {alert.title}"
    lines = [subject]
    if alert.job:
        lines.append(f"job: {alert.job}")
    if alert.run_id:
        lines.append(f"run: {alert.run_id}")
    for key, value in alert.details.items():
        lines.append(f"{key}: {value}")
    lines.append(f"error: {first_line(alert.error)}")
    if alert.run_id:
        lines.append(f"link: {ui_url}/runs/{alert.run_id}")
    return subject, "\n".join(lines)


def send_alert(alert: Alert, sinks: SinksResource, to: list[str] | None = None) -> list:
    """Send to the sinks named `to` (default: `HALO_ALERTS`) of `sinks`; returns the delivery
    outcomes. Never raises."""
    settings = get_settings()
    subject, text = format_alert(alert, settings.dagster_ui_url)
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        # one file per alert, never overwriting another: a run may carry several failed checks, and the
        # same title comes again (every provider down for sms/*/* had been `_.json`, the name after its last /)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        path = Path(tmp) / (name_of_title(f"alert_{stamp}_{alert.run_id or 'norun'}_{alert.title}")[:150] + ".json")
        path.write_text(json.dumps({**asdict(alert), "subject": subject, "text": text}, indent=2, default=str))
        # the text says what the JSON record holds: a chat sink with no link store sends the text alone
        delivery = Delivery(subject=subject, text=text, files=[path], files_optional=True)
        for name in settings.alerts if to is None else to:
            try:
                outcome = sinks.deliver(name, delivery, attempts=2, backoff=[1.0])
            except Exception as exc:  # noqa: BLE001 - alerting must not recurse
                log.error("alert sink %s unusable: %s", name, first_line(str(exc)))
                continue
            if outcome.status != "DELIVERED":
                log.error("alert to %s failed: %s", name, outcome.detail)
            outcomes.append(outcome)
    return outcomes
