"""Report and alert destinations. Every module in this package defining a `Sink`
subclass with a `kind` is a sink kind; `SinksResource` builds named sinks from
`HALO_SINKS_FILE`."""

from __future__ import annotations

import functools
import importlib
import pkgutil

import dagster as dg

from halo_platform.core.errors import HaloError
from halo_platform.core.settings import expand_env, get_settings, read_yaml
from halo_platform.sinks.base import Delivery, DeliveryOutcome, Sink, deliver_with_retries

__all__ = ["Delivery", "DeliveryOutcome", "Sink", "SinksResource", "deliver_with_retries", "load_sink_kinds"]


@functools.cache
def load_sink_kinds() -> dict[str, type[Sink]]:
    for mod in pkgutil.iter_modules(__path__):
        if mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")
    return dict(Sink.registry)


class SinksResource(dg.ConfigurableResource):
    """The named destinations of `HALO_SINKS_FILE` (default `config/sinks.yaml`).

    Only the file path is configuration; the YAML (and the secrets it references as
    `${ENV}`) is read when a sink is used, so secrets never reach run config."""

    sinks_file: str | None = None

    def _entries(self) -> dict[str, dict]:
        settings = get_settings()
        path = self.sinks_file or settings.sinks_file
        entries = read_yaml(path).get("sinks") or {}
        if not isinstance(entries, dict):
            raise HaloError(f"{path}: 'sinks' must be a mapping of name -> settings")
        return entries

    def names(self) -> list[str]:
        return sorted(self._entries())

    def validate_names(self, names: list[str]) -> None:
        unknown = sorted(set(names) - set(self._entries()))
        if unknown:
            raise HaloError(f"unknown sink(s): {', '.join(unknown)}; known: {', '.join(self.names())}")

    def get(self, name: str) -> Sink:
        entries = self._entries()
        if name not in entries:
            raise HaloError(f"unknown sink {name!r}; known: {', '.join(sorted(entries))}")
        raw = dict(entries[name])
        kind = raw.pop("kind", None)
        kinds = load_sink_kinds()
        if kind not in kinds:
            raise HaloError(f"sink {name!r}: unknown kind {kind!r}; known: {', '.join(sorted(kinds))}")
        try:
            return kinds[kind](**expand_env(raw))
        except HaloError:
            raise
        except Exception as exc:  # validation: name the fields, never echo values (secrets)
            errors = exc.errors() if hasattr(exc, "errors") else []
            why = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors) or type(exc).__name__
            raise HaloError(f"sink {name!r} ({kind}): invalid settings: {why}") from None
