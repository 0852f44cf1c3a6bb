"""`sandbox`: records messages in the local `sandbox_messages` table, no network, no account.
`failure_rate` makes a share of sends fail (retryable) and `down` makes every send and health
call fail, so the whole system, autopilot included, runs on a laptop."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence

from pydantic import PrivateAttr

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.providers.base import ACKNOWLEDGED, RETRYABLE, Outgoing, Provider, SendResult


class SandboxProvider(Provider):
    kind = "sandbox"
    max_batch = 500
    failure_rate: float = 0.0
    down: bool = False
    db_url: str | None = None
    _store: StoreResource | None = PrivateAttr(default=None)

    @property
    def store(self) -> StoreResource:
        """The store the messages are recorded in (`db_url`, default `HALO_DB_URL`); its own."""
        if self._store is None:
            self._store = StoreResource(db_url=self.db_url)
        return self._store

    def send_batch(self, messages: Sequence[Outgoing], timeout: float | None = None) -> list[SendResult]:
        from halo_platform.delivery.tables import SandboxMessage

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
            with self.store.write() as conn:
                conn.execute(SandboxMessage.__table__.insert(), rows)
        return results

    def health(self) -> bool:
        return not self.down

    def close(self) -> None:
        super().close()
        if self._store is not None:
            self._store.dispose()
