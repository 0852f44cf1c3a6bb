"""The one discovery mechanism for pluggable kinds (provider kinds, sink kinds, feed
formats, report tasks): every module of a plugin package declares its plugins as
top-level objects; `discover` imports the package's modules and collects them by key.

Adding a kind is adding a module; nothing lists the modules."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TypeVar

from halo_platform.core.errors import HaloError

T = TypeVar("T")


def discover(package: str, accept: Callable[[object], T | None], key: Callable[[T], str]) -> dict[str, T]:
    """`{key(plugin): plugin}` over the objects defined at the top level of every module of
    `package` (its `base` module and `_private` ones excepted) for which `accept` returns
    the plugin (or None to skip). Two plugins with one key are a configuration error."""
    found: dict[str, T] = {}
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for value in vars(module).values():
            if getattr(value, "__module__", module.__name__) != module.__name__ and isinstance(value, type):
                continue  # a class imported from elsewhere is declared there, not here
            plugin = accept(value)
            if plugin is None:
                continue
            name = key(plugin)
            if found.get(name, plugin) is not plugin:
                raise HaloError(f"{package}: {name!r} is declared twice")
            found[name] = plugin
    return found


def subclasses_of(base: type[T]) -> Callable[[object], type[T] | None]:
    """`accept` for classes: a subclass of `base` that names a `kind`."""
    return lambda v: v if isinstance(v, type) and issubclass(v, base) and v is not base and getattr(v, "kind", None) else None


def instances_of(base: type[T]) -> Callable[[object], T | None]:
    """`accept` for declared objects: an instance of `base`."""
    return lambda v: v if isinstance(v, base) else None
