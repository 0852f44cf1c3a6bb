"""The `providers` resource: the delivery configuration read from `HALO_PROVIDERS_FILE` at run time."""

from __future__ import annotations

import dagster as dg

from halo_platform.delivery.config import DeliveryConfig, load_config


class ProvidersResource(dg.ConfigurableResource):
    """Providers, routing rules, retry and autopilot settings. Only the file path is
    configuration; secrets (`${ENV}`) are resolved when a provider is used."""

    providers_file: str | None = None

    def config(self) -> DeliveryConfig:
        return load_config(self.providers_file)
