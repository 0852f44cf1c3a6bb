"""`halo demo`: every domain seeds its demo data (idempotently) through `<domain>/demo.py:seed`."""

from __future__ import annotations

from collections.abc import Iterator

from halo_platform.core.domains import domain_modules
from halo_platform.core.settings import get_settings
from halo_platform.core.store import get_engine


def seed_all() -> Iterator[str]:
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    get_engine(settings.db_url)
    yield f"operational store ready: {settings.db_url}"
    for module in domain_modules("demo"):
        yield from module.seed(settings)
