"""`slack` sink: posts the delivery's text to an incoming webhook (files are named, not uploaded:
webhooks cannot carry files). The webhook URL is a secret: it never appears in targets or logs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from halo_platform.sinks.base import Delivery, PermanentSinkError, Sink, TransientSinkError


class SlackSink(Sink):
    kind = "slack"
    webhook_url: str
    timeout: float = 15.0

    def deliver(self, delivery: Delivery) -> list[str]:
        import httpx

        lines = [f"*{delivery.subject}*"]
        if delivery.text and delivery.text != delivery.subject:
            lines.append(delivery.text)
        lines += [f"file: {Path(f).name}" for f in delivery.files]
        try:
            response = httpx.post(self.webhook_url, json={"text": "\n".join(lines)}, timeout=self.timeout)
        except httpx.TransportError as exc:
            raise TransientSinkError(f"Slack webhook unreachable: {type(exc).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientSinkError(f"Slack webhook answered {response.status_code}")
        if response.status_code >= 400:
            raise PermanentSinkError(f"Slack webhook answered {response.status_code}: {response.text[:100]}")
        return [f"slack://{urlsplit(self.webhook_url).hostname}"]
