"""Provider kinds. Every module here defining a `Provider` subclass with a `kind` is a kind;
`build_provider` makes a named provider from its `HALO_PROVIDERS_FILE` entry, resolving
`${ENV}` secrets only then (at run time)."""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
import threading

from halo_platform.core.errors import HaloError
from halo_platform.core.redact import mask_recipient
from halo_platform.core.settings import expand_env
from halo_platform.delivery.config import ProviderEntry
from halo_platform.delivery.providers.base import (
    ACKNOWLEDGED,
    PERMANENT,
    RETRYABLE,
    UNKNOWN,
    CallbackEvent,
    CallbackRejected,
    CallbackRequest,
    Outgoing,
    Provider,
    SendResult,
)

__all__ = [
    "ACKNOWLEDGED",
    "PERMANENT",
    "RETRYABLE",
    "UNKNOWN",
    "CallbackEvent",
    "CallbackRejected",
    "CallbackRequest",
    "Outgoing",
    "Provider",
    "SendResult",
    "build_provider",
    "load_provider_kinds",
    "mask_recipient",
]

_instances: dict[tuple[str, str], Provider] = {}
_lock = threading.Lock()


@functools.cache
def load_provider_kinds() -> dict[str, type[Provider]]:
    for mod in pkgutil.iter_modules(__path__):
        if mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")
    return dict(Provider.registry)


def build_provider(entry: ProviderEntry) -> Provider:
    """The provider for `entry`, reused while its resolved settings do not change (so its
    connection pool lives across calls)."""
    kinds = load_provider_kinds()
    if entry.kind not in kinds:
        raise HaloError(f"provider {entry.name!r}: unknown kind {entry.kind!r}; known: {', '.join(sorted(kinds))}")
    settings = expand_env(entry.raw)
    settings.pop("kind", None)
    settings["name"] = entry.name
    fingerprint = json.dumps(settings, sort_keys=True, default=str)
    key = (entry.name, fingerprint)
    with _lock:
        cached = _instances.get(key)
        if cached is not None:
            return cached
        try:
            provider = kinds[entry.kind](**settings)
        except Exception as exc:  # validation: name the fields, never echo values (secrets)
            errors = exc.errors() if hasattr(exc, "errors") else []
            why = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors) or type(exc).__name__
            raise HaloError(f"provider {entry.name!r} ({entry.kind}): invalid settings: {why}") from None
        for old_key in [k for k in _instances if k[0] == entry.name]:
            _instances.pop(old_key).close()
        _instances[key] = provider
        return provider


def close_providers() -> None:
    with _lock:
        for provider in _instances.values():
            provider.close()
        _instances.clear()
