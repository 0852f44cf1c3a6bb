"""Text from outside: what Python holds but UTF-8 cannot (JSON's `\\ud800` escapes decode to lone
surrogates, which no store, request or log line can carry), and JSON given on a command line or
in a launchpad, read as one error line whatever it holds."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import SplitResult, urlsplit

from halo_platform.core.errors import HaloError

ECHO_LIMIT = 100
REASON_MISSING = "say why: the reason is kept in the history"
MAX_REASON = 500


def required_reason(reason: str | None) -> str:
    """The reason a change is kept in its history with, on one line as the history, `halo delivery
    providers` and the log show it (a form's line breaks and tabs as one space); refused when blank,
    longer than `MAX_REASON` characters (a pasted log would fill the history and every page that
    shows it) or holding another control character (an escape sequence, a NUL). Blank is also a
    reason of invisible format characters only (zero-width spaces pasted from a chat), which the
    history would show empty."""
    reason = " ".join((reason or "").split())
    if all(unicodedata.category(c) == "Cf" for c in reason.replace(" ", "")):  # blank, or invisible only: zero-width spaces look blank
        raise HaloError(REASON_MISSING)
    if len(reason) > MAX_REASON:
        raise HaloError(f"the reason is {len(reason)} characters; at most {MAX_REASON}")
    return check_one_line(reason, "reason", MAX_REASON)


def cut(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text` from a caller as an error message repeats it: at most `limit` characters and an
    ellipsis (a 1 MiB value sent back whole made a 1 MiB error body, log line or CLI line)."""
    return text if len(text) <= limit else text[:limit] + "…"


def echo(value: Any, limit: int = ECHO_LIMIT) -> str:  # noqa: ANN401 - any input
    """`value` quoted as an error message repeats it (its repr), `cut` to `limit` characters."""
    return repr(cut(value, limit)) if isinstance(value, str) else cut(repr(value), limit)


def lone_surrogate(text: str) -> int | None:
    """The position of the first lone surrogate in `text`; None when it encodes as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def unstorable(text: str) -> str | None:
    """What in `text` no store can hold ("a NUL character", "a lone surrogate"); None: nothing.

    PostgreSQL refuses NUL in text where SQLite keeps it, and a lone surrogate has no UTF-8, so
    a page or a sign-in refuses such text itself, before any query: the same answer on every
    store (the field's error, or the page's not-found for a name in the path), never the API's JSON."""
    if "\x00" in text:
        return "a NUL character"
    if lone_surrogate(text) is not None:
        return "a lone surrogate"
    return None


#: bytes of UTF-8 a TEXT column holds on MariaDB (SQLite and PostgreSQL take text of any length)
TEXT_BYTES = 65_535


def within_bytes(text: str, limit: int = TEXT_BYTES) -> str:
    """`text` in at most `limit` bytes of UTF-8: whole when it fits, else its start (never half a
    character) and a note of its whole length, the same on every store."""
    data = text.encode()
    if len(data) <= limit:
        return text
    note = f" ... [cut: {len(data):,} bytes in all]"
    return data[:limit - len(note)].decode("utf-8", "ignore") + note


def stored_key(text: str, length: int) -> str:
    """A key (a provider's id for a message, an alert's key) as a column of `length` characters
    holds it: as it is when it fits and every store takes it, else `sha256:` and its digest, still
    one per distinct key, so a lookup of the same key finds it. PostgreSQL and MariaDB refuse what
    is longer than a VARCHAR, where SQLite keeps it."""
    if len(text) <= length and unstorable(text) is None:
        return text
    return digest(text)


def digest(text: str) -> str:
    """`sha256:` and the hex SHA-256 of `text` (a lone surrogate too): what a key too long for its
    column is stored as, one per distinct key."""
    return f"sha256:{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()}"


NAME_LIMIT = 255  # the columns that record who asked or edited (`requested_by`, `updated_by`)
# with the bidirectional embeddings, overrides and isolates: `x\u202egnp.exe` shows as `xexe.png`
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def control_character(text: str) -> str | None:
    """The first control character of `text` as `U+000A`; None: it has none."""
    control = _CONTROL.search(text)
    return f"U+{ord(control.group()):04X}" if control else None


def visible(text: str) -> str:
    """`text` from outside as one line of a terminal table shows it: each control character written
    out as its escape (`\\n`, `\\t`, `\\x1b`, `\\u202e`), so that none moves the cursor, splits a
    line or a tab-separated column, or reaches the terminal as an escape sequence."""
    return _CONTROL.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


def check_one_line(text: str, what: str, limit: int = NAME_LIMIT) -> str:
    """`text` as a name recorded beside a change (who asked, who edited): 1 to `limit` characters
    on one line. Longer is refused by PostgreSQL's and MariaDB's VARCHAR (SQLite keeps it whole), a
    line break splits the audit log's line, a NUL no store or Dagster tag takes; else HaloError."""
    if not text:
        why = "empty"
    elif len(text) > limit:
        why = f"at most {limit} characters"
    elif control := control_character(text):
        why = f"control character {control}"
    elif lone_surrogate(text) is not None:
        why = "not valid UTF-8 text"
    else:
        return text
    raise HaloError(f"{what}: {why} (1 to {limit} characters on one line)")


def check_name(text: str, what: str, limit: int = NAME_LIMIT) -> str:
    """`check_one_line` for who made a change (a requester, an editor, a sender), with no blank at
    its start or end: no API key's or user's name has one, and the pages' filters strip what is
    typed, so `" ana"` was recorded as given and the filter `ana` never found it; else HaloError."""
    check_one_line(text, what, limit)
    if text != text.strip():
        raise HaloError(f"{what}: {echo(text)} has blanks at its start or end (a name as the filters find it)")
    return text


def as_one_line(text: str, limit: int = NAME_LIMIT) -> str:
    """`text` made a name `check_one_line` takes, for a value to record rather than refuse (a run's
    tag set in Dagster's launchpad): cut to `limit` characters with an ellipsis, control characters
    as spaces, lone surrogates as U+FFFD."""
    text = cut(text, limit - 1) if len(text) > limit else text
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in _CONTROL.sub(" ", text))


def unique_keys(pairs: Iterable[tuple[str, Any]], repeated: Callable[[str], Exception] | None = None) -> dict[str, Any]:
    """A JSON object's members (`json.loads`'s `object_pairs_hook`) or a form's fields as a dict,
    refusing a key given twice with `repeated(key)` (a HaloError by default): Python keeps the
    last, another reader (a gateway, a log, a signature) the first, so the two disagree on what
    was asked."""
    members: dict[str, Any] = {}
    for key, value in pairs:
        if key in members:
            raise repeated(key) if repeated else HaloError(f"{echo(key)} is given twice in one JSON object")
        members[key] = value
    return members


def named_more_than_once(names: Iterable[str]) -> list[str]:
    """The names `names` holds more than once, sorted, each once (counted: `names.count(n)` for
    each name was quadratic)."""
    return sorted(name for name, times in Counter(names).items() if times > 1)


def read_json(text: str, what: str, parse_float: Callable[[str], Any] | None = None) -> Any:  # noqa: ANN401 - any JSON value
    """`text` parsed as JSON (a number with a fraction or an exponent by `parse_float`, default
    float); text that does not parse, or repeats a key (`unique_keys`), is one
    HaloError naming `what`. Python's parser refuses some JSON with other errors than
    JSONDecodeError: a number of more than 4300 digits (ValueError), thousands of nested brackets
    (RecursionError)."""
    try:
        return json.loads(text, object_pairs_hook=unique_keys, parse_float=parse_float)
    except HaloError as exc:
        raise HaloError(f"{what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise HaloError(f"{what} is not valid JSON: {exc.msg} (column {exc.colno})") from None
    except ValueError as exc:
        raise HaloError(f"{what} cannot be read: {str(exc).split(';')[0]}") from None
    except RecursionError:
        raise HaloError(f"{what} nests too deep to read") from None


def exact_number(number: float) -> str:
    """A number as the shortest decimal text that reads back as it (60, 1234.5678, 0.00001): a form
    filled with "%g" (6 digits) saved 1234.57 for a weight of 1234.5678 nobody had touched, and
    one filled with repr's "1e-05" was refused (a weight is typed in plain digits)."""
    return format(Decimal(repr(float(number))), "f").removesuffix(".0")


_YYYY_MM_DD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")  # ASCII digits, an optional point: no sign, exponent or `_`


def yyyy_mm_dd(value: object) -> dt.date:
    """A date written YYYY-MM-DD, else ValueError: `date.fromisoformat` alone also takes 20261203
    and 2026-W49-4, which REST and GraphQL refuse alike, as every field saying YYYY-MM-DD does."""
    if not isinstance(value, str) or not _YYYY_MM_DD.fullmatch(value):
        raise ValueError(f"expected a date YYYY-MM-DD, got {echo(value)}")
    return dt.date.fromisoformat(value)


def plain_number(text: str) -> float | None:
    """The number `text` writes in digits 0-9 with an optional decimal point, else None: float()
    also reads `1_000`, other scripts' digits (`٣` as 3), an exponent (`1e-320`, a subnormal), a
    sign (`-0`), `inf` and `nan`."""
    return float(text) if _PLAIN_NUMBER.fullmatch(text) else None


def http_url(url: str) -> SplitResult | None:
    """The parts of `url` when it is an http(s) URL with a host and, if it gives one, a port that reads
    as a number (clients take it apart so); else None (an IPv6 bracket not closed, `localhost:3000`
    without its scheme, `http://`, `http://minio:port`)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it checks it
    except ValueError:
        return None
    return parts if parts.scheme in ("http", "https") and parts.hostname else None
