"""The delivery configuration (`HALO_PROVIDERS_FILE`): providers, routing rules, retry and
autopilot settings. Parsing is pure; `${ENV}` secrets stay unexpanded here and are only
resolved when a provider is built (`providers.build_provider`)."""

from __future__ import annotations

import datetime as dt
import functools
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import phonenumbers

from halo_platform.core.errors import HaloError
from halo_platform.core.settings import env_references, expand_env, get_settings, read_yaml, refuse_unknown_keys
from halo_platform.core.text import echo, plain_number
from halo_platform.delivery.quiet_hours import QuietHours

CHANNELS = ("sms", "email", "push")
PRIORITIES = {"HIGH": 0, "NORMAL": 1, "LOW": 2}
#: SMS segments a body may take unless `max_segments: {sms: N}` says otherwise
DEFAULT_MAX_SEGMENTS = 6
#: the most characters of an SMS body a provider kind takes (Twilio: 1,600, error 21617 past it)
SMS_BODY_LIMITS = {"twilio": 1600}
#: GSM-7 characters per segment of a body of several (the most characters `max_segments` lets in)
GSM7_PER_SEGMENT = 153
#: what happens to a message whose request was in flight when its dispatcher died (and whose
#: provider has no request idempotency): it ends `lost`, or it is sent once more
ON_UNKNOWN = ("lost", "resend")
#: a provider's request timeout unless its `timeout_seconds` says otherwise
DEFAULT_TIMEOUT_SECONDS = 10.0
#: how much longer than the longest provider timeout a lease must be. A request's lease is
#: renewed when its in-flight marker is written (before it leaves) and released when its answer
#: is written: on top of the request itself (at most `timeout_seconds` on the wire, plus an SMTP
#: relay's connect of up to 5 s), the time until its marker commits and its answer's transaction
#: commits (each may wait behind another transaction; tens of ms, p99 under 0.1 s measured on
#: SQLite during a drain) and the clock difference between dispatchers' hosts (NTP: well under a
#: second). A lease that ends first lets another dispatcher take the message while its request
#: is in flight: it was recorded `lost` although accepted, or sent twice
LEASE_MARGIN_SECONDS = 10.0
DEFAULT_CAPABILITIES = {
    "sms": ("TEXT", "SECURE", "VOICE"),
    "email": ("TRANSACTIONAL", "SECURE", "MARKETING"),
    "push": ("ALERT", "TRANSACTIONAL", "SILENT"),
}


@dataclass(frozen=True)
class Rule:
    """A routing rule: the weights for messages of `channel` to `country` needing `capability`."""

    channel: str
    country: str
    capability: str
    weights: dict[str, float]

    @property
    def key(self) -> str:
        return f"{self.channel}/{self.country}/{self.capability}"

    @property
    def specificity(self) -> int:
        return (2 if self.country != "*" else 0) + (1 if self.capability != "*" else 0)


@dataclass(frozen=True)
class RetryConfig:
    max_retries: int = 5
    backoff_seconds: tuple[float, ...] = (30, 120, 600, 1800, 3600)

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry number `retry_number` (1-based)."""
        return float(self.backoff_seconds[min(retry_number - 1, len(self.backoff_seconds) - 1)])


@dataclass(frozen=True)
class AutopilotConfig:
    window_minutes: float = 10
    min_attempts: int = 20
    error_rate_threshold: float = 0.25
    ramp_percent: tuple[float, ...] = (10, 25, 50, 100)
    share_tolerance: float = 0.15  # |actual - configured| share above this warns


@dataclass(frozen=True)
class ProviderEntry:
    """A provider as written in the file (secrets still `${ENV}` references)."""

    name: str
    kind: str
    channel: str
    countries: tuple[str, ...]
    capabilities: tuple[str, ...]
    raw: dict[str, Any] = field(repr=False)

    def covers(self, country: str | None, capability: str) -> bool:
        country_ok = "*" in self.countries or (country is not None and country in self.countries)
        return country_ok and ("*" in self.capabilities or capability in self.capabilities)

    def refuses(self, rule: Rule) -> str:
        """Why this provider may not carry traffic of `rule` ('' when it may): another channel, or
        a country or capability the rule names that it does not serve."""
        if self.channel != rule.channel:
            return f"{self.name} is a {self.channel} provider, not {rule.channel}"
        if rule.country != "*" and "*" not in self.countries and rule.country not in self.countries:
            return f"{self.name} does not serve {rule.country}"
        if rule.capability != "*" and "*" not in self.capabilities and rule.capability not in self.capabilities:
            return f"{self.name} does not offer {rule.capability}"
        return ""


@dataclass(frozen=True)
class DeliveryConfig:
    providers: dict[str, ProviderEntry]
    rules: tuple[Rule, ...]
    retry: RetryConfig = RetryConfig()
    autopilot: AutopilotConfig = AutopilotConfig()
    capabilities: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_CAPABILITIES))
    high_deadline_seconds: float = 5.0
    lease_seconds: float = 120.0
    source: str = ""
    #: channel -> most segments of a body (only SMS bodies have segments)
    max_segments: dict[str, int] = field(default_factory=lambda: {"sms": DEFAULT_MAX_SEGMENTS})
    #: channel -> priority -> ON_UNKNOWN; absent means `lost`
    on_unknown: dict[str, dict[str, str]] = field(default_factory=dict)
    #: channel -> country (or "*") -> the window NORMAL/LOW messages wait out (None: none there)
    quiet_hours: dict[str, dict[str, QuietHours | None]] = field(default_factory=dict)

    def quiet_hours_for(self, channel: str, country: str | None) -> QuietHours | None:
        """The channel's quiet hours for `country`: its override if it has one, else the channel's."""
        windows = self.quiet_hours.get(channel, {})
        return windows[country] if country in windows else windows.get("*")

    def on_unknown_for(self, channel: str, priority: str) -> str:
        """`lost` unless the channel opted into `resend` for this priority. `lost` is the default
        for every priority: an uncertain request may have been accepted, and the spec promises
        never twice; a channel that prefers a rare duplicate to a loss opts in per priority."""
        return self.on_unknown.get(channel, {}).get(priority, "lost")

    @functools.cached_property
    def secret_references(self) -> tuple[tuple[str, str], ...]:
        """(provider, variable) for each variable a provider's settings reference (`${NAME}`), which
        must be set to build its client: found once per reading of the file, not on each routing."""
        return tuple((name, variable) for name, entry in self.providers.items() for variable in env_references(entry.raw))

    def unset_secrets(self) -> dict[str, tuple[str, ...]]:
        """Per provider whose settings reference a `${ENV}` variable that is not set (its client
        cannot be built): those variables, in the order written. The environment is read on each
        call (as settings are), so a variable set since makes its provider usable again."""
        env = os.environ
        unset: dict[str, tuple[str, ...]] = {}
        for name, variable in [ref for ref in self.secret_references if ref[1] not in env]:
            unset[name] = (*unset.get(name, ()), variable)
        return unset

    def unusable(self) -> dict[str, str]:
        """Per provider whose client cannot be built from the environment as it is now: why. A
        `${ENV}` variable it references is not set, or its `base_url` from one holds a user name or
        password (refused as the file's own URL is). Routing gives it no traffic: drawn, building
        its client failed the dispatch run of its channel."""
        why = {name: (f"environment variable{'s' if len(variables) > 1 else ''} {', '.join(variables)} "
                      f"{'are' if len(variables) > 1 else 'is'} not set: its client cannot be built, routing gives it no traffic")
               for name, variables in self.unset_secrets().items()}
        for name in {name for name, _ in self.secret_references} - set(why):
            if holds_credentials(expand_env(self.providers[name].raw.get("base_url"))):
                why[name] = f"base_url from the environment: {CREDENTIALS_IN_URL}; routing gives it no traffic"
        return why

    def rule(self, key: str) -> Rule:
        for rule in self.rules:
            if rule.key == key:
                return rule
        raise HaloError(f"unknown routing rule {echo(key)}; known: {', '.join(r.key for r in self.rules)}")


def country_code(value: Any, what: str = "country") -> str | None:
    """A country (any letter case) as an upper-case ISO 3166-1 code, None if absent. A message's
    `country` and every country of the providers file are checked alike: `UK` (GB is the code) in
    the file was a provider, rule or quiet-hours override no message ever matched."""
    if value is None:
        return None
    # ASCII only: Unicode upper-casing makes the long s of `ſt` an S (Sao Tome)
    if not isinstance(value, str) or not value.isascii() or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise HaloError(f"{what}: {echo(value)} is not an ISO 3166-1 alpha-2 country code")
    return value.upper()


def _country_or_any(value: Any, what: str) -> str:
    """A country code of the providers file, or `*` for every country."""
    if value == "*":
        return value
    if value is None:
        raise HaloError(f"{what}: expected an ISO 3166-1 alpha-2 country code or *")
    return country_code(value, what)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    """A list of strings as written (one string is a list of one); absent is `*`, every one."""
    if value is None:
        return ("*",)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HaloError(f"{where}: expected a list of strings")
    return tuple(value)


def _tuple_of_str(value: Any, where: str) -> tuple[str, ...]:
    """Capabilities as messages name them: upper case, without the blanks around them (` TEXT`
    matched no message's TEXT)."""
    return tuple(v.strip().upper() for v in _strings(value, where))


def _rule_capability(value: Any, what: str) -> str:
    """A routing rule's capability, upper case and stripped, or `*`."""
    if not isinstance(value, str) or not value.strip():
        raise HaloError(f"{what}: expected a capability such as TEXT, or *")
    return value.strip().upper()


#: a provider's name in the providers file
PROVIDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


#: the sections of the providers file
SECTIONS = ("providers", "routing", "retry", "autopilot", "capabilities", "high_deadline_seconds", "lease_seconds", "on_unknown",
            "max_segments", "quiet_hours")


def holds_credentials(url: Any) -> bool:  # noqa: ANN401 - any YAML value
    """`url` is a URL with a user name or password (`https://user:pw@host`): the provider clients
    authenticate with their own settings and send the URL's host only, so these would be dropped
    without a word. (A URL the clients cannot read at all is refused when one is built.)"""
    try:
        return isinstance(url, str) and "@" in urlsplit(url).netloc
    except ValueError:
        return False


#: why a base_url with a user name or password is refused (the URL itself is never shown)
CREDENTIALS_IN_URL = "a user name or password in the URL is never sent to the provider; give its credentials in the provider's own settings"


def credentials_in_base_url(what: str) -> HaloError:
    """The error for provider `what`'s base_url holding a user name or password (never the URL)."""
    return HaloError(f"{what}.base_url: {CREDENTIALS_IN_URL}")


def parse_config(data: dict[str, Any], source: str = "") -> DeliveryConfig:
    """Validate and parse the providers file's mapping. A key it does not know is refused, here and
    in every section: each is read with a default, and a misspelled one (`contry: FR` in a rule,
    `max_retry: 0`) was that default without a word (the rule routed every country)."""
    where = source or "providers file"
    refuse_unknown_keys(data, SECTIONS, where)
    providers_raw = data.get("providers") or {}
    if not isinstance(providers_raw, dict):
        raise HaloError(f"{where}: 'providers' must be a mapping of name -> settings")
    providers: dict[str, ProviderEntry] = {}
    for name, raw in providers_raw.items():
        if not isinstance(name, str) or not PROVIDER_NAME.fullmatch(name):
            raise HaloError(f"{where}: provider name {name!r} must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or"
                            " digit (it is a path segment of its callback URL and a column of the store)")
        if (twin := next((other for other in providers if other.lower() == name.lower()), None)) is not None:
            raise HaloError(f"{where}: provider names {twin!r} and {name!r} differ only in letter case, which a MariaDB store"
                            " does not tell apart")
        if not isinstance(raw, dict) or not raw.get("kind") or raw.get("channel") not in CHANNELS:
            raise HaloError(f"{where}: provider {name!r} needs 'kind' and 'channel' (one of {', '.join(CHANNELS)})")
        if holds_credentials(raw.get("base_url")):
            raise credentials_in_base_url(f"{where}: provider {name}")
        providers[name] = ProviderEntry(
            name=name,
            kind=str(raw["kind"]),
            channel=raw["channel"],
            countries=tuple(_country_or_any(c, f"{where}: provider {name}.countries")
                            for c in _strings(raw.get("countries"), f"{where}: provider {name}.countries")),
            capabilities=_tuple_of_str(raw.get("capabilities"), f"{where}: provider {name}.capabilities"),
            raw=dict(raw),
        )
    rules = []
    for i, raw in enumerate(data.get("routing") or []):
        if not isinstance(raw, dict) or raw.get("channel") not in CHANNELS or not isinstance(raw.get("weights"), dict):
            raise HaloError(f"{where}: routing[{i}] needs 'channel' and 'weights'")
        refuse_unknown_keys(raw, ("channel", "country", "capability", "weights"), f"{where}: routing[{i}]")
        rule = Rule(
            channel=raw["channel"],
            country=_country_or_any(raw.get("country", "*"), f"{where}: routing[{i}].country"),
            capability=_rule_capability(raw.get("capability", "*"), f"{where}: routing[{i}].capability"),
            weights={str(k): _number(v, f"{where}: routing[{i}].weights.{k}") for k, v in raw["weights"].items()},
        )
        problems = validate_weights(rule, rule.weights, providers)
        if problems:
            raise HaloError(f"{where}: routing rule {rule.key}: {problems}")
        rules.append(rule)
    retry_raw = _section(data, "retry", ("max_retries", "backoff_seconds"), where)
    retry = RetryConfig(
        max_retries=_number(retry_raw.get("max_retries", 5), f"{where}: retry.max_retries", int),
        backoff_seconds=tuple(_number(s, f"{where}: retry.backoff_seconds") for s in _items(retry_raw.get("backoff_seconds", RetryConfig.backoff_seconds), f"{where}: retry.backoff_seconds")),
    )
    if retry.max_retries < 0 or not retry.backoff_seconds:
        raise HaloError(f"{where}: retry needs max_retries >= 0 and at least one backoff")
    ap = _section(data, "autopilot", ("window_minutes", "min_attempts", "error_rate_threshold", "ramp_percent", "share_tolerance"), where)
    autopilot = AutopilotConfig(
        window_minutes=_number(ap.get("window_minutes", 10), f"{where}: autopilot.window_minutes"),
        min_attempts=_number(ap.get("min_attempts", 20), f"{where}: autopilot.min_attempts", int),
        error_rate_threshold=_number(ap.get("error_rate_threshold", 0.25), f"{where}: autopilot.error_rate_threshold"),
        ramp_percent=tuple(_number(p, f"{where}: autopilot.ramp_percent") for p in _items(ap.get("ramp_percent", (10, 25, 50, 100)), f"{where}: autopilot.ramp_percent")),
        share_tolerance=_number(ap.get("share_tolerance", 0.15), f"{where}: autopilot.share_tolerance"),
    )
    _check_autopilot(autopilot, where)
    caps = dict(DEFAULT_CAPABILITIES)
    for channel, values in (data.get("capabilities") or {}).items():
        if channel not in CHANNELS:
            raise HaloError(f"{where}: capabilities: unknown channel {channel!r}")
        caps[channel] = _tuple_of_str(values, f"{where}: capabilities.{channel}")
    # what a provider of the channel offers is known for it: listed on the provider alone, it was
    # refused at submission (422), and the provider's capability could never be asked for
    for entry in providers.values():
        caps[entry.channel] += tuple(c for c in dict.fromkeys(entry.capabilities) if c != "*" and c not in caps[entry.channel])
    # a rule of a capability no message of its channel can have never matched one: its messages
    # took a less specific rule's weights without a word (`capability: TXT`, `capability: null`)
    for i, rule in enumerate(rules):
        if rule.capability != "*" and rule.capability not in caps[rule.channel]:
            raise HaloError(f"{where}: routing[{i}].capability: {echo(rule.capability)} is not a {rule.channel} capability"
                            f" (known: {', '.join(caps[rule.channel])}) or *")
    lease_seconds = _number(data.get("lease_seconds", 120.0), f"{where}: lease_seconds")
    _check_lease(lease_seconds, providers, where)
    return DeliveryConfig(
        on_unknown=_parse_on_unknown(data.get("on_unknown") or {}, where),
        providers=providers,
        rules=tuple(rules),
        retry=retry,
        autopilot=autopilot,
        capabilities=caps,
        high_deadline_seconds=_number(data.get("high_deadline_seconds", 5.0), f"{where}: high_deadline_seconds"),
        lease_seconds=lease_seconds,
        source=source,
        max_segments=_parse_max_segments(data.get("max_segments") or {}, providers, where),
        quiet_hours=_parse_quiet_hours(data.get("quiet_hours") or {}, where),
    )


def _section(data: dict[str, Any], name: str, settings: tuple[str, ...], where: str) -> dict[str, Any]:
    """The section `name` of the providers file (empty when absent): a mapping of `settings`."""
    section = data.get(name) or {}
    if not isinstance(section, dict):
        raise HaloError(f"{where}: {name} must be a mapping of {', '.join(settings)}")
    refuse_unknown_keys(section, settings, f"{where}: {name}")
    return section


#: the longest autopilot window: longer ones reach back past any date a store keeps (`1e12` minutes was an OverflowError)
MAX_WINDOW_MINUTES = 7 * 24 * 60


def _check_autopilot(cfg: AutopilotConfig, where: str) -> None:
    """HaloError unless the autopilot settings can decide: each was taken as any number, and the
    autopilot job failed every cycle (`ramp_percent: []` an IndexError once a provider answered its
    ping, so it was never brought back; `window_minutes: nan` a ValueError), or turned providers
    off for nothing (`error_rate_threshold: 0` deactivated every provider without a single error)."""
    if not 0 < cfg.window_minutes <= MAX_WINDOW_MINUTES:  # NaN fails this too
        raise HaloError(f"{where}: autopilot.window_minutes must be above 0 and at most {MAX_WINDOW_MINUTES}, not {cfg.window_minutes:g}")
    if cfg.min_attempts < 1:
        raise HaloError(f"{where}: autopilot.min_attempts must be at least 1, not {cfg.min_attempts}")
    if not 0 < cfg.error_rate_threshold <= 1:
        raise HaloError(f"{where}: autopilot.error_rate_threshold must be a share above 0 and at most 1, not {cfg.error_rate_threshold:g}")
    if not 0 <= cfg.share_tolerance <= 1:
        raise HaloError(f"{where}: autopilot.share_tolerance must be a share from 0 to 1, not {cfg.share_tolerance:g}")
    steps = cfg.ramp_percent
    if not steps or not all(0 < p <= 100 for p in steps) or any(a >= b for a, b in zip(steps, steps[1:], strict=False)):
        raise HaloError(f"{where}: autopilot.ramp_percent must be rising percentages above 0 and at most 100, not "
                        f"{[float(p) for p in steps]}")


def _check_lease(lease_seconds: float, providers: dict[str, ProviderEntry], where: str) -> None:
    """HaloError unless `lease_seconds` is longer than the longest provider `timeout_seconds`
    plus `LEASE_MARGIN_SECONDS`."""
    timeouts = {name: _number(entry.raw.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS), f"{where}: provider {name}.timeout_seconds")
                for name, entry in providers.items()}
    if not timeouts:
        return
    slowest = max(timeouts, key=timeouts.__getitem__)
    if lease_seconds <= timeouts[slowest] + LEASE_MARGIN_SECONDS:
        raise HaloError(f"{where}: lease_seconds ({lease_seconds:g}) must be longer than the longest provider timeout_seconds "
                        f"({timeouts[slowest]:g}, {slowest}) plus {LEASE_MARGIN_SECONDS:g} s: a lease that ends while a request is in "
                        "flight lets another dispatcher take its message and send it again")


def _number(value: Any, what: str, cast: type = float) -> Any:
    """`value` as a float (or `cast`), or HaloError naming the setting: YAML gives strings, lists
    and booleans where a number belongs, and `float("ten")` was a traceback."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise HaloError(f"{what}: expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise HaloError(f"{what}: expected a number, got {value!r}") from None
    if cast is int:
        if not number.is_integer():
            raise HaloError(f"{what}: expected a whole number, got {value!r}")
        return int(number)
    return number


def _items(value: Any, what: str) -> list | tuple:
    if not isinstance(value, list | tuple):
        raise HaloError(f"{what}: expected a list of numbers, got {value!r}")
    return value


# H:MM or HH:MM, seconds allowed, ASCII digits only (`\d` takes any script's); 24:00 is midnight
_LOCAL_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?|24:00(?::00)?")


def _local_time(value: Any, what: str) -> dt.time:
    """A quiet-hours bound: `9:00`, `21:00` or `21:00:00`, and `24:00` for midnight at the end of the
    day. `time.fromisoformat` refused `9:00` and `24:00` but took `0900`, `T21:00`, `09:00,5` (half a
    second) and `21:00Z` (compared with a local time, a TypeError per message), and a YAML number
    (`21`) as an hour."""
    match = _LOCAL_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise HaloError(f"{what}: expected a local time as HH:MM (00:00 to 23:59, 24:00 for midnight), got {echo(value)}")
    hour, minute, second = match.groups()
    return dt.time(int(hour), int(minute), int(second or 0)) if hour else dt.time(0)


def _parse_quiet_hours(raw: Any, where: str) -> dict[str, dict[str, QuietHours | None]]:
    """`{channel: {start: "21:00", end: "08:00", countries: {DE: {start, end}, US: null}}}`;
    a country set to null has no quiet hours."""
    if not isinstance(raw, dict):
        raise HaloError(f"{where}: quiet_hours must map a channel to {{start, end, countries}}")

    def window(value: Any, at: str) -> QuietHours | None:
        if value is None:
            return None
        if isinstance(value, dict):
            refuse_unknown_keys(value, ("start", "end"), f"{where}: {at}")
        if not isinstance(value, dict) or "start" not in value or "end" not in value:
            raise HaloError(f"{where}: {at} needs start and end as HH:MM local times")
        start, end = (_local_time(value[k], f"{where}: {at}.{k}") for k in ("start", "end"))
        if start == end:
            raise HaloError(f"{where}: {at}: start and end are the same time")
        return QuietHours(start, end)

    out: dict[str, dict[str, QuietHours | None]] = {}
    for channel, value in raw.items():
        if channel not in CHANNELS or not isinstance(value, dict):
            raise HaloError(f"{where}: quiet_hours.{channel}: expected a channel ({', '.join(CHANNELS)}) set to {{start, end, countries}}")
        refuse_unknown_keys(value, ("start", "end", "countries"), f"{where}: quiet_hours.{channel}")
        countries = value.get("countries") or {}
        if not isinstance(countries, dict):
            raise HaloError(f"{where}: quiet_hours.{channel}.countries must map a country code to {{start, end}} or null")
        # `{sms: {}}` (or `countries: {}`) sets no window anywhere: it reads as quiet hours, and
        # NORMAL/LOW messages went out at night
        if not countries and "start" not in value and "end" not in value:
            raise HaloError(f"{where}: quiet_hours.{channel}: needs start and end, or countries, as HH:MM local times")
        out[channel] = {_country_or_any(c, f"{where}: quiet_hours.{channel}.countries"): window(w, f"quiet_hours.{channel}.countries.{c}")
                        for c, w in countries.items()}
        if "start" in value or "end" in value:
            out[channel]["*"] = window({k: value[k] for k in ("start", "end") if k in value}, f"quiet_hours.{channel}")  # its keys checked above
    return out


def _parse_max_segments(raw: Any, providers: dict[str, ProviderEntry], where: str) -> dict[str, int]:
    """`max_segments`, within what every SMS provider takes: a body a provider refuses (Twilio past
    1,600 characters) was taken at submission, then ended `provider_error` when sent."""
    if not isinstance(raw, dict) or not set(raw) <= {"sms"}:
        raise HaloError(f"{where}: max_segments must map sms (the only channel with segments) to a number")
    value = raw.get("sms", DEFAULT_MAX_SEGMENTS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HaloError(f"{where}: max_segments.sms must be a whole number of at least 1, not {value!r}")
    longest = GSM7_PER_SEGMENT * value if value > 1 else 160
    for entry in providers.values():
        limit = SMS_BODY_LIMITS.get(entry.kind) if entry.channel == "sms" else None
        if limit is not None and longest > limit:
            raise HaloError(f"{where}: max_segments.sms: {value} lets an SMS body reach {longest} characters; provider {entry.name}"
                            f" ({entry.kind}) takes at most {limit}: at most {limit // GSM7_PER_SEGMENT} segments with it")
    return {"sms": value}


def _parse_on_unknown(raw: Any, where: str) -> dict[str, dict[str, str]]:
    """`{channel: policy}` (NORMAL and LOW) or `{channel: {priority: policy}}`. HIGH (OTPs) is
    never re-sent after an unknown outcome, so `resend` is refused for it."""
    if not isinstance(raw, dict):
        raise HaloError(f"{where}: on_unknown must map a channel to {' or '.join(ON_UNKNOWN)} (or to a mapping per priority)")
    out: dict[str, dict[str, str]] = {}
    for channel, value in raw.items():
        if channel not in CHANNELS:
            raise HaloError(f"{where}: on_unknown: unknown channel {channel!r}")
        per_priority = {"NORMAL": value, "LOW": value} if isinstance(value, str) else value
        if not isinstance(per_priority, dict):
            raise HaloError(f"{where}: on_unknown.{channel}: expected {' or '.join(ON_UNKNOWN)} or a mapping per priority")
        for priority, policy in per_priority.items():
            if priority not in PRIORITIES or policy not in ON_UNKNOWN:
                raise HaloError(f"{where}: on_unknown.{channel}.{priority}: expected a priority ({', '.join(PRIORITIES)}) "
                                f"set to {' or '.join(ON_UNKNOWN)}")
            if priority == "HIGH" and policy != "lost":
                raise HaloError(f"{where}: on_unknown.{channel}.HIGH: a HIGH message is never re-sent after an unknown outcome")
        out[channel] = dict(per_priority)
    return out


MAX_WEIGHT = 1_000_000.0  # weights are relative: past this, sums and shares lose meaning (1e308 + 1e308 is inf)


WEIGHT_WANTED = f"a number from 0 to {MAX_WEIGHT:,.0f}, in digits 0-9 with an optional decimal point"


def weight_ok(weight: float) -> bool:
    """A number from 0 to MAX_WEIGHT (NaN and infinity are not: `inf` took every message), never
    -0.0 (shown "-0")."""
    return 0 <= weight <= MAX_WEIGHT and math.copysign(1.0, weight) > 0


def typed_weight(text: str) -> float | None:
    """The weight a person typed (a Routing page's field, `halo delivery weights set a=60`), None
    unless it is WEIGHT_WANTED (`plain_number`)."""
    weight = plain_number(text)
    return weight if weight is not None and weight_ok(weight) else None


def validate_weights(rule: Rule, weights: dict[str, float], providers: dict[str, ProviderEntry]) -> str:
    """Why `weights` cannot serve `rule` ('' when they can): known providers, eligible, each a
    number from 0 to MAX_WEIGHT, sum > 0."""
    unknown = sorted(set(weights) - set(providers))
    if unknown:
        return f"unknown provider(s): {', '.join(unknown)}"
    for name, weight in weights.items():
        if not weight_ok(weight):
            return f"weight of {name} must be a number from 0 to {MAX_WEIGHT:,.0f}, not {weight}"
        if why := providers[name].refuses(rule):
            return why
    if sum(weights.values()) <= 0:
        return "weights must sum to more than 0"
    return ""


_cache: dict[str, tuple[tuple[int, int], DeliveryConfig]] = {}


def load_config(path: str | Path | None = None) -> DeliveryConfig:
    """The parsed providers file, re-read only when the file changes (the HIGH path reads it
    on every call)."""
    path = Path(path) if path else get_settings().providers_file
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None
    cached = _cache.get(str(path))
    if stamp is not None and cached is not None and cached[0] == stamp:
        return cached[1]
    config = parse_config(read_yaml(path), str(path))
    if stamp is not None:
        _cache[str(path)] = (stamp, config)
    return config
