"""Shared test helpers: land text into a feed's landing folder, run processing, read spans."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from halo_platform.availability.service import run_processing, spans
from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource


def land(feed: str, name: str, text: str | bytes) -> Path:
    folder = get_settings().landing_dir / feed
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def process(store: StoreResource, as_of: str, horizon_days: int = 10):
    """Run the Dagster processing in-process (an ephemeral instance keeps tests quick)."""
    import dagster as dg

    return run_processing(store, dt.date.fromisoformat(as_of), horizon_days, instance=dg.DagsterInstance.ephemeral())


def hours_a_week_ahead(store: StoreResource, hours: Iterable[tuple[str, str, str]]) -> dt.date:
    """Land acme hours (provider, start, end UTC) on the weekday one week from today and process
    that day and the next; that day."""
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    weekday = day.strftime("%a").lower()
    land("acme", "hours.jsonl", "".join(
        f'{{"type":"hours","provider":"{p}","tz":"UTC","week":{{"{weekday}":[["{s}","{e}"]]}},"updated_at":"2026-11-01T00:00:00Z"}}\n'
        for p, s, e in hours))
    process(store, day.isoformat(), 2)
    return day


def spans_on(store: StoreResource, feed: str, provider: str, day: str) -> list[tuple[str, str]]:
    """[(start 'YYYY-MM-DDTHH:MMZ', end ...)] of one provider-date, UTC."""
    d = dt.date.fromisoformat(day)
    return [(s.start_at.strftime("%Y-%m-%dT%H:%MZ"), s.end_at.strftime("%Y-%m-%dT%H:%MZ")) for s in spans(store, feed, provider, d, d)]


def utc(local: str, offset_hours: float) -> str:
    """Hand conversion used to write expectations: local wall time 'YYYY-MM-DDTHH:MM' at a
    UTC offset -> 'YYYY-MM-DDTHH:MMZ'."""
    value = dt.datetime.fromisoformat(local) - dt.timedelta(hours=offset_hours)
    return value.strftime("%Y-%m-%dT%H:%MZ")


def read_later(monkeypatch, delta: dt.timedelta) -> None:  # noqa: ANN001
    """Freshness read `delta` from now: how a file landed now looks then (its receipt is when it
    came into the landing zone, which a test cannot set back as it can a modification time)."""
    from halo_platform.availability import freshness

    monkeypatch.setattr(freshness, "utcnow", lambda: dt.datetime.now(dt.UTC) + delta)
