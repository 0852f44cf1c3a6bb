"""`webhook` sink: POSTs a JSON summary of the delivery to `url`, signed like delivery's status
webhooks: `X-Halo-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes under secret>`, so
the receiver can check it came from us. A webhook carries no file: each file goes to the sink's `link_store` and the
summary links to it. Its target is the URL with all its path but the first segment masked (the path of
a Slack-style webhook is its token). Unreachable, 429 and 5xx are retried; other 4xx are not."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

from halo_platform.core.models import utcnow
from halo_platform.core.redact import mask_url_path
from halo_platform.core.webhook_signature import SIGNATURE_HEADER, sign
from halo_platform.sinks.base import Delivery, Sink, post
from halo_platform.sinks.settings import FILLED, Timeout


class WebhookSink(Sink):
    """`{kind: webhook, url: ..., secret: "${WEBHOOK_SECRET}", link_store: ...}`. The body:
    `{"subject", "text", "files": [{"name", "bytes", "url"}], "sent_at", "delivery_id"}`; `delivery_id`
    (percent-encoded ASCII), also sent as `Idempotency-Key`, is the same on every attempt of one delivery (a post whose
    answer came too late is sent again) and on a re-execution's delivery of the same request."""

    kind = "webhook"
    url: Annotated[str, FILLED]  # an empty one was refused only by each post, not when built
    secret: Annotated[str, FILLED]
    timeout: Timeout = 15.0
    carries_files = False

    def deliver(self, delivery: Delivery) -> list[str]:
        self.carried(delivery)  # no file of its own: refuses one that has no link
        # percent-encoded: a header holds ASCII only (httpx refused the key of a sink named `équipe`, and
        # every delivery failed as 'not a valid http(s) URL'); a key of ASCII ids and names is unchanged
        key = quote(delivery.key, safe="/:@!$&'()*+,;=-._~")
        summary = {
            "subject": delivery.subject,
            "text": delivery.text,
            "files": [{"name": link.name, "bytes": link.size, "url": link.url} for link in delivery.links],
            "sent_at": utcnow().isoformat(),
            "delivery_id": key,
        }
        body = json.dumps(summary, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body), "Idempotency-Key": key}
        shown = mask_url_path(self.url)  # the path may be the secret (a Slack-style incoming webhook)
        post(self.url, f"webhook {shown}", self.timeout, deduplicated=True, content=body, headers=headers)
        return [shown]
