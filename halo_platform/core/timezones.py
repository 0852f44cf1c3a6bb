"""IANA time zones by name: what every field that takes a time zone accepts."""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo, available_timezones


@functools.cache
def _names() -> frozenset[str]:
    # `localtime` and `posixrules` are files of the system's zone folder (the host's zone), not IANA zones;
    # `Factory` is tzdata's zone for a host not configured yet ("-00"), a clock no one keeps
    return frozenset(available_timezones() - {"localtime", "posixrules", "Factory"})


def iana_zone(name: object) -> ZoneInfo | None:
    """The IANA zone `name` names; None for anything else (`localtime`, `Factory`, a path, a 300-character
    string that `ZoneInfo` itself answers with an OSError, a non-string)."""
    return ZoneInfo(name) if isinstance(name, str) and name in _names() else None
