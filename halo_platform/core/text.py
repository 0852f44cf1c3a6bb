"""Text from outside that Python holds but UTF-8 cannot: JSON's `\\ud800` escapes decode to lone
surrogates, which no store, request or log line can carry."""

from __future__ import annotations


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
