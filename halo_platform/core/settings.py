"""Settings: the spec's environment variables, their defaults, read in one place.

Values are read from the environment at call time (a `.env` file in the working
directory, then the project's, is loaded once, never overriding real variables), so tests and the CLI
can point the platform elsewhere by setting variables.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from halo_platform.core.errors import HaloError
from halo_platform.core.text import echo

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@functools.cache
def _load_dotenv() -> None:
    from dotenv import load_dotenv
    from dotenv.parser import parse_stream

    # the project's too: `make run` starts dagster from $DAGSTER_HOME
    for path in (Path.cwd() / ".env", PROJECT_ROOT / ".env"):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise HaloError(f"{path}: not UTF-8 text") from None
        # python-dotenv skips such a line with a warning naming no file: `HALO_DB_URL postgresql://...`
        # (no `=`) left the platform on the default SQLite store. The line is not quoted: it may hold a password
        bad = next((binding.original.line for binding in parse_stream(io.StringIO(text)) if binding.error), None)
        if bad is not None:
            raise HaloError(f"{path}: line {bad} is not NAME=value")
        load_dotenv(stream=io.StringIO(text), override=False)


def _config_path(value: str | None, default_name: str) -> Path:
    if value:
        return Path(value).expanduser()
    local = Path("config") / default_name
    return local if local.exists() else PROJECT_ROOT / "config" / default_name


@dataclass(frozen=True)
class Settings:
    home: Path
    db_url: str
    warehouses_file: Path
    providers_file: Path
    sinks_file: Path
    feeds_file: Path
    alerts: tuple[str, ...]
    dagster_home: Path
    dagster_ui_url: str
    sink_attempts: int
    sink_backoff: tuple[float, ...]
    duckdb_memory_limit: str
    api_rate_per_second: float

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"


MAX_RATE_PER_SECOND = 100_000  # an API key's rate, its own or HALO_API_RATE
MAX_SINK_ATTEMPTS = 100  # a sink delivery's tries: HALO_SINK_ATTEMPTS or the sinks resource's
MAX_SINK_BACKOFF = 86_400  # seconds between two of them: HALO_SINK_BACKOFF or the resource's


def home_folder(value: str | None) -> Path:
    """HALO_HOME's folder: absolute (from the working folder), `~` expanded; `./.halo` when unset or empty."""
    return Path(value or "./.halo").expanduser().absolute()


def get_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Resolve every setting from `env` (default: the process environment)."""
    if env is None:
        _load_dotenv()
        env = os.environ
    home = home_folder(env.get("HALO_HOME"))
    named = env.get("HALO_ALERTS") or "alerts"
    alerts = tuple(a.strip() for a in named.split(","))
    if not all(alerts):  # `,` was no alert sink at all: every failed run alerted nobody
        raise HaloError(f"HALO_ALERTS must be a comma list of sink names, got {named!r} (an empty name)")
    return Settings(
        home=home,
        db_url=env.get("HALO_DB_URL") or f"sqlite:///{home / 'halo.db'}",
        warehouses_file=_config_path(env.get("HALO_WAREHOUSES_FILE"), "warehouses.yaml"),
        providers_file=_config_path(env.get("HALO_PROVIDERS_FILE"), "providers.yaml"),
        sinks_file=_config_path(env.get("HALO_SINKS_FILE"), "sinks.yaml"),
        feeds_file=_config_path(env.get("HALO_FEEDS_FILE"), "emr_feeds.yaml"),
        alerts=alerts,
        dagster_home=Path(env.get("DAGSTER_HOME") or "./.dagster_home").expanduser().absolute(),
        dagster_ui_url=(env.get("DAGSTER_UI_URL") or "http://127.0.0.1:3000").rstrip("/"),
        sink_attempts=_number(env, "HALO_SINK_ATTEMPTS", "3", int, 1, MAX_SINK_ATTEMPTS),
        sink_backoff=tuple(_number({"HALO_SINK_BACKOFF": x}, "HALO_SINK_BACKOFF", "", float, 0, MAX_SINK_BACKOFF)
                           for x in (env.get("HALO_SINK_BACKOFF") or "2,8").split(",")),
        duckdb_memory_limit=_memory_size(env, "HALO_DUCKDB_MEMORY_LIMIT", "512MB"),
        api_rate_per_second=_number(env, "HALO_API_RATE", "50", float, 0, MAX_RATE_PER_SECOND, above_lo=True),
    )


def _number(env: Mapping[str, str], name: str, default: str, kind: type, lo: float, hi: float, above_lo: bool = False) -> Any:
    """`name` as a `kind` in [lo, hi] (in (lo, hi] when `above_lo`). nan and infinity are never in
    range: each failed at run time (a 500 on every keyed request, a wait for ever); an error
    naming the setting at start is the rule."""
    raw = env.get(name) or default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not ((lo < value) if above_lo else (lo <= value)) or not value <= hi:
        what = "a whole number" if kind is int else "a number"
        raise HaloError(f"{name} must be {what} in {'(' if above_lo else '['}{lo:g}, {hi:g}], got {raw!r}")
    return value


_MEMORY_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+) ?[KMGT]i?B", re.IGNORECASE | re.ASCII)


def _memory_size(env: Mapping[str, str], name: str, default: str) -> str:
    """`name` as a size DuckDB reads (`512MB`, `2GiB`): `lots` was found only when a report ran,
    which failed with DuckDB's "Memory must have a number", naming no setting (`0MB`: out of memory)."""
    raw = env.get(name) or default
    match = _MEMORY_SIZE.fullmatch(raw)
    if match is None or not float(match.group(1)) > 0:
        raise HaloError(f"{name} must be a size such as 512MB or 2GiB (KB, MB, GB, TB, KiB, MiB, GiB, TiB), got {raw!r}")
    return raw


def expand_env(value: Any, settings: Settings | None = None, env: Mapping[str, str] | None = None) -> Any:
    """Replace `${NAME}` references in a YAML value, recursively.

    `${HALO_HOME}` is the home folder as the settings resolve it (absolute: `HALO_HOME=.halo` made
    `${HALO_HOME}/outbox` a relative path, which a sink refuses). A missing variable is a
    configuration error naming the variable (never a value). Call this at run
    time only: the result may hold secrets and must not reach run config or logs.
    """
    env = os.environ if env is None else env

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "HALO_HOME":  # the home folder as the settings resolve it (absolute, `~` expanded); unset, the
            # settings' (resolved only then: a provider's client is built per send)
            return str(home_folder(env[name]) if name in env else (settings or get_settings()).home)
        if name in env:
            return env[name]
        raise HaloError(f"environment variable {name} is referenced in configuration but not set")

    if isinstance(value, str):
        return _ENV_REF.sub(lookup, value)
    if isinstance(value, list):
        return [expand_env(v, settings, env) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v, settings, env) for k, v in value.items()}
    return value


def env_references(value: Any) -> tuple[str, ...]:
    """The variables that must be set for `expand_env` to expand `value`: those its `${NAME}`
    references name (recursively, as `expand_env` reads them), each once, in order. `HALO_HOME`
    is not one: it falls back to the home folder."""
    if isinstance(value, str):
        names = _ENV_REF.findall(value)
    elif isinstance(value, list | dict):
        names = [n for v in (value.values() if isinstance(value, dict) else value) for n in env_references(v)]
    else:
        names = []
    return tuple(dict.fromkeys(n for n in names if n != "HALO_HOME"))


def refuse_unknown_keys(mapping: Mapping[Any, Any], allowed: Collection[str], at: str, error: type[HaloError] = HaloError) -> None:
    """`error` naming `at` and the first key of `mapping` that is not one of `allowed`. A setting
    of a configuration file is read with `.get(key, default)`, so a misspelled one (`Start`,
    `country`) was ignored without a word and its default taken: no quiet hours at all."""
    unknown = [key for key in mapping if key not in allowed]
    if unknown:
        raise error(f"{at}: unknown key {echo(unknown[0])} (expected {', '.join(allowed)})")


TOO_MANY_NODES = "too many nodes (aliases?)"
# far above any configuration file's, far below what an alias bomb expands to: `&b [*a, *a, *a]`
# nested 20 levels deep is 3**20 nodes in a 400-byte file, which expand_env copied one by one
MAX_YAML_NODES = 100_000


class ConfigLoader(yaml.SafeLoader):
    """Safe YAML whose plain scalars are read as YAML 1.2's core schema reads them. PyYAML reads
    YAML 1.1, where yes, no, on and off are booleans (Norway's code `country: NO` was false, a
    sink named `no` the key False), `21:00` is the sexagesimal 1260, `045` the octal 37 and
    `2024-01-01` a date. Here only true and false are booleans, `045` is 45 (`0o17` and `0x1F`
    are octal and hex), and times and dates are the text they were written as; `_` between
    digits still groups them (`10_485_760`)."""

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """PyYAML's merge (`<<: [*a, *a]`), the pairs it copies counted before they are: it copies
        every pair of each mapping merged, so merges of merges grew exponentially while loading."""
        merged = [source for key, value in node.value if key.tag == "tag:yaml.org,2002:merge"
                  for source in (value.value if isinstance(value, yaml.SequenceNode) else [value]) if isinstance(source, yaml.MappingNode)]
        for source in merged:
            self.flatten_mapping(source)
        if len(node.value) + sum(len(source.value) for source in merged) > MAX_YAML_NODES:
            raise yaml.constructor.ConstructorError(None, None, TOO_MANY_NODES, node.start_mark)
        super().flatten_mapping(node)


def _construct_int(loader: ConfigLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node).replace("_", "")
    return int(text, 0) if text[:2] in ("0o", "0x") else int(text, 10)


def _construct_float(loader: ConfigLoader, node: yaml.ScalarNode) -> float | str:
    # a number too large for a float (`1e999`, which YAML 1.1 read as text) stays the text it was
    # written as, so that the setting's error quotes it rather than saying `inf`; `.inf` is infinity
    value = loader.construct_yaml_float(node)
    return loader.construct_scalar(node) if math.isinf(value) and "inf" not in node.value.lower() else value


ConfigLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("int", r"[-+]?[0-9][0-9_]*|0o[0-7][0-7_]*|0x[0-9a-fA-F][0-9a-fA-F_]*", "-+0123456789"),
    ("float", r"[-+]?(?:\.[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
     "-+.0123456789"),
    ("null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    ("merge", r"<<", "<"),
):
    ConfigLoader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(rf"^(?:{_pattern})$"), list(_first))
ConfigLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
ConfigLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


YAML_TOO_DEEP = "invalid YAML: nested too deeply"


def read_yaml(path: Path, loader: type[ConfigLoader] = ConfigLoader) -> dict[str, Any]:
    """Read a YAML mapping with `loader` (a `ConfigLoader`); a missing or malformed file is one clear error."""
    try:
        data = yaml.load(Path(path).read_text(), Loader=loader)  # noqa: S506 - a SafeLoader
    except FileNotFoundError:
        raise HaloError(f"configuration file not found: {path}") from None
    except UnicodeDecodeError:
        raise HaloError(f"{path}: not UTF-8 text") from None
    except OSError as exc:  # a folder, no permission
        raise HaloError(f"{path}: cannot be read: {exc.strerror or type(exc).__name__}") from None
    except yaml.YAMLError as exc:
        raise HaloError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:  # PyYAML reads nesting recursively: a few hundred levels exhaust the stack
        raise HaloError(f"{path}: {YAML_TOO_DEEP}") from None
    if not isinstance(data, dict):
        raise HaloError(f"{path}: expected a mapping at the top level")
    if _too_many_nodes(data):
        raise HaloError(f"{path}: invalid YAML: {TOO_MANY_NODES}")
    return data


def _too_many_nodes(data: Any) -> bool:  # noqa: ANN401 - any YAML value
    """Whether `data` holds more than `MAX_YAML_NODES` values as those that walk it (`expand_env`)
    see them: an alias's value once per use. Counted without recursion and no further than the
    limit, so neither an alias bomb nor an alias of its own parent (`&a [*a]`) is walked whole."""
    pending, seen = [data], 0
    while pending:
        value = pending.pop()
        seen += 1
        if seen + len(pending) > MAX_YAML_NODES:
            return True
        if isinstance(value, dict):
            pending += [*value, *value.values()]
        elif isinstance(value, list):
            pending += value
    return False
