"""Provider status callbacks: verify the provider's own signature scheme, map its statuses
to lifecycle events, store each event once (a repeated callback changes nothing) and move
the message's status forward only."""

from __future__ import annotations

import sqlalchemy as sa

from halo_platform.core.errors import NotFoundError
from halo_platform.core.models import utcnow
from halo_platform.core.store import write
from halo_platform.delivery.config import DeliveryConfig, load_config
from halo_platform.delivery.providers import CallbackRequest, build_provider
from halo_platform.delivery.queue import RANK, events_t, messages_t


def handle_callback(provider_name: str, request: CallbackRequest, config: DeliveryConfig | None = None, db_url: str | None = None) -> dict[str, int]:
    """Apply one callback request; raises `CallbackRejected` (401/400) before touching anything."""
    config = config or load_config()
    entry = config.providers.get(provider_name)
    if entry is None:
        raise NotFoundError(f"unknown provider {provider_name!r}")
    events = build_provider(entry).parse_callback(request)
    counts = {"applied": 0, "duplicates": 0, "unknown_message": 0}
    now = utcnow()
    with write(db_url) as conn:
        for ev in events:
            row = None
            if ev.message_id:
                row = conn.execute(sa.select(messages_t.c.id, messages_t.c.status).where(messages_t.c.id == ev.message_id)).first()
            if row is None and ev.provider_message_id:
                row = conn.execute(
                    sa.select(messages_t.c.id, messages_t.c.status).where(
                        messages_t.c.provider_message_id == ev.provider_message_id, messages_t.c.provider == provider_name
                    )
                ).first()
            if row is None:
                counts["unknown_message"] += 1
                continue
            seen = conn.execute(sa.select(events_t.c.id).where(events_t.c.dedupe_key == ev.dedupe_key)).first()
            if seen is not None:
                counts["duplicates"] += 1
                continue
            conn.execute(events_t.insert().values(message_id=row.id, event=ev.event, provider=provider_name, at=now, detail=ev.detail or None, dedupe_key=ev.dedupe_key))
            if RANK.get(ev.event, 0) >= RANK.get(row.status, 0):
                conn.execute(messages_t.update().where(messages_t.c.id == row.id).values(status=ev.event, updated_at=now))
            counts["applied"] += 1
    return counts
