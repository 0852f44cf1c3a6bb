"""`halo demo` for delivery: store the routing weights of the providers file, give every
provider an autopilot state (fully active) if it has none, and queue a few sandbox messages
to drain (idempotent)."""

from __future__ import annotations

from collections.abc import Iterator


def seed(settings) -> Iterator[str]:  # noqa: ANN001
    from halo_platform.core.store import StoreResource
    from halo_platform.delivery.resources import ProvidersResource

    store, providers = StoreResource(db_url=settings.db_url), ProvidersResource(providers_file=str(settings.providers_file))
    try:
        yield from _seed(store, providers)
    finally:
        providers.close()
        store.dispose()


def _seed(store, providers) -> Iterator[str]:  # noqa: ANN001
    from halo_platform.core.errors import ConflictError
    from halo_platform.delivery.service import submit
    from halo_platform.delivery.state import seed_states, seed_weights

    config = providers.config()
    seeded = seed_weights(config, store)
    states = seed_states(config, store)
    yield f"delivery: {len(config.providers)} providers ({states} new autopilot states), {len(config.rules)} routing rules ({seeded} newly stored)"
    demo = [
        ("sms", {"to": "+33612345678", "body": "Your appointment is tomorrow at 10:00", "capability": "TEXT", "priority": "LOW"}),
        ("email", {"to": "patient@example.com", "subject": "Appointment reminder", "body": "See you tomorrow at 10:00", "priority": "NORMAL"}),
        ("push", {"to": "demo_device_token_0001", "title": "Reminder", "body": "Appointment tomorrow", "priority": "LOW"}),
    ]
    queued = 0
    for i, (channel, payload) in enumerate(demo):
        try:
            _, created = submit(channel, {**payload, "idempotency_key": f"demo-{i}"}, store=store, providers=providers)
        except ConflictError:
            created = False
        queued += int(created)
    yield f"delivery: {queued} demo messages queued (run `halo delivery drain`)"
