"""How current each feed's spans are: when the newest event they include was received (its
file landed) and applied (its file was processed), and the lag between that receipt and now.

The lag grows when the EMR stops sending and when landed files wait unprocessed alike: either
way the spans reflect nothing received since. A feed's `max_lag_minutes` (emr_feeds.yaml)
is the limit its freshness check holds it to."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass

from halo_platform.availability.bulk_sql import Codec
from halo_platform.availability.feeds import Feed, get_feed
from halo_platform.core.errors import HaloError
from halo_platform.core.models import iso_z, utcnow
from halo_platform.core.store import StoreResource


@dataclass(frozen=True)
class Freshness:
    feed: str
    applied_at: dt.datetime | None  # the newest processing of a file of the feed
    received_at: dt.datetime | None  # the newest landing among its processed files
    lag_seconds: int | None  # now - received_at; None before anything was applied

    def as_json(self) -> dict:
        def z(value: dt.datetime | None) -> str | None:
            return iso_z(value) if value else None

        return {"feed": self.feed, "applied_at": z(self.applied_at), "received_at": z(self.received_at), "lag_seconds": self.lag_seconds}


def max_lag_minutes(feed: Feed) -> float | None:
    """The feed's `max_lag_minutes`, None when it sets none (its freshness is then not checked)."""
    value = feed.options.get("max_lag_minutes")
    if value is None:
        return None
    # no lag is ever over nan (which passed `value <= 0`) or inf: the check would never fail
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= sys.float_info.max:
        raise HaloError(f"feed {feed.name}: max_lag_minutes must be a positive number, got {value!r}")
    return float(value)


def freshness(store: StoreResource, feed: str, now: dt.datetime | None = None) -> Freshness:
    get_feed(feed)
    with store.read() as conn:
        codec = Codec(conn)
        ((applied, received),) = codec.select(
            # files processed before receipt was recorded count as received when applied; a file
            # without a single event (quarantined whole or every record of it) brought nothing new
            "SELECT MAX(processed_at), MAX(COALESCE(received_at, processed_at)) FROM emr_processed_files WHERE feed = ? AND events > 0",
            (feed,))
        applied, received = codec.read_ts(applied), codec.read_ts(received)
    applied = applied.replace(tzinfo=dt.UTC) if applied else None
    received = received.replace(tzinfo=dt.UTC) if received else None
    lag = max(0, int(((now or utcnow()) - received).total_seconds())) if received else None
    return Freshness(feed, applied, received, lag)


@dataclass(frozen=True)
class LagVerdict:
    freshness: Freshness
    limit_minutes: float | None

    @property
    def stale(self) -> bool:
        """Over its limit, or never applied anything although it has one."""
        if self.limit_minutes is None:
            return False
        return self.freshness.lag_seconds is None or self.freshness.lag_seconds > self.limit_minutes * 60


def lag_verdicts(store: StoreResource, feeds: list[Feed], now: dt.datetime | None = None) -> list[LagVerdict]:
    now = now or utcnow()
    return [LagVerdict(freshness(store, f.name, now), max_lag_minutes(f)) for f in feeds]
