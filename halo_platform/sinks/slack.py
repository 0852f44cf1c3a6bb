"""`slack` sink: posts the delivery's text to an incoming webhook (files are named, not uploaded:
webhooks cannot carry files; with a `link_store` every file is sent as a link). The webhook URL
is a secret: it never appears in targets or logs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from halo_platform.sinks.base import Delivery, Sink, post


class SlackSink(Sink):
    kind = "slack"
    webhook_url: str
    timeout: float = 15.0
    carries_files = False

    def deliver(self, delivery: Delivery) -> list[str]:
        lines = [f"*{delivery.subject}*"]
        if delivery.text and delivery.text != delivery.subject:
            lines.append(delivery.text)
        lines += [f"file: {Path(f).name}" for f in delivery.files]
        lines += [f"file: <{link.url}|{link.name}> ({link.size} bytes)" for link in delivery.links]
        post(self.webhook_url, "Slack webhook", self.timeout, json={"text": "\n".join(lines)})
        return [f"slack://{urlsplit(self.webhook_url).hostname}"]
