"""The domains and their optional modules: the root CLI, HTTP app, demo and migrations
discover `halo_platform.<domain>.<name>` here instead of listing them."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType

DOMAINS = ("reports", "availability", "delivery")


def domain_modules(name: str, domains: tuple[str, ...] = DOMAINS) -> Iterator[ModuleType]:
    """Import `halo_platform.<domain>.<name>` for each domain that has it."""
    for domain in domains:
        path = f"halo_platform.{domain}.{name}"
        try:
            yield importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if exc.name != path:
                raise
