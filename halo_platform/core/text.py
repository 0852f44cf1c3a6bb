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
