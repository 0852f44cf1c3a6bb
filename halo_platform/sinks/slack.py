"""`slack` sink: posts the delivery's text to an incoming webhook. Webhooks cannot carry files:
each file goes to the sink's `link_store` and the message links to it; a file with no link store
fails the delivery (the channel would not get it), unless the text says it all (alerts). The
webhook URL is a secret: it never appears in targets or logs. Slack keeps no delivery key, so a
post that may have been taken (no answer once sent) is not sent again."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from halo_platform.sinks.base import Delivery, Sink, post
from halo_platform.sinks.settings import FILLED, Timeout


class SlackSink(Sink):
    kind = "slack"
    # an empty one (`${SLACK_WEBHOOK_URL}` set to nothing) is refused when built: it built, so `halo`
    # did not warn of an alert sink no alert reaches, and each post failed
    webhook_url: Annotated[str, FILLED]
    timeout: Timeout = 15.0
    carries_files = False

    def deliver(self, delivery: Delivery) -> list[str]:
        self.carried(delivery)  # no file of its own: refuses one that has no link
        lines = [f"*{_escaped(delivery.subject)}*"]
        if delivery.text and delivery.text != delivery.subject:
            lines.append(_escaped(delivery.text))
        lines += [f"file: <{link.url}|{_escaped(link.name)}> ({link.size} bytes)" for link in delivery.links]
        post(self.webhook_url, "Slack webhook", self.timeout, json={"text": "\n".join(lines)})
        return [f"slack://{urlsplit(self.webhook_url).hostname}"]


def _escaped(text: str) -> str:
    """Text as Slack shows it: `&`, `<`, `>` escaped (Slack's markup: a warehouse's `<!channel>`
    pinged the channel, `<https://...|label>` was a link); "&" first, the others' escapes hold one."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
