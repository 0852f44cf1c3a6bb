"""Dispatching queued messages: claim a leased batch, expire what is past its time, draw a
provider per message (a retry avoids the provider that just failed), send with bounded
concurrency per provider (batch APIs where the provider has one), and record every
attempt and the new states in one transaction."""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from halo_platform.core.models import utcnow
from halo_platform.core.store import write
from halo_platform.delivery.config import CHANNELS, DeliveryConfig
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
        """Claim and send one batch of `channel`; returns what happened (claimed 0: nothing due)."""
        started = time.perf_counter()
        stats = DispatchStats()
        now = self.clock()
        with write(self.db_url) as conn:
            rows = claim(conn, channel, self.owner, self.batch_size, now, self.config.lease_seconds)
        stats.claimed = len(rows)
        t_claimed = time.perf_counter()
        stats.phases["claim"] = t_claimed - started
        if not rows:
            return stats
        router = load_router(self.config, self.db_url)
        transitions: list[Transition] = []
        assigned: dict[str, list] = defaultdict(list)
        for row in rows:
            if row.expires_at is not None and row.expires_at <= now:
                transitions.append(expired(row, now))
                continue
            _, weights = router.weights_for(row.channel, row.country, row.capability)
            exclude = [row.provider] if row.number_of_retries and row.provider else []
            name = draw(weights, self.rng, exclude)
            if name is None:
                transitions.append(transition(row, None, None, self.config.retry, now))
            else:
                assigned[name].append(row)
        futures: list[tuple[str, list, Future]] = []
        for name, group in assigned.items():
            provider = build_provider(self.config.providers[name])
            step = max(provider.max_batch, 1)
            for i in range(0, len(group), step):
                chunk = group[i : i + step]
                futures.append((name, chunk, self._pool(provider).submit(_send_chunk, provider, [Outgoing.from_row(r) for r in chunk])))
        attempts = []
        t_routed = time.perf_counter()
        stats.phases["route"] = t_routed - t_claimed
        for _, _, future in futures:
            future.result()
        t_sent = time.perf_counter()
        stats.phases["send"] = t_sent - t_routed
        done_at = self.clock()
        for name, chunk, future in futures:
            results = future.result()
            by_id = {r.message_id: r for r in results}
            for row in chunk:
                result = by_id.get(row.id) or SendResult(row.id, RETRYABLE, detail="no result from provider")
                attempts.append(attempt_row(result, name, done_at))
                transitions.append(transition(row, result, name, self.config.retry, done_at))
                stats.by_provider[name] += 1
        with write(self.db_url) as conn:
            persist(conn, self.owner, transitions, attempts, done_at)
        stats.phases["persist"] = time.perf_counter() - t_sent
        for t in transitions:
            stats.by_status[t.status] += 1
        stats.seconds = time.perf_counter() - started
        return stats

    def drain(self, channels: Sequence[str] = CHANNELS, timeout: float | None = None) -> DispatchStats:
        """Dispatch until nothing is due on `channels` (or `timeout` seconds pass)."""
        total = DispatchStats()
        deadline = None if timeout is None else time.monotonic() + timeout
        pending = list(channels)
        while pending and (deadline is None or time.monotonic() < deadline):
            for channel in list(pending):
                stats = self.run_once(channel)
                total.add(stats)
                if stats.claimed == 0 or stats.claimed == stats.by_status.get("held", 0):
                    pending.remove(channel)
        return total


def _send_chunk(provider: Provider, messages: list[Outgoing]) -> list[SendResult]:
    t0 = time.perf_counter()
    try:
        results = provider.send_batch(messages)
    except Exception as exc:  # noqa: BLE001 - a provider bug must not lose the batch: retry it
        log.exception("provider %s raised", provider.name)
        return [SendResult(m.id, RETRYABLE, detail=f"provider error: {type(exc).__name__}") for m in messages]
    ms = (time.perf_counter() - t0) * 1000
    return [SendResult(r.message_id, r.outcome, r.provider_message_id, r.detail, r.http_status, r.latency_ms or ms) for r in results]
