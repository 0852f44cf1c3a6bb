"""Dispatching queued messages: claim a leased batch, expire what is past its time, draw a
provider per message (a retry avoids the provider that just failed), send with bounded
concurrency per provider (batch APIs where the provider has one), and record every
attempt and the new states in one transaction."""

from __future__ import annotations

import datetime as dt
import logging
import queue
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from halo_platform.core.models import utcnow
from halo_platform.delivery.config import CHANNELS, DeliveryConfig
from halo_platform.delivery.db import writing
from halo_platform.delivery.providers import RETRYABLE, Outgoing, Provider, SendResult, build_provider
from halo_platform.delivery.queue import Transition, attempt_row, claim, expired, persist, transition
from halo_platform.delivery.routing import draw
from halo_platform.delivery.state import load_router

log = logging.getLogger("halo.delivery")


@dataclass
class DispatchStats:
    claimed: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_provider: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # claim, route, send, persist

    def add(self, other: DispatchStats) -> None:
        self.claimed += other.claimed
        self.seconds += other.seconds
        for k, v in other.by_status.items():
            self.by_status[k] += v
        for k, v in other.by_provider.items():
            self.by_provider[k] += v
        for k, v in other.phases.items():
            self.phases[k] += v

    def as_dict(self) -> dict:
        return {"claimed": self.claimed, "by_status": dict(self.by_status), "by_provider": dict(self.by_provider), "seconds": round(self.seconds, 3),
                "phases": {k: round(v, 3) for k, v in self.phases.items()}}


class Dispatcher:
    """Sends due messages. One instance keeps its provider pools and thread pools across batches.
    `clock` is injectable so tests can drive time (backoff, expiry, autopilot windows)."""

    def __init__(
        self,
        config: DeliveryConfig,
        *,
        db_url: str | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        rng: random.Random | None = None,
        batch_size: int = 2000,
        owner: str | None = None,
    ) -> None:
        self.config = config
        self.db_url = db_url
        self.clock = clock
        self.rng = rng or random.Random()
        self.batch_size = batch_size
        self.owner = owner or f"run:{uuid.uuid4().hex[:12]}"
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()

    def _pool(self, provider: Provider) -> ThreadPoolExecutor:
        with self._lock:
            pool = self._pools.get(provider.name)
            if pool is None:
                pool = ThreadPoolExecutor(max(provider.max_concurrency, 1), thread_name_prefix=f"send-{provider.name}")
                self._pools[provider.name] = pool
            return pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        self._pools.clear()

    def run_once(self, channel: str) -> DispatchStats:
        """Claim, send and record one batch of `channel` (claimed 0: nothing due)."""
        batch = self._claim(channel)
        if batch.stats.claimed:
            self._send(batch)
            self._persist(batch)
        return batch.stats

    def _claim(self, channel: str) -> _Batch:
        """Lease a batch, expire what is past its time and draw a provider for the rest."""
        started = time.perf_counter()
        stats = DispatchStats()
        now = self.clock()
        with writing(self.db_url) as conn:
            rows = claim(conn, channel, self.owner, self.batch_size, now, self.config.lease_seconds)
        stats.claimed = len(rows)
        t_claimed = time.perf_counter()
        stats.phases["claim"] = t_claimed - started
        batch = _Batch(stats, [], [], now, started)
        if not rows:
            return batch
        router = load_router(self.config, self.db_url)
        for row in rows:
            if row.expires_at is not None and row.expires_at <= now:
                batch.transitions.append(expired(row, now))
                continue
            _, weights = router.weights_for(row.channel, row.country, row.capability)
            exclude = [row.provider] if row.number_of_retries and row.provider else []
            name = draw(weights, self.rng, exclude)
            if name is None:
                batch.transitions.append(transition(row, None, None, self.config.retry, now))
            else:
                batch.assigned[name].append(row)
        stats.phases["route"] = time.perf_counter() - t_claimed
        return batch

    def _send(self, batch: _Batch) -> None:
        """Send the batch with bounded concurrency per provider; fill its transitions and attempts."""
        t0 = time.perf_counter()
        futures: list[tuple[str, list, Future]] = []
        for name, group in batch.assigned.items():
            provider = build_provider(self.config.providers[name])
            step = max(provider.max_batch, 1)
            for i in range(0, len(group), step):
                chunk = group[i : i + step]
                futures.append((name, chunk, self._pool(provider).submit(_send_chunk, provider, [Outgoing.from_row(r) for r in chunk])))
        for _, _, future in futures:
            future.result()
        batch.done_at = done_at = self.clock()
        stats = batch.stats
        for name, chunk, future in futures:
            by_id = {r.message_id: r for r in future.result()}
            for row in chunk:
                result = by_id.get(row.id) or SendResult(row.id, RETRYABLE, detail="no result from provider")
                batch.attempts.append(attempt_row(result, name, done_at))
                batch.transitions.append(transition(row, result, name, self.config.retry, done_at))
                stats.by_provider[name] += 1
        for t in batch.transitions:
            stats.by_status[t.status] += 1
        stats.phases["send"] = time.perf_counter() - t0

    def _persist(self, batch: _Batch) -> None:
        t0 = time.perf_counter()
        with writing(self.db_url) as conn:
            persist(conn, self.owner, batch.transitions, batch.attempts, batch.done_at)
        batch.stats.phases["persist"] = time.perf_counter() - t0
        batch.stats.seconds = time.perf_counter() - batch.started

    def drain(self, channels: Sequence[str] = CHANNELS, timeout: float | None = None) -> DispatchStats:
        """Dispatch until nothing is due on `channels` (or `timeout` seconds pass); channels in parallel."""
        deadline = None if timeout is None else time.monotonic() + timeout
        results: dict[str, DispatchStats] = {}
        failures: list[BaseException] = []

        def run(channel: str) -> None:
            try:
                results[channel] = self._drain_channel(channel, deadline)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(c,), name=f"drain-{c}") for c in channels]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise failures[0]
        total = DispatchStats()
        for stats in results.values():
            total.add(stats)
        return total

    def _drain_channel(self, channel: str, deadline: float | None) -> DispatchStats:
        """A three-stage pipeline: a claimer leases and routes batch N+1 and a writer records
        batch N-1 while batch N is being sent. Leases keep a batch out of later claims until it
        is recorded; when the claimer finds nothing, what the last batches rescheduled is
        checked once more after they are recorded."""
        claimed: queue.Queue[_Batch | None] = queue.Queue(maxsize=1)
        writes: queue.Queue[_Batch | None] = queue.Queue(maxsize=1)
        failures: list[BaseException] = []
        done: list[DispatchStats] = []
        stop = threading.Event()

        def claimer() -> None:
            try:
                while not stop.is_set() and not failures and (deadline is None or time.monotonic() < deadline):
                    batch = self._claim(channel)
                    if batch.stats.claimed == 0:
                        break
                    claimed.put(batch)
                    if batch.stats.claimed == batch.stats.by_status.get("held", 0) and not batch.assigned:
                        break
            except BaseException as exc:  # noqa: BLE001
                failures.append(exc)
            finally:
                claimed.put(None)

        def writer() -> None:
            while (batch := writes.get()) is not None:
                try:
                    if not failures:
                        self._persist(batch)
                        done.append(batch.stats)
                except BaseException as exc:  # noqa: BLE001
                    failures.append(exc)

        stages = [threading.Thread(target=claimer, daemon=True), threading.Thread(target=writer, daemon=True)]
        for t in stages:
            t.start()
        finished = False
        try:
            while (batch := claimed.get()) is not None:
                if failures:
                    break
                self._send(batch)
                writes.put(batch)
            else:
                finished = True
        finally:
            stop.set()
            while not finished and claimed.get() is not None:  # let the claimer finish; its leases simply expire
                pass
            writes.put(None)
            for t in stages:
                t.join()
        if failures:
            raise failures[0]
        while deadline is None or time.monotonic() < deadline:  # what the last batches made due again
            stats = self.run_once(channel)
            if stats.claimed == 0:
                break
            done.append(stats)
            if stats.claimed == stats.by_status.get("held", 0):
                break
        total = DispatchStats()
        for stats in done:
            total.add(stats)
        return total


@dataclass
class _Batch:
    stats: DispatchStats
    transitions: list[Transition]
    attempts: list[dict]
    done_at: dt.datetime
    started: float
    assigned: dict[str, list] = field(default_factory=lambda: defaultdict(list))



def _send_chunk(provider: Provider, messages: list[Outgoing]) -> list[SendResult]:
    t0 = time.perf_counter()
    try:
        results = provider.send_batch(messages)
    except Exception as exc:  # noqa: BLE001 - a provider bug must not lose the batch: retry it
        log.exception("provider %s raised", provider.name)
        return [SendResult(m.id, RETRYABLE, detail=f"provider error: {type(exc).__name__}") for m in messages]
    ms = (time.perf_counter() - t0) * 1000
    return [SendResult(r.message_id, r.outcome, r.provider_message_id, r.detail, r.http_status, r.latency_ms or ms) for r in results]
