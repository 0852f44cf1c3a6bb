"""Feed adapters, one module per format, and the feeds of `config/emr_feeds.yaml`.

A format is a module here declaring one `FeedFormat` (its `kind`, landing-file globs and
`parse(data: bytes, file: str) -> Parsed`), found by `core.plugins.discover`; a feed names
its format's kind in the YAML.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import yaml

from halo_platform.availability.feeds.base import FeedFormat
from halo_platform.availability.slots import check_rules
from halo_platform.core.errors import HaloError
from halo_platform.core.plugins import discover, instances_of
from halo_platform.core.settings import ConfigLoader, get_settings, read_yaml, refuse_unknown_keys
from halo_platform.core.text import echo

_NAME = re.compile(r"^[a-z][a-z0-9_]*\Z")
DEFAULT_QUARANTINE_THRESHOLD = 0.1
# the settings of a feed entry: the modules using them read each with `.get`, so another key (a
# misspelled `quarantine_treshold`, `max_lag_minute`, `landng`) would be ignored and its default taken
SETTINGS = ("format", "quarantine_threshold", "max_lag_minutes", "slot_rules", "landing", "endpoint_url")


@dataclass(frozen=True)
class Feed:
    name: str
    format: str
    quarantine_threshold: float = DEFAULT_QUARANTINE_THRESHOLD
    # the entry's other settings (max_lag_minutes, slot_rules, landing), read and checked by the modules using them
    options: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def adapter(self) -> FeedFormat:
        return adapter(self.format)

    def matches(self, path: PurePath) -> bool:
        return name_matches(path.name, self.adapter.patterns)


def name_matches(name: str, patterns: tuple[str, ...]) -> bool:
    """Whether a landed file's name matches one of a format's globs, whatever the case: EMRs on
    Windows write `SIU_0104.HL7`, and such a file dropped in the landing zone was never processed."""
    return any(fnmatch.fnmatchcase(name.lower(), pattern.lower()) for pattern in patterns)


@functools.cache
def formats() -> dict[str, FeedFormat]:
    """Every format declared by a module of this package, by kind."""
    return discover(__name__, instances_of(FeedFormat), lambda f: f.kind)


def adapter(fmt: str) -> FeedFormat:
    if not _NAME.match(fmt or ""):
        raise HaloError(f"invalid feed format {fmt!r}")
    if fmt not in formats():
        raise HaloError(f"unknown feed format {fmt!r}")
    return formats()[fmt]


def load_feeds(path: Path | None = None) -> dict[str, Feed]:
    """The feeds of `HALO_FEEDS_FILE` (default config/emr_feeds.yaml), re-read when the file changes."""
    path = Path(path or get_settings().feeds_file)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    return dict(_load_feeds(path, stamp))


class _TextKeysLoader(ConfigLoader):
    """Safe YAML keeping every scalar mapping key as the text it was written as. The feeds file's
    keys are names and ids (feeds, settings, appointment types, provider ids like HL7's 1001),
    never numbers: YAML reads 1001 and 0123 as the ints 1001 and 123, and the slot rules of a
    provider keyed so were silently never found."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        self.flatten_mapping(node)  # merge keys (`<<: *defaults`) first: they keep their meaning
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode):
                key.tag = "tag:yaml.org,2002:str"
        return super().construct_mapping(node, deep)


@functools.lru_cache(maxsize=16)
def _load_feeds(path: Path, _stamp: int | None) -> dict[str, Feed]:
    data = read_yaml(path, _TextKeysLoader)
    refuse_unknown_keys(data, ("feeds",), str(path))  # `feed:` was a file of no feeds
    entries = data.get("feeds") or {}
    if not isinstance(entries, dict):  # `feeds: [hl7]` was a bare AttributeError
        raise HaloError(f"{path}: feeds: expected a mapping of feed names to their settings, not a {type(entries).__name__}")
    feeds = {}
    for name, cfg in entries.items():
        if not _NAME.match(str(name)):
            raise HaloError(f"{path}: invalid feed name {name!r}")
        cfg = cfg or {}
        if not isinstance(cfg, dict):
            raise HaloError(f"{path}: feed {name}: expected a mapping of settings, not {type(cfg).__name__}")
        refuse_unknown_keys(cfg, SETTINGS, f"{path}: feed {name}")
        check_rules(cfg.get("slot_rules"), f"{path}: feed {name}: slot_rules")
        feed = Feed(str(name), str(cfg.get("format", name)), _threshold(path, name, cfg), dict(cfg))
        feed.adapter  # noqa: B018 - fail on an unknown format when the file is read
        feeds[feed.name] = feed
    return feeds


def _threshold(path: Path, name: str, cfg: dict) -> float:
    """The entry's quarantine_threshold, a share of a file's records in [0, 1] (7 made the check
    never fail, -1 always; a text like "5%" was a bare ValueError)."""
    value = cfg.get("quarantine_threshold", DEFAULT_QUARANTINE_THRESHOLD)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise HaloError(f"{path}: feed {name}: quarantine_threshold must be a number from 0 to 1, got {value!r}")
    return float(value)


def get_feed(name: str) -> Feed:
    feeds = load_feeds()
    if name not in feeds:
        raise HaloError(f"unknown feed {echo(name)}; known: {', '.join(sorted(feeds))}")
    return feeds[name]
