"""The `providers` resource: the delivery configuration (`HALO_PROVIDERS_FILE` at run time)
and the provider clients built from it, which it owns: made on first use, reused while their
resolved settings do not change (so connection pools live across calls), closed after each
Dagster execution or by `close()`."""

from __future__ import annotations

import functools
import json
import threading
from typing import Annotated

import dagster as dg
from pydantic import PrivateAttr, TypeAdapter, ValidationError

from halo_platform.core.errors import HaloError, invalid_settings
from halo_platform.core.plugins import discover, subclasses_of
from halo_platform.core.settings import env_references, expand_env, refuse_unknown_keys
from halo_platform.delivery.config import (
    DeliveryConfig,
    ProviderEntry,
    credentials_in_base_url,
    holds_credentials,
    load_config,
)
from halo_platform.delivery.providers.base import Provider


@functools.cache
def provider_kinds() -> dict[str, type[Provider]]:
    """Every provider kind: the `Provider` subclasses declared in `delivery.providers`."""
    return discover("halo_platform.delivery.providers", subclasses_of(Provider), key=lambda c: c.kind)


def refuse_invalid_values(entry: ProviderEntry, kind: type[Provider], where: str) -> None:
    """A HaloError naming `entry`'s first setting written in the file that its kind refuses, and
    what the setting takes (never the value: it may be a secret). Such a setting was refused only
    when the client was built, at each send or callback: a Vonage `signature_method: sha265` made
    every signed receipt and inbound STOP a 400 while sends went out. A `${ENV}` setting is checked
    when the client is built, where it is resolved."""
    for key, value in entry.raw.items():
        field = kind.model_fields.get(key)
        if field is None or env_references(value):
            continue
        try:
            TypeAdapter(Annotated[field.annotation, field]).validate_python(value)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise HaloError(f"{where}: provider {'.'.join(map(str, (entry.name, key, *error['loc'])))}: {error['msg']}") from None


class ProvidersResource(dg.ConfigurableResource):
    """Providers, routing rules, retry and autopilot settings, and the provider clients. Only
    the file path is configuration; secrets (`${ENV}`) are resolved when a provider is built."""

    providers_file: str | None = None
    _clients: dict[str, tuple[str, Provider]] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _checked: DeliveryConfig | None = PrivateAttr(default=None)

    def config(self) -> DeliveryConfig:
        """The configuration, each provider's kind known: a typo is refused when the file is read,
        not when a message already queued for it is dispatched (failing the run of every channel)."""
        config = load_config(self.providers_file)
        if config is not self._checked:  # once per reading of the file (load_config keeps it while unchanged)
            kinds = provider_kinds()
            for entry in config.providers.values():
                if entry.kind not in kinds:
                    raise HaloError(f"{config.source or 'providers file'}: provider {entry.name!r}: unknown kind {entry.kind!r}; "
                                    f"known: {', '.join(sorted(kinds))}")
                # the kind's settings: any other key (`countrys`, `rate_per_sec`) was dropped when
                # the client was built, and the provider served every country, at any rate
                settings = ("kind", *(f for f in kinds[entry.kind].model_fields if f != "name"))
                refuse_unknown_keys(entry.raw, settings, f"{config.source or 'providers file'}: provider {entry.name}")
                refuse_invalid_values(entry, kinds[entry.kind], config.source or "providers file")
            self._checked = config
        return config

    def check(self) -> DeliveryConfig:
        """The configuration, each usable provider's client built from the environment as it is now
        and closed: `halo serve` refuses to start on a providers file that cannot serve (one line
        naming the file and the problem, never a value: it may be a secret), which showed only at
        its first send or callback. A provider whose `${ENV}` variable is not set is no error here:
        routing gives it no traffic (`DeliveryConfig.unusable`), as when the variable goes while running."""
        config = self.config()
        unusable = config.unusable()
        try:
            for entry in config.providers.values():
                if entry.name not in unusable:
                    self.build(entry)
        except HaloError as exc:
            raise HaloError(f"{config.source or 'providers file'}: {exc}") from None
        finally:
            self.close()
        return config

    def get(self, name: str) -> Provider:
        """The client of the configured provider `name`."""
        return self.build(self.config().providers[name])

    def build(self, entry: ProviderEntry) -> Provider:
        """The client for `entry`, reused while its resolved settings do not change."""
        kinds = provider_kinds()
        if entry.kind not in kinds:
            raise HaloError(f"provider {entry.name!r}: unknown kind {entry.kind!r}; known: {', '.join(sorted(kinds))}")
        settings = expand_env(entry.raw)
        settings.pop("kind", None)
        settings["name"] = entry.name
        if holds_credentials(settings.get("base_url")):  # from `${ENV}`: the file's own URL was checked when it was loaded
            raise credentials_in_base_url(f"provider {entry.name}")
        fingerprint = json.dumps(settings, sort_keys=True, default=str)
        with self._lock:
            cached = self._clients.get(entry.name)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            try:
                provider = kinds[entry.kind](**settings)
            except Exception as exc:  # validation: name the fields, never echo values (secrets)
                raise invalid_settings(f"provider {entry.name!r} ({entry.kind})", exc) from None
            if cached is not None:
                cached[1].close()
            self._clients[entry.name] = (fingerprint, provider)
            return provider

    def close(self) -> None:
        """Close every client; the next use builds new ones."""
        with self._lock:
            for _, provider in self._clients.values():
                provider.close()
            self._clients.clear()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:  # noqa: ARG002
        self.close()
