"""Text from outside: what Python holds but UTF-8 cannot (JSON's `\\ud800` escapes decode to lone
surrogates, which no store, request or log line can carry), and JSON given on a command line or
in a launchpad, read as one error line whatever it holds."""

from __future__ import annotations

import json
from typing import Any

from halo_platform.core.errors import HaloError

ECHO_LIMIT = 100


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


def read_json(text: str, what: str) -> Any:  # noqa: ANN401 - any JSON value
    """`text` parsed as JSON; text that does not parse is one HaloError naming `what`. Python's
    parser refuses some JSON with other errors than JSONDecodeError: a number of more than 4300
    digits (ValueError), thousands of nested brackets (RecursionError)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HaloError(f"{what} is not valid JSON: {exc.msg} (column {exc.colno})") from None
    except ValueError as exc:
        raise HaloError(f"{what} cannot be read: {str(exc).split(';')[0]}") from None
    except RecursionError:
        raise HaloError(f"{what} nests too deep to read") from None
