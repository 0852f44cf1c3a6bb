"""`halo demo`: every domain seeds its demo data (idempotently) through `<domain>/demo.py:seed`."""

from __future__ import annotations

from collections.abc import Iterator

from halo_platform.access import demo as access
from halo_platform.availability import demo as availability
from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.delivery import demo as delivery
from halo_platform.reports import demo as reports

DOMAINS = (reports, availability, delivery, access)


def seed_all() -> Iterator[str]:
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    store = StoreResource(db_url=settings.db_url)
    try:
        store.engine  # noqa: B018 - made and migrated on first use
    finally:
        store.dispose()
    yield f"operational store ready: {settings.db_url}"
    for module in DOMAINS:
        yield from module.seed(settings)
