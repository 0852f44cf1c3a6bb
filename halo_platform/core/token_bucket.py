"""Rate limits shared by every process of a store: a token bucket kept on a database row (its
tokens and when they were counted), drawn from a batch at a time in one locked write, the
batch then spent in the drawing process. API keys (`access.keys`) and providers
(`delivery.throttle`) keep their buckets on their own rows, with their own batch sizes; this
module is what they share: the refill and the tokens a process holds."""

from __future__ import annotations

import threading
import time


def refilled(tokens: float | None, counted_at: float | None, rate: float, capacity: float) -> tuple[float, float]:
    """The bucket's tokens now, and the time they are counted at, to store beside them; called
    once its row is locked. Full when never drawn from, else what it held plus what `rate` added
    since, up to `capacity`. Counted now, never before its last count: a time read before
    waiting for the row would hand out again what another process counted meanwhile, and a
    clock may step back."""
    now = max(time.time(), counted_at or 0.0)
    if counted_at is None:
        return capacity, now
    return min(capacity, (tokens or 0.0) + (now - counted_at) * rate), now


class HeldTokens:
    """The tokens this process drew from shared buckets and has not spent, per bucket. A batch
    not spent within `held_seconds` of its drawing is dropped, never returned, so holding tokens
    can only make a limit stricter."""

    def __init__(self, held_seconds: float) -> None:
        self.held_seconds = held_seconds
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[int, float]] = {}

    def spend(self, bucket: str, wanted: int, now: float) -> int:
        """Up to `wanted` of the tokens held for `bucket` (0 if none, or if they are too old)."""
        with self._lock:
            left, drawn_at = self._tokens.get(bucket, (0, 0.0))
            if now - drawn_at > self.held_seconds:
                left = 0
            used = min(left, wanted)
            self._tokens[bucket] = (left - used, drawn_at)
            return used

    def keep(self, bucket: str, tokens: int, drawn_at: float) -> None:
        """Hold `tokens` of `bucket`, drawn at `drawn_at` (replacing what was held)."""
        with self._lock:
            self._tokens[bucket] = (tokens, drawn_at)
