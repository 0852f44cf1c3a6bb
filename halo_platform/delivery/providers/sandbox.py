"""`sandbox`: records messages in the local `sandbox_messages` table, no network, no account.
`failure_rate` makes a share of sends fail (retryable) and `down` makes every send and health
call fail, so the whole system, autopilot included, runs on a laptop."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence

from halo_platform.core.models import utcnow
from halo_platform.delivery.providers.base import ACKNOWLEDGED, RETRYABLE, Outgoing, Provider, SendResult


class SandboxProvider(Provider):
    kind = "sandbox"
    max_batch = 500
    failure_rate: float = 0.0
    down: bool = False
    db_url: str | None = None

    def send_batch(self, messages: Sequence[Outgoing], timeout: float | None = None) -> list[SendResult]:
        from halo_platform.core.store import write
        from halo_platform.delivery.models import SandboxMessage

        if self.down:
            return [SendResult(m.id, RETRYABLE, detail="sandbox provider is down") for m in messages]
        results, rows = [], []
        for m in messages:
            if random.random() < self.failure_rate:  # noqa: S311 - simulated failure share
                results.append(SendResult(m.id, RETRYABLE, detail="sandbox: simulated 503", http_status=503))
                continue
            sid = f"sbx-{uuid.uuid4().hex}"
            content = {"body": m.body, **{k: v for k, v in (("subject", m.subject), ("title", m.title)) if v}}
            rows.append({"id": sid, "provider": self.name, "message_id": m.id, "recipient": m.recipient, "content": content, "at": utcnow()})
            results.append(SendResult(m.id, ACKNOWLEDGED, sid, http_status=201))
        if rows:
            with write(self.db_url) as conn:
                conn.execute(SandboxMessage.__table__.insert(), rows)
        return results

    def health(self) -> bool:
        return not self.down
