"""`halo demo`: every domain seeds its demo data (idempotently) through `<domain>/demo.py:seed`."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

from halo_platform.core.models import DOMAINS
from halo_platform.core.settings import get_settings
from halo_platform.core.store import get_engine


def seed_all() -> Iterator[str]:
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    get_engine(settings.db_url)
    yield f"operational store ready: {settings.db_url}"
    for domain in DOMAINS:
        try:
            module = importlib.import_module(f"halo_platform.{domain}.demo")
        except ModuleNotFoundError as exc:
            if exc.name == f"halo_platform.{domain}.demo":
                continue
            raise
        yield from module.seed(settings)
