"""Report and alert destinations. Every module in this package defining a `Sink`
subclass with a `kind` is a sink kind (found by `core.plugins.discover`); `SinksResource`
builds named sinks from `HALO_SINKS_FILE` and delivers through them with retries."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import dagster as dg
from pydantic import Field, PrivateAttr, TypeAdapter, ValidationError

from halo_platform.core.errors import HaloError, invalid_settings
from halo_platform.core.models import utcnow
from halo_platform.core.plugins import discover, subclasses_of
from halo_platform.core.redact import error_line
from halo_platform.core.settings import (
    MAX_SINK_ATTEMPTS,
    MAX_SINK_BACKOFF,
    env_references,
    expand_env,
    get_settings,
    read_yaml,
    refuse_unknown_keys,
)
from halo_platform.core.text import cut, echo, named_more_than_once, visible
from halo_platform.sinks.base import Delivery, DeliveryOutcome, Link, Sink, SinkError, deliver_with_retries

__all__ = ["Delivery", "DeliveryOutcome", "Link", "Sink", "SinksResource", "UnknownSink", "deliver_with_retries", "sink_kinds"]


class UnknownSink(HaloError):
    """A sink name the sinks file does not have (or one named twice, or with blanks around it), or
    whose kind no sink module declares, or whose entry the check of the file refuses."""


@functools.cache
def sink_kinds() -> dict[str, type[Sink]]:
    """`{kind: Sink subclass}` over the modules of this package."""
    return discover(__name__, subclasses_of(Sink), key=lambda cls: cls.kind)


class SinksResource(dg.ConfigurableResource):
    """The named destinations of `HALO_SINKS_FILE` (default `config/sinks.yaml`).

    Only the file path and the retry policy are configuration; the YAML (and the secrets it
    references as `${ENV}`) is read when a sink is used, so secrets never reach run config.
    Built sinks are kept, and built again when their settings change.
    `attempts` and `backoff` default to `HALO_SINK_ATTEMPTS` / `HALO_SINK_BACKOFF` at run time,
    and are held to the same bounds: they can be set in a run's config (the launchpad), where a
    negative or NaN backoff failed the delivery loop in its first retry (the sinks after it got
    nothing) and no attempt at all was made with `attempts: -1`."""

    sinks_file: str | None = None
    attempts: int | None = Field(default=None, ge=1, le=MAX_SINK_ATTEMPTS)
    backoff: list[Annotated[float, Field(ge=0, le=MAX_SINK_BACKOFF, allow_inf_nan=False)]] | None = None
    _built: dict[tuple[str, str], Sink] = PrivateAttr(default_factory=dict)

    def path(self) -> str:
        """The sinks file read: this resource's, else HALO_SINKS_FILE's."""
        return str(self.sinks_file or get_settings().sinks_file)

    def _entries(self) -> dict[str, dict]:
        path = self.path()
        entries = read_yaml(path).get("sinks") or {}
        if not isinstance(entries, dict):
            raise HaloError(f"{path}: 'sinks' must be a mapping of name -> settings")
        return entries

    def names(self) -> list[str]:
        return sorted(self._entries())

    def validate_names(self, names: list[str], check_kinds: bool = True,
                       missing: Callable[[list[str]], HaloError] | None = None) -> None:
        """Refuse a name given twice, one the file does not have or, with `check_kinds`, whose kind
        no sink module declares: a request or schedule naming it is refused when made (the CLI, the
        API and the Control Center all come here), not failed when its run delivers. Names nobody
        gave (a task's default sinks) the file does not have are `missing(those names)`'s error, not
        an unknown sink: the file is checked against them in the same reading."""
        self._validate(names, self._entries, check_kinds, missing)

    def names_check(self) -> Callable[..., None]:
        """`validate_names` (its `names` and `missing`) against the file as it read at the first check
        that reads it: the runs due at a sensor tick (200 schedules: 200 readings of some 17 ms) are
        checked against one reading, and a file that does not read is that same error for each.
        Another call reads the file again."""
        read: list[dict | HaloError] = []

        def entries() -> dict[str, dict]:
            if not read:
                try:
                    read.append(self._entries())
                except HaloError as exc:
                    read.append(exc)
            if isinstance(read[0], HaloError):
                raise read[0]
            return read[0]

        return lambda names, missing=None: self._validate(names, entries, True, missing)

    def _validate(self, names: list[str], read_entries: Callable[[], dict[str, dict]], check_kinds: bool,
                  missing: Callable[[list[str]], HaloError] | None) -> None:
        twice = named_more_than_once(names)
        if twice:  # such a sink would be sent the file twice
            raise UnknownSink(f"sinks: named more than once: {cut(', '.join(map(visible, twice)))}")
        entries = read_entries()
        if missing is not None and (absent := [name for name in names if name not in entries]):
            raise missing(absent)
        unknown = sorted(set(names) - set(entries))
        if any(not name.strip() for name in unknown):  # joined with the others it read 'unknown sink(s): ; known: ...'
            raise UnknownSink(f"a sink name is empty (name sinks, or leave them out for the default ones); known: {', '.join(sorted(entries))}")
        # ' outbox' read 'unknown sink(s): outbox' once an error line's blanks were joined: the known name refused
        if padded := next((name for name in unknown if name != name.strip()), None):
            raise UnknownSink(f"sink name {echo(padded)} has blanks around it; known: {', '.join(sorted(entries))}")
        if unknown:  # a control character written out: a CLI line shows it as a blank ('outbox\x00' read 'outbox ')
            raise UnknownSink(f"unknown sink(s): {cut(', '.join(map(visible, unknown)))}; known: {', '.join(sorted(entries))}")
        if check_kinds:
            kinds = sink_kinds()  # the sink modules, listed once for all the names
            for name in dict.fromkeys(names):
                self._check_links(name, entries, kinds)

    @staticmethod
    def _kind(name: str, entry: object, kinds: dict[str, type[Sink]]) -> type[Sink]:
        """The sink class of the entry, whose keys must be its kind's settings: another key was
        dropped when the sink was built (`ftps: true` for `tls` sent the report over plain FTP)."""
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if not isinstance(kind, str) or kind not in kinds:
            raise UnknownSink(f"sink {name!r}: unknown kind {kind!r}; known: {', '.join(sorted(kinds))}")
        refuse_unknown_keys(entry, ("kind", *kinds[kind].model_fields), f"sink {name!r}", UnknownSink)
        return kinds[kind]

    @classmethod
    def _check_links(cls, name: str, entries: dict[str, dict], kinds: dict[str, type[Sink]]) -> None:
        """The kind and keys of sink `name`, its size limit and its link store, which must be a sink of
        the file whose kind and settings serve links (`Sink.links_refused`). Each was found only when
        it was used: a negative `max_file_bytes` when the sink was built (every file then over it),
        an unknown link store or one that serves no links when a file first went over the limit,
        failing that run. A `${VAR}` is left to the build (its value is read when the sink delivers)."""
        entry = entries[name]
        cls._check_limits(name, entry, cls._kind(name, entry, kinds))
        store = entry.get("link_store")
        if store is None or env_references(store):
            return
        if store not in entries:
            raise UnknownSink(f"sink {name!r}: link_store {echo(store)} is not a sink of the sinks file; known: {', '.join(sorted(entries))}")
        # its settings as written, unchecked and unexpanded (its secrets are read when it delivers): whether
        # its kind serves links depends on them alone (a folder's `url`)
        settings = {key: value for key, value in entries[store].items() if key != "kind"}
        if refused := cls._kind(store, entries[store], kinds).model_construct(**settings).links_refused():
            raise UnknownSink(f"sink {name!r}: link_store {store!r}: {refused}")

    @staticmethod
    def _check_limits(name: str, entry: dict, sink: type[Sink]) -> None:
        """The sink's `max_file_bytes` and `link_store` as written, strictly: YAML's `true` was taken
        as a limit of 1 byte and a quoted "10" as 10 (pydantic's lax int), a limit nobody wrote. A
        `${VAR}` is text however it is written, so its value is left to the build's lax reading."""
        for setting in ("max_file_bytes", "link_store"):
            if setting in entry and not env_references(entry[setting]):
                try:
                    TypeAdapter(sink.model_fields[setting].annotation).validate_python(entry[setting], strict=True)
                except ValidationError as exc:  # as the build says it
                    raise UnknownSink(f"sink {name!r} ({entry['kind']}): invalid settings: {setting}: {exc.errors()[0]['msg']}") from None

    def get(self, name: str) -> Sink:
        entries = self._entries()
        if name not in entries:
            raise UnknownSink(f"unknown sink {name!r}; known: {', '.join(sorted(entries))}")
        cls = self._kind(name, entries[name], sink_kinds())
        self._check_limits(name, entries[name], cls)  # the file may have changed since its check
        raw = dict(entries[name])
        kind = raw.pop("kind")
        settings = expand_env(raw)
        key = (name, json.dumps([kind, settings], sort_keys=True, default=str))
        if key not in self._built:
            for stale in [k for k in self._built if k[0] == name]:  # its settings changed
                del self._built[stale]
            self._built[key] = self._build(name, kind, cls, settings)
        return self._built[key]

    @staticmethod
    def _build(name: str, kind: str, cls: type[Sink], settings: dict) -> Sink:
        try:
            return cls(**settings)
        except HaloError:
            raise
        except Exception as exc:  # validation: name the fields, never echo values (secrets)
            raise invalid_settings(f"sink {name!r} ({kind})", exc) from None

    def deliver(self, name: str, delivery: Delivery, attempts: int | None = None,
                backoff: list[float] | None = None) -> DeliveryOutcome:
        """Deliver through sink `name` with this resource's retry policy (or the one given).
        An unknown or misconfigured sink raises HaloError; a failed delivery is an outcome.

        Files over the sink's `max_file_bytes` go first to its `link_store` (same retry policy);
        the sink then gets links to them, and the outcome's targets name the stored files too. The
        detail says why each went: over the limit, or (an email's) not fitting beside the others."""
        settings = get_settings()
        policy = {"attempts": attempts or self.attempts or settings.sink_attempts,
                  "backoff_seconds": tuple(backoff or self.backoff or settings.sink_backoff)}
        sink = self.get(name)
        over = sink.too_large(delivery) if sink.link_store else []
        if not over:
            return deliver_with_retries(name, sink, delivery, **policy)
        store_name = sink.link_store
        try:  # a missing or misconfigured link store is this sink's failure, like the sink's own
            store = self.get(store_name)
        except HaloError as exc:
            return DeliveryOutcome(name, "FAILED", 0, [], f"link store {store_name}: unusable: {exc}", permanent=True)
        # asked before it stores: an email or FTP link store had the file (another team's mailbox), then
        # refused the link, and the run's retry sent it there again
        if refused := store.links_refused():
            return DeliveryOutcome(name, "FAILED", 0, [], f"link store {store_name}: unusable: {refused}", permanent=True)
        kept: list[str] = []  # the files stored, the sink's targets too
        made: list[Link] = []
        linked = delivery
        while over:  # the links' lines take room in an email's message: once more for the files they leave no room for
            stored = deliver_with_retries(store_name, store, Delivery(delivery.subject, files=over), **policy)
            if stored.status != "DELIVERED":
                tries = [{**t, "error": f"link store {store_name}: {t['error']}" if t["error"] else None} for t in stored.tries]
                return DeliveryOutcome(name, "FAILED", stored.attempts, kept, f"link store {store_name}: {stored.detail}",
                                       tries=tries, permanent=stored.permanent)
            try:
                links = [Link(p.name, p.stat().st_size, store.link(target), sink.fits_alone(linked, p))
                         for p, target in zip(over, stored.targets, strict=True)]
            except SinkError as exc:
                error = f"link store {store_name}: {exc}"
                return DeliveryOutcome(name, "FAILED", 1, kept, error, tries=[
                    {"attempt": 1, "at": utcnow().isoformat(), "outcome": "FAILED", "error": error_line(error)[0]}])
            kept += stored.targets
            made += links
            linked = replace(linked, files=[f for f in linked.files if Path(f) not in over], links=[*linked.links, *links])
            over = sink.too_large(linked)
        outcome = deliver_with_retries(name, sink, linked, **policy)
        # the stored files are the sink's targets whatever its outcome: a failed sink's rows say where they are
        outcome.targets += kept
        if outcome.status == "DELIVERED":
            why: dict[str, list[str]] = {}  # over the limit alone, or beside the other files
            for link in made:
                why.setdefault(sink.not_carried(link.beside), []).append(f"{link.name} ({link.size} bytes)")
            outcome.detail = "; ".join(f"{reason}, sent as a link via {store_name}: {', '.join(files)}" for reason, files in why.items())
        else:
            outcome.detail += f"; not sent, kept by link store {store_name}: {', '.join(kept)}"
        return outcome
