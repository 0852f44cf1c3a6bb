"""Provider rate limits shared by every dispatcher of a store, both kept on the provider's
`provider_state` row: its `rate_per_second` token bucket and the pause it asked for (a 429, or
a 5xx with `Retry-After`). A pause is not a transmission error: the autopilot does not count it."""

from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.core.token_bucket import HeldTokens, refilled
from halo_platform.core.write_lock import ensure_row, writing
from halo_platform.delivery.tables import ProviderState

state_t = ProviderState.__table__

# A dispatcher takes up to BATCH_SECONDS of a provider's rate from the shared bucket in one
# locked write and spends it locally; a batch not spent within HELD_SECONDS is dropped, never
# returned, so holding tokens can only make the limit stricter. The bucket holds up to
# BURST_SECONDS of the rate: dispatchers held up for longer than a batch (a slow write, a busy
# machine) catch up on what they missed instead of losing it, and from a full bucket the sends
# of any 10 s stay within 5% of the rate.
BATCH_SECONDS = 0.1
HELD_SECONDS = 0.5
BURST_SECONDS = 0.5


def _ensure_row(store: StoreResource, name: str) -> None:
    """The provider's state row exists (the autopilot writes it on its first cycle; a pause or a
    bucket may come first)."""
    ensure_row(store, state_t, {"provider": name}, updated_at=utcnow())


def pause(store: StoreResource, name: str, seconds: float, priority: bool = False) -> dt.datetime:
    """Pause `name` for `seconds` from now for every dispatcher of `store` (a longer pause
    already stored stays); returns its end."""
    until = utcnow() + dt.timedelta(seconds=seconds)
    _ensure_row(store, name)
    with writing(store, priority=priority) as conn:
        conn.execute(state_t.update().where(state_t.c.provider == name, sa.or_(state_t.c.paused_until.is_(None), state_t.c.paused_until < until))
                     .values(paused_until=until))
    return until


class Tokens:
    """The tokens one dispatcher took from providers' shared buckets and has not spent."""

    def __init__(self, store: StoreResource) -> None:
        self._store = store
        self._held = HeldTokens(HELD_SECONDS)
        self._known: set[str] = set()

    def take(self, name: str, rate: float, wanted: int, batch: bool = True, priority: bool = False) -> int:
        """Up to `wanted` tokens of provider `name` (0 when its bucket is empty): from those held
        here, else from the shared bucket in one locked write, taking a batch (`batch`) of which
        the unspent rest is held here."""
        clock = time.time()
        used = self._held.spend(name, wanted, clock)
        if used == wanted:
            return used
        need = wanted - used
        if name not in self._known:
            _ensure_row(self._store, name)
            self._known.add(name)
        with writing(self._store, priority=priority) as conn:
            row = conn.execute(sa.select(state_t.c.bucket_tokens, state_t.c.bucket_at).where(state_t.c.provider == name).with_for_update()).first()
            tokens, now = refilled(row.bucket_tokens, row.bucket_at, rate, max(1.0, rate * BURST_SECONDS))
            got = min(int(tokens), max(need, int(rate * BATCH_SECONDS)) if batch else need)
            if got <= 0:
                return used
            conn.execute(state_t.update().where(state_t.c.provider == name).values(bucket_tokens=tokens - got, bucket_at=now))
        spent = min(got, need)
        if got > spent:
            self._held.keep(name, got - spent, clock)
        return used + spent

    def wait(self, name: str, rate: float, wanted: int, give_up: float) -> int:
        """Up to `wanted` tokens, waiting for the bucket to refill until `give_up`
        (`time.monotonic()`); 0 if none came by then."""
        while True:
            got = self.take(name, rate, wanted)
            if got or time.monotonic() >= give_up:
                return got
            time.sleep(min(max(1.0 / rate, 0.005), BATCH_SECONDS))
